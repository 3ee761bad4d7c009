"""The checks every journey's pages go through (`Journey.check`) still catch what they are for
when they skip work: colour contrast is scanned again for a colour no page showed before."""

from __future__ import annotations

import pytest

from .conftest import PHONE

pytestmark = pytest.mark.browser


def test_a_page_checked_before_is_scanned_for_contrast_again_when_it_shows_a_new_colour(journey):
    page = journey.page(PHONE)
    page.goto("/auth/login")
    journey.check(page, "login")
    journey.check(page, "login-again")

    # The same page with its heading light grey on white, as a width's own style could make it.
    page.evaluate("document.querySelector('h1').style.color = '#bbbbbb'")
    with pytest.raises(AssertionError, match="color-contrast"):
        journey.check(page, "login-light-heading")
