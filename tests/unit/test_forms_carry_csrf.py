"""Every form that posts carries the session's CSRF token.

Without the token the app refuses the post (400, "This form has expired"), so a template that
loses it breaks that form for every user. The functional tests post with a token they ask
Flask-WTF for (`conftest.csrf_token`), not one read from the page, so they would not notice:
this reads the templates themselves.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

TEMPLATES = ROOT / "templates"
FORM = re.compile(r"<form\b(?P<tag>[^>]*)>(?P<body>.*?)</form>", re.IGNORECASE | re.DOTALL)
POSTS = re.compile(r"""method\s*=\s*["']post["']""", re.IGNORECASE)


def posting_forms() -> list[tuple[str, int, str]]:
    """(template, line, the form's text) of every form whose method is POST."""
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for form in FORM.finditer(text):
            if POSTS.search(form.group("tag")):
                line = text.count("\n", 0, form.start()) + 1
                found.append((str(path.relative_to(TEMPLATES)), line, form.group("body")))
    return found


def test_the_templates_hold_the_forms_this_reads():
    """A change to how forms are written (say, a macro that opens them) would leave nothing to
    check here: fail instead."""
    assert len(FORMS) >= 40


FORMS = posting_forms()


@pytest.mark.parametrize("template, line, body", FORMS, ids=[f"{t}:{n}" for t, n, _ in FORMS])
def test_every_posting_form_carries_the_csrf_token(template, line, body):
    assert "csrf_token" in body, f"the form at {template}:{line} posts without the CSRF token"
