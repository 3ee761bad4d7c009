"""Checklist words in the practitioner's language (DESIGN §11): the default register is
translated in full, a translation is keyed by the exact English it translates (so changed
words lose it rather than keep a wrong one), and what lacks one is reported."""

from __future__ import annotations

import dataclasses

import pytest

from safety.risks import rules, translations

REGISTER = rules.load_register()
DEFAULT = rules.template_from_definition(rules.build_definition(REGISTER, REGISTER.kinds))


def register_words(register: rules.Register = REGISTER) -> set[str]:
    words = {register.title}
    for phase in register.phases:
        words |= {phase["title"], phase["hint"]}
    for item in register.items:
        words |= {item["text"], item.get("why", "")}
        words |= {o["display"] for o in item.get("options", ())}
        if "stop" in item:
            words.add(item["stop"]["message"])
    for check in register.count_checks:
        words |= set(check["words"])  # "8 used / 7 removed"
    words |= {kind["title"] for kind in register.kinds.values()}
    followup = register.followup
    for check in followup.get("checks", ()):
        words |= {check["when"], check["why"]} | ({check["kind"]} - {"24h", "48h", "72h", "7d"})
    for row in followup.get("escalations", ()):
        words |= {row["when"], row["why"]}
    for row in followup.get("thresholds", ()):
        words |= {row["why"]} | ({row["unit"]} - {"0-10"})
    words |= {study["counted"] for study in register.baselines}
    return words - {""}


SPELT_ALIKE = {"minutes"}
SHIPPED = set().union(*(register_words(rules.load_register(v)) for v in rules.REGISTER_FILES))


def test_the_default_register_lacks_no_translation_in_either_language():
    assert translations.untranslated(DEFAULT) == []


@pytest.mark.parametrize("language", translations.TRANSLATED)
def test_every_word_of_the_register_is_translated_and_no_stale_translation_is_kept(language):
    catalogue = translations.catalogue()[language]
    plain = {key for key in catalogue if "|" not in key}
    authored = {REGISTER.source(s).citation for s in ("needlesafe-policy", "needlesafe-guidance")}
    assert plain == SHIPPED | authored
    for key, said in catalogue.items():
        # A word may be spelt alike in both ("minutes" in French), never left untranslated.
        assert said.strip() and (said != key.split("|")[-1] or key in SPELT_ALIKE), key
    # Item-specific overrides name a real item and a word it really uses.
    for key in catalogue:
        if "|" in key:
            link_id, english = key.split("|", 1)
            item = DEFAULT.items_by_id[link_id]
            assert english in {o.display for o in item.options} | {item.text, item.why}, key


def test_a_record_kept_on_the_first_register_reads_in_the_practitioners_language():
    first = rules.load_register(1)
    v1 = rules.template_from_definition(rules.build_definition(first, first.kinds))
    assert translations.untranslated(v1) == []
    assert translations.item_text(v1.items_by_id["signout.reaction"], "es") == "Reacción inmediata."


def test_an_item_is_shown_in_the_practitioners_language_and_its_codes_do_not_change():
    item = DEFAULT.items_by_id["signout.bruising"]
    assert translations.item_text(item, "fr_CA") == "Ecchymoses aux points de puncture."
    assert translations.item_text(item, "es") == "Hematomas en las zonas de punción."
    assert translations.item_text(item, "en") == item.text
    none = item.option("none")
    assert translations.option_text(item, none, "fr_CA") == "Aucune"  # une ecchymose
    bleeding = DEFAULT.items_by_id["signout.bleeding"]
    assert translations.option_text(bleeding, bleeding.option("none"), "fr_CA") == "Aucun"
    assert [o.code for o in item.options] == ["none", "small", "large"]


def test_changed_words_lose_their_translation_and_are_reported_never_mistranslated():
    item = DEFAULT.items_by_id["timeout.hand_hygiene"]
    edited = dataclasses.replace(item, text="Hands rubbed with alcohol gel before needling.")
    phases = tuple(
        dataclasses.replace(p, items=tuple(edited if i is item else i for i in p.items))
        for p in DEFAULT.phases
    )
    template = dataclasses.replace(DEFAULT, phases=phases)

    assert translations.item_text(edited, "fr_CA") == edited.text
    assert [(m.language, m.link_id, m.parts) for m in translations.untranslated(template)] == [
        ("fr_CA", "timeout.hand_hygiene", ("text",)),
        ("es", "timeout.hand_hygiene", ("text",)),
    ]


def test_the_stop_message_and_the_phases_are_translated():
    consent = DEFAULT.items_by_id["signin.consent"]
    assert translations.stop_message(consent, "es").startswith(
        "No se aplican agujas sin consentimiento informado."
    )
    assert [translations.phase_title(p, "fr_CA") for p in DEFAULT.phases] == [
        "Accueil",
        "Pause de vérification",
        "Départ",
    ]


def test_published_works_are_cited_as_published():
    who = REGISTER.source("who-ssc")
    assert translations.source_citation(who, "fr_CA") == who.citation
    ours = REGISTER.source("needlesafe-policy")
    assert translations.source_citation(ours, "es").startswith("Decisión de diseño clínico")
