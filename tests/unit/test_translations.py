"""The staff interface's catalogues (DESIGN §11): every message the code and the templates
mark for translation is translated in each language, with its placeholders kept, and the
compiled catalogues the app reads are the ones built from the .po files (they are committed,
so a clean clone needs no compile step)."""

from __future__ import annotations

import functools
import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages import frontend
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "safety" / "translations"
LANGUAGES = ("fr_CA", "es")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "N_": None}


@functools.cache
def marked() -> set[str]:
    """Every message marked in the code and templates, as `make translations-extract` reads.

    Read when a test first asks, not on import: every pytest-xdist worker imports this module
    to collect it, and reading the whole tree is about a third of that collection's time."""
    with open(ROOT / "safety" / "babel.cfg") as cfg:
        method_map, options_map = frontend.parse_mapping_cfg(cfg)
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sd]|\{\w+\}", text))


def test_the_code_and_templates_mark_the_staff_interface_for_translation():
    # A few from each place the staff read: sign-in, errors, flashes, services' refusals.
    assert {
        "Log in",
        "Not found",
        "Your language is saved.",
        "Enter the patient's first name.",
        "Report a needlestick or sharps injury",
    } <= marked()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_message_is_translated_with_its_placeholders(language):
    # A plural message is keyed by its singular, as extraction gives it.
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue(language)}
    missing = sorted(marked() - set(translated))
    assert missing == [], f"run `make translations-update` and translate: {missing[:10]}"
    for message_id in marked():
        message = translated[message_id]
        forms = [message.string] if isinstance(message.string, str) else message.string
        assert all(form.strip() for form in forms), f"untranslated: {message_id!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {message_id!r}"
        for form in forms:
            assert placeholders(form) == placeholders(message_id), message_id


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_compiled_catalogue_matches_its_po_file(language):
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(language))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as mo:
        committed = gettext.GNUTranslations(mo)
    assert committed._catalog == fresh._catalog, "run `make translations-compile`"


def test_a_clinic_leads_step_alert_is_written_in_the_leads_language():
    from safety.i18n import translator
    from safety.incidents import rules as incident_rules

    steps = [incident_rules.STEPS_BY_ID["wash"], incident_rules.STEPS_BY_ID["pep_assessment"]]
    french = incident_rules.step_alert(
        steps=steps, clinic="Lakeshore", link="https://x.test/incidents/1", say=translator("fr_CA")
    )
    assert french.subject == (
        "NeedleSafe : étapes urgentes après une blessure par piqûre à Lakeshore"
    )
    assert "  - Plaie laissée saigner doucement sous l'eau courante" in french.text
    assert "(à faire dans les 30 minutes)" in french.text
    assert "(à faire dans les 2 heures)" in french.text
    assert french.text.endswith("https://x.test/incidents/1\n")
    english = incident_rules.step_alert(steps=steps, clinic="Lakeshore", link="https://x.test/")
    assert "  - Wound encouraged to bleed gently under running water" in english.text
    assert "(due within 2 hours)" in english.text
