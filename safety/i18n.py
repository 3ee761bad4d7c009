"""Flask-Babel wiring: which language a request is answered in, and where the catalogues are.

The choice, most specific first (DESIGN §11):

1. a patient's page: the language a route set for it (the patient's own, or the one they
   switched to with `?lang=`), never the browser's;
2. a signed-in member of staff: their profile's language;
3. anyone else (the sign-in page): the browser's Accept-Language.

Compiled catalogues (.mo) are committed beside their .po files, so a clean clone runs and
tests without a compile step; `make translations-compile` rebuilds them and a test holds them
in step with the .po files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, cached_property
from pathlib import Path

from babel.support import Translations
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, Domain, refresh
from flask_login import current_user

from safety import languages

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


class _Domain(Domain):
    """Flask-Babel's message domain, keeping each language's catalogue for the request.

    Flask-Babel finds the catalogue again for every word it translates, through several
    context lookups (about 10 µs each time, and a list page translates 120 to 170 words);
    here the request keeps it, per language, so a language chosen later in the request (a
    patient's page, a saved profile) still gets its own."""

    def get_translations(self) -> Translations:
        if not has_request_context():
            return super().get_translations()
        here = g._get_current_object()  # one lookup through the proxy, not one per use
        language = _language(here)
        kept = here.setdefault(_CATALOGUES, {})
        found = kept.get(language)
        if found is None:
            found = kept[language] = super().get_translations()
        return found


class _Babel(Babel):
    """Flask-Babel with `_Domain` as its default domain (`gettext` and the templates' `_`)."""

    @cached_property
    def domain_instance(self) -> Domain:
        return _Domain(domain=self.domain)


#: Where a request keeps the catalogues `_Domain` found, by language.
_CATALOGUES = "_catalogues"

babel = _Babel()


def use_language(code: str | None) -> None:
    """Answer this request in `code` (a patient's page sets the patient's language; an
    invitation link, the invitee's)."""
    if languages.is_language(code):
        g.language = code
        forget_language()


def forget_language() -> None:
    """Forget the language looked up earlier in the request (it changed: a patient's page, a
    saved profile), here and in Flask-Babel's catalogue cache."""
    g.pop(_READER_LANGUAGE, None)
    refresh()


def requested_language() -> str | None:
    """Return the language asked for with `?lang=` on a patient's page, if it is one we have."""
    code = request.args.get("lang")
    return code if languages.is_language(code) else None


def select_locale() -> str:
    """Return the language of the current request (see the module docstring)."""
    if not has_request_context():
        return languages.DEFAULT
    return _language(g._get_current_object())


def _language(here) -> str:
    """The request's language, from the request's `g` (see `select_locale`)."""
    chosen = here.get("language")
    if chosen:
        return chosen
    # Asked for by every translated word and every date on the page (hundreds of times on the
    # records list): looked up once per request, until `forget_language`.
    found = here.get(_READER_LANGUAGE)
    if found is None:
        if current_user and current_user.is_authenticated:
            found = current_user.language
        else:
            found = languages.best_match(request.accept_languages)
        here.setdefault(_READER_LANGUAGE, found)
    return found


#: Where a request keeps the language `select_locale` looked up for its reader.
_READER_LANGUAGE = "_reader_language"


def current_language() -> str:
    """Return the language the current request is answered in (a code of LANGUAGES)."""
    return select_locale()


def configure(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", languages.DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        current_language=current_language,
        html_lang=lambda: languages.html_lang(current_language()),
        LANGUAGES=languages.LANGUAGES,
    )


@cache
def translator(language: str | None) -> Callable[[str], str]:
    """Return the gettext of a language's catalogue, for words composed away from a request
    (the worker's alerts to a practitioner, in the practitioner's language)."""
    if not languages.is_language(language) or language == languages.DEFAULT:
        return str
    return Translations.load(str(TRANSLATIONS), [language]).gettext
