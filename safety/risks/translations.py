"""Checklist words in the practitioner's language, keyed by the English they translate.

A template version's items are stored once, in the words their author wrote (English for the
default register); what is answered and signed is the item's linkId and its option codes, so
CSV, FHIR and verify read the same whatever the language (DESIGN §11). The translations of
the default register ship in register_translations.json, keyed by the exact English text, the
way gettext keys a msgid: an item whose English changes (an edited or imported template) has
no translation until one is written for the new words, and is shown in English meanwhile,
never with a translation of something it no longer says. A key "linkId|text" overrides the
text's own translation for one item (French and Spanish agree "None" with its noun).

Published works are cited as published: a source's citation is translated only where
NeedleSafe wrote it itself (its design choices, the clinic's guidance).

Pure: no Flask or SQLAlchemy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from safety.risks.rules import Item, Option, Phase, Source, Template

#: The languages checklist words are translated into (English is the source).
TRANSLATED = ("fr_CA", "es")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Return language -> {English: translation} for the shipped register."""
    text = resources.files("safety.risks").joinpath("register_translations.json").read_text()
    return json.loads(text)


def translate(english: str, language: str, *, link_id: str | None = None) -> str | None:
    """Return the translation of a checklist text, or None where there is none."""
    if not english:
        return None
    words = catalogue().get(language)
    if words is None:
        return None
    if link_id is not None and (own := words.get(f"{link_id}|{english}")):
        return own
    return words.get(english)


def said(english: str, language: str, *, link_id: str | None = None) -> str:
    """Return a checklist text in `language`, or the template's own words without one."""
    return translate(english, language, link_id=link_id) or english


def item_text(item: Item, language: str) -> str:
    return said(item.text, language, link_id=item.link_id)


def item_why(item: Item, language: str) -> str:
    return said(item.why, language, link_id=item.link_id)


def option_text(item: Item, option: Option, language: str) -> str:
    return said(option.display, language, link_id=item.link_id)


def stop_message(item: Item, language: str) -> str:
    return said(item.stop.message, language, link_id=item.link_id) if item.stop else ""


def phase_title(phase: Phase, language: str) -> str:
    return said(phase.title, language)


def phase_hint(phase: Phase, language: str) -> str:
    return said(phase.hint, language)


def source_citation(source: Source, language: str) -> str:
    return said(source.citation, language)


@dataclass(frozen=True)
class Untranslated:
    """An item with words that have no translation in a language."""

    language: str
    link_id: str
    #: What lacks one: "text", "why", "option <code>", "stop message".
    parts: tuple[str, ...]


def untranslated(template: Template) -> list[Untranslated]:
    """Return every item of a template with words that have no translation, by language.

    The practitioner would read these in the template's own words: an administrator
    importing or publishing a template is told which, so none is a surprise at the couch.
    """
    found = []
    for language in TRANSLATED:
        for item in template.items:
            parts = []
            if translate(item.text, language, link_id=item.link_id) is None:
                parts.append("text")
            if item.why and translate(item.why, language, link_id=item.link_id) is None:
                parts.append("why")
            for option in item.options:
                if translate(option.display, language, link_id=item.link_id) is None:
                    parts.append(f"option {option.code}")
            if item.stop and translate(item.stop.message, language, link_id=item.link_id) is None:
                parts.append("stop message")
            if parts:
                found.append(Untranslated(language, item.link_id, tuple(parts)))
    return found
