"""Every text a patient reads exists in every language, with the same placeholders, codes and
safety facts as the English one (DESIGN §11): a translation can change the words, never what a
patient is told to do, the 10 minutes of pressure, or which number they call."""

from __future__ import annotations

import re
import string
from datetime import date
from types import ModuleType

import pytest

from safety import languages
from safety.clinics import rules as clinic_rules
from safety.followup import rules, texts, texts_es, texts_fr_ca

MODULES: dict[str, ModuleType] = {"fr_CA": texts_fr_ca, "es": texts_es}
TRANSLATED = [texts.for_language(code) for code in MODULES]
ENGLISH = texts.ENGLISH


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def every_text(said: texts.PatientTexts) -> dict[str, str]:
    """Each patient text of a language by a key naming where it is used."""
    found = {}
    for name, question in said.questions.items():
        found[f"question {name}"] = question.text
        found[f"hint {name}"] = question.hint
        found[f"missing {name}"] = question.missing
        for code, label in question.options:
            found[f"option {name}.{code}"] = label
    found.update({f"intro {k}": v for k, v in said.form_intros.items()})
    found.update({f"advice {k}": v.text for k, v in said.advice.items()})
    found.update({f"title {k}": v for k, v in said.advice_titles.items()})
    found.update({f"page {k}": v for k, v in said.pages.items()})
    found.update({f"urgent line {k or 'default'}": v for k, v in said.urgent_lines.items()})
    return found


def test_every_language_a_patient_can_have_has_its_texts():
    assert set(texts.BY_LANGUAGE) == set(languages.LANGUAGES)


@pytest.mark.parametrize("code", MODULES)
def test_each_translation_module_has_exactly_the_english_keys(code):
    module = MODULES[code]
    assert set(module.QUESTIONS) == set(texts.QUESTIONS)
    for name, question in texts.QUESTIONS.items():
        said = module.QUESTIONS[name]
        assert set(said.get("options", {})) == {c for c, _ in question.options}, name
        assert bool(said.get("hint")) == bool(question.hint), name
        assert bool(said.get("missing")) == bool(question.missing), name
    assert set(module.ADVICE) == set(texts.ADVICE)
    assert set(module.ADVICE_TITLES) == set(texts.ADVICE_TITLES)
    assert set(module.FORM_INTROS) == set(texts.FORM_INTROS)
    assert set(module.PAGES) == set(texts.PAGES)
    assert set(module.URGENT_LINES) == set(texts.URGENT_LINES)


@pytest.mark.parametrize("said", TRANSLATED, ids=lambda s: s.language)
def test_every_text_is_translated_and_keeps_the_english_placeholders(said):
    english = every_text(ENGLISH)
    translated = every_text(said)
    assert set(translated) == set(english)
    for key, text in english.items():
        assert placeholders(translated[key]) == placeholders(text), key
        assert bool(translated[key]) == bool(text), key
        if len(text) > 12 and not text.startswith(("NHS", "healthdirect", "Healthline")):
            assert translated[key] != text, f"{key} is still in English"


@pytest.mark.parametrize("said", TRANSLATED, ids=lambda s: s.language)
def test_the_codes_staff_wording_and_sources_stay_the_english_ones(said):
    for name, question in said.questions.items():
        english = ENGLISH.questions[name]
        assert [c for c, _ in question.options] == [c for c, _ in english.options]
        assert (question.staff, question.kind) == (english.staff, english.kind)
    for key, advice in said.advice.items():
        assert advice.sources == ENGLISH.advice[key].sources


@pytest.mark.parametrize("said", TRANSLATED, ids=lambda s: s.language)
def test_no_translation_writes_an_emergency_number_the_clinics_country_must_decide(said):
    numbers = {number for _, number in clinic_rules.COUNTRIES.values()}
    for key, text in every_text(said).items():
        if key.startswith("urgent line"):
            continue  # the health lines' own numbers (811, 111), as in English
        written = set(re.findall(r"\b\d{3}\b", text))
        assert not written & numbers, key


#: The facts each safety text must carry in every language, beside its placeholders.
SAFETY_FACTS = {
    "urgent_bleeding": ["10"],
    "press_first": [],
    "tell_them_bleeding": ["10"],
    "red_flags": ["10"],
    "soreness_usual": ["72"],
    "bruise": ["10", "20"],
}


@pytest.mark.parametrize("said", TRANSLATED, ids=lambda s: s.language)
def test_the_safety_texts_keep_their_numbers_and_their_call_to_the_emergency_number(said):
    for key, facts in SAFETY_FACTS.items():
        text = said.pages[key] if key in said.pages else said.advice[key].text
        for fact in facts:
            assert re.search(rf"\b{fact}\b", text), (said.language, key, fact)
    for key in ("call_emergency", "red_flags", "clinic_alerted", "red_flags_neck", "wrote_head"):
        assert "{emergency_number}" in said.advice[key].text
    assert "{emergency_number}" in said.advice_titles["emergency"]
    bleeding = dict(said.questions["bleeding"].options)["wont_stop"]
    assert "10" in bleeding


@pytest.mark.parametrize(
    ("code", "opening", "when"),
    [
        ("en", "Hello Chloé, a gentle reminder from Lakeshore.", "6 December 2026"),
        ("fr_CA", "Bonjour Chloé, petit rappel de Lakeshore.", "6 décembre 2026"),
        ("es", "Hola, Chloé. Un breve recordatorio de Lakeshore.", "6 de diciembre de 2026"),
    ],
)
def test_the_reminder_is_written_in_the_patients_language_with_both_links(code, opening, when):
    message = rules.patient_message(
        first_name="Chloé",
        clinic="Lakeshore",
        appointment=date(2026, 12, 6),
        link="https://x.test/f/TOKEN",
        stop_link="https://x.test/f/TOKEN/stop",
        is_reminder=True,
        said=texts.for_language(code),
    )
    assert message.text.startswith(opening)
    assert when in message.text
    assert "https://x.test/f/TOKEN\n" in message.text
    assert message.text.endswith(" https://x.test/f/TOKEN/stop\n")
    assert "Lakeshore" in message.subject


def test_missing_answers_are_said_in_the_pages_language():
    read = rules.read_form({}, ("soreness", "bruising"), texts.for_language("fr_CA"))
    assert read.errors == {
        "soreness": "Choisissez un chiffre de 0 (aucune douleur) à 10 (la pire).",
        "bruising": "Dites-nous si vous avez un bleu.",
    }


@pytest.mark.parametrize(
    ("language", "country", "number"),
    [("fr_CA", "CA", "811"), ("es", "AU", "1800 022 222"), ("en", "NZ", "0800 611 116")],
)
def test_the_urgent_lines_number_is_a_link_to_tap_in_every_language(language, country, number):
    from safety.display import patient_text

    said = texts.for_language(language)
    shown = patient_text(
        said.advice["if_nobody_calls"].text,
        {"urgent_line": said.urgent_line(country), "urgent_number": said.urgent_number(country)},
        said,
    )

    dial = number.replace(" ", "")
    assert f'<a class="tel" href="tel:{dial}">{number}</a>' in shown
