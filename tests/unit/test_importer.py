import contextlib
import json
import time
from pathlib import Path

import pytest

from safety.risks import importer
from safety.risks.importer import (
    NoRiskSectionError,
    Statement,
    find_risk_section,
    match_kinds,
    parse_risk_section,
    split_statements,
)


def load_kinds() -> dict[str, list[str]]:
    data = json.loads((Path(__file__).parents[2] / "safety/risks/register.json").read_text())
    return {kind: entry["synonyms"] for kind, entry in data["kinds"].items()}


KINDS = load_kinds()
GUIDANCE_KINDS = ("bloodborne_infection", "bleeding", "bruising", "soreness")

LEAFLET = """\
# Dry needling at Harbour Physio

Dry needling uses fine, sterile needles to release tight muscle.

## Benefits

- Pain relief for tight muscles within a few sessions
- Less medication, which can reduce bleeding risk from painkillers
- Faster return to sport

There are few risks if you follow advice.

## Risks and side effects

Like any treatment, dry needling has some risks:

- Blood-borne infection if needles are not sterile, are reused or not sterilised.
- Bleeding at the needle sites.
- **Bruising** around the needle sites.
- Temporary soreness after treatment, usually gone within 72 hours.

## Aftercare

Keep moving gently and drink water. A little bruising is normal.

Contact us: 01234 567890
"""


@pytest.fixture
def leaflet_result():
    return parse_risk_section(LEAFLET, KINDS)


def test_a_markdown_leaflet_yields_the_four_guidance_risks(leaflet_result):
    assert leaflet_result.heading == "Risks and side effects"
    assert leaflet_result.matched_kinds == GUIDANCE_KINDS
    assert [s.kinds for s in leaflet_result.statements] == [(kind,) for kind in GUIDANCE_KINDS]


def test_benefits_and_aftercare_text_produce_no_statements(leaflet_result):
    texts = " ".join(s.text for s in leaflet_result.statements)
    for outside in ("Pain relief", "painkillers", "few risks", "drink water", "Contact"):
        assert outside not in texts


def test_statements_keep_their_wording_without_bullet_or_markup(leaflet_result):
    assert leaflet_result.statements[2] == Statement(
        "Bruising around the needle sites.", ("bruising",)
    )
    assert leaflet_result.unmatched == ()


def test_a_plain_text_side_effects_heading_with_unspaced_bullets_is_read():
    text = (
        "Welcome to the clinic.\n"
        "Side effects:\n"
        "•Bruising around the sites\n"
        "•Bleeding at the sites\n"
        "•Temporary drowsiness\n"
        "\n"
        "Aftercare\n"
        "Rest for the day and avoid heavy bruising exercise.\n"
    )
    result = parse_risk_section(text, KINDS)
    assert result.heading == "Side effects"
    assert [s.text for s in result.statements] == [
        "Bruising around the sites",
        "Bleeding at the sites",
        "Temporary drowsiness",
    ]
    assert result.matched_kinds == ("bleeding", "bruising")
    assert result.unmatched == ("Temporary drowsiness",)


@pytest.mark.parametrize(
    "bullets",
    [
        "1. Bleeding\n2. Bruising",
        "1) Bleeding\n2) Bruising",
        "(1) Bleeding\n(2) Bruising",
        "1.Bleeding\n2)Bruising",
        "-bleeding\n*bruising",
        "· Bleeding\n▪ Bruising",
        "– Bleeding\n— Bruising",
    ],
)
def test_numbered_and_other_bullets_become_statements(bullets):
    result = parse_risk_section(f"Risks\n\n{bullets}\n", KINDS)
    assert [s.kinds for s in result.statements] == [("bleeding",), ("bruising",)]


def test_bullets_without_a_space_after_the_marker_become_statements():
    assert split_statements(["•Bruising", "-bleeding", "*soreness"]) == [
        "Bruising",
        "bleeding",
        "soreness",
    ]


def test_a_bullet_continued_on_the_next_lines_is_one_statement():
    lines = ["- Bleeding at the", "  needle sites", "- Bruising around", "the sites"]
    assert split_statements(lines) == ["Bleeding at the needle sites", "Bruising around the sites"]


@pytest.mark.parametrize(
    ("text", "heading"),
    [
        ("Risks\n=====\n\nBleeding.\n", "Risks"),
        ("Complications\n-------------\n\nBleeding.\n", "Complications"),
        ("COMPLICATIONS\n\nBleeding.\n", "COMPLICATIONS"),
        ("### Side-effects\nBleeding.\n", "Side-effects"),
        ("**Risks:**\nBleeding.\n", "Risks"),
        ("Adverse events\n\nBleeding.\n", "Adverse events"),
        ("What could go wrong?\n\nBleeding.\n", "What could go wrong?"),
    ],
)
def test_the_risk_heading_may_be_setext_atx_bold_or_a_plain_line(text, heading):
    found, lines = find_risk_section(text)
    assert found == heading
    assert split_statements(lines) == ["Bleeding."]


def test_a_setext_section_ends_at_the_next_setext_heading():
    text = "Risks\n=====\n\n- Bleeding\n\nAftercare\n=========\n\n- Ice any bruising\n"
    result = parse_risk_section(text, KINDS)
    assert result.heading == "Risks"
    assert result.matched_kinds == ("bleeding",)


def test_paragraphs_split_into_sentences_without_breaking_abbreviations_or_decimals():
    text = (
        "Risks\n\n"
        "Bruising happens in 7.5 % of sessions. It fades within days!\n"
        "Rarely, an infection, e.g. from a reused needle, may follow. Why? Skin was not clean.\n"
    )
    result = parse_risk_section(text, KINDS)
    assert [s.text for s in result.statements] == [
        "Bruising happens in 7.5 % of sessions.",
        "It fades within days!",
        "Rarely, an infection, e.g. from a reused needle, may follow.",
        "Why?",
        "Skin was not clean.",
    ]
    assert result.matched_kinds == ("bloodborne_infection", "bruising")


def test_a_bullet_with_several_sentences_gives_several_statements():
    assert split_statements(["- Bleeding may occur. Press on the site.", "- ...", "-"]) == [
        "Bleeding may occur.",
        "Press on the site.",
    ]


def test_a_lead_in_before_bullets_is_dropped_but_a_closing_sentence_is_kept():
    lines = ["Possible risks include:", "", "- Bleeding", "Rarely:", "- Fainting", "", "Tell us."]
    assert split_statements(lines) == ["Bleeding", "Fainting", "Tell us."]


def test_a_lead_in_before_lines_without_bullet_marks_is_dropped_and_each_line_is_a_risk():
    text = (
        "## Risks and side effects\n"
        "Dry needling is generally safe. Other risks associated with it include:\n"
        "Bleeding at the needle sites\n"
        "Bruising around them\n"
        "Temporary soreness\n"
    )
    result = parse_risk_section(text, KINDS)
    assert [s.text for s in result.statements] == [
        "Dry needling is generally safe.",
        "Bleeding at the needle sites",
        "Bruising around them",
        "Temporary soreness",
    ]
    assert not any("associated with it" in unmatched for unmatched in result.unmatched)


def test_a_lead_in_ending_in_include_without_a_colon_is_dropped_too():
    lines = ["Other risks associated with it include", "- Bleeding", "- Bruising"]
    assert split_statements(lines) == ["Bleeding", "Bruising"]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (
            "# Dry needling: what to expect\n\nText.\n\n## Risks\n- Bleeding",
            "Dry needling: what to expect",
        ),
        ("Dry needling leaflet\n\nRisks\n- Bleeding", "Dry needling leaflet"),
        ("Dry needling\n============\n\nRisks\n-----\n- Bleeding", "Dry needling"),
        ("Risks\n- Bleeding", None),
        ("A first paragraph of prose that runs on. It is no title.\n\nRisks\n- Bleeding", None),
    ],
)
def test_the_document_keeps_its_own_title(text, title):
    assert parse_risk_section(text, KINDS).title == title


def test_a_lead_in_inside_the_section_does_not_end_it():
    text = "## Risks\n\nCommon side effects include:\n- Bruising\n\nRarely:\n- Pneumothorax\n"
    assert parse_risk_section(text, KINDS).matched_kinds == ("bruising", "pneumothorax")


def test_a_plain_sub_heading_naming_a_known_risk_stays_in_the_section():
    text = "Risks\n\nBruising\n\nThis is common.\n\nAftercare\n\nRest.\n"
    result = parse_risk_section(text, KINDS)
    assert [s.text for s in result.statements] == ["Bruising", "This is common."]


def test_a_deeper_markdown_heading_does_not_end_the_section():
    text = "## Risks\n### Common\n- Bleeding\n### Rare\n- Fainting\n## Aftercare\n- Bruise cream\n"
    assert parse_risk_section(text, KINDS).matched_kinds == ("bleeding", "syncope")


@pytest.mark.parametrize(
    "text",
    [
        "# Dry needling\n\nIt relieves pain.\n\n## Benefits\n\nFaster recovery.\n",
        "There are few risks if you follow advice.\n",
        "There are few risks if you follow\nadvice from your physiotherapist\n",
        "",
    ],
)
def test_a_document_without_a_risk_section_is_refused(text):
    with pytest.raises(NoRiskSectionError) as error:
        parse_risk_section(text, KINDS)
    assert str(error.value) == (
        "No risk section found: add a heading such as 'Risks', 'Side effects' or 'Complications'."
    )


def test_a_sentence_mentioning_risks_in_the_benefits_is_not_a_heading():
    text = "Benefits\n\nThere are few risks if you follow advice.\n\nSide effects\n\n- Fainting\n"
    result = parse_risk_section(text, KINDS)
    assert result.heading == "Side effects"
    assert [s.text for s in result.statements] == ["Fainting"]


def test_a_risk_the_catalogue_does_not_know_is_listed_as_unmatched():
    text = "Risks\n- Allergic reaction to the latex gloves\n- Bleeding\n- Temporary drowsiness\n"
    result = parse_risk_section(text, KINDS)
    assert result.matched_kinds == ("bleeding",)
    assert result.unmatched == (
        "Allergic reaction to the latex gloves",
        "Temporary drowsiness",
    )


@pytest.mark.parametrize(
    ("statement", "kinds"),
    [
        ("non sterilized needles", ("bloodborne_infection",)),
        ("Blood-borne infection if needles are not sterile", ("bloodborne_infection",)),
        ("Infection", ("bloodborne_infection",)),
        ("Infections can follow reused needles", ("bloodborne_infection",)),
        ("Bleeding at the needle sites", ("bleeding",)),
        ("The sites may bleed", ("bleeding",)),
        ("bruising", ("bruising",)),
        ("a bruise", ("bruising",)),
        ("bruised skin", ("bruising",)),
        ("haematoma", ("bruising",)),
        ("Temporary soreness after treatment", ("soreness",)),
        ("muscle ache", ("soreness",)),
        ("pain after the session", ("soreness",)),
        ("pneumothorax", ("pneumothorax",)),
        ("needle entering the lung", ("pneumothorax",)),
        ("feeling faint or dizzy", ("syncope",)),
        ("Some patients fainted", ("syncope",)),
        ("Bleeding and bruising around the sites", ("bleeding", "bruising")),
        ("Temporary drowsiness", ()),
        ("Allergic reaction to the latex gloves", ()),
    ],
)
def test_statements_match_catalogue_kinds_on_word_stems(statement, kinds):
    assert match_kinds(statement, KINDS) == kinds


@pytest.mark.parametrize("written", ["blood-borne", "bloodborne", "blood borne", "Blood‑Borne"])
@pytest.mark.parametrize("synonym", ["blood borne", "bloodborne"])
def test_every_spelling_of_blood_borne_matches_either_catalogue_spelling(written, synonym):
    assert match_kinds(f"{written} virus", {"infection": [synonym]}) == ("infection",)


@pytest.mark.parametrize("written", ["sterilised", "sterilized", "sterile", "sterilisation"])
def test_forms_of_sterile_share_a_stem(written):
    assert match_kinds(f"needles not {written}", {"sterile": ["sterile"]}) == ("sterile",)


@pytest.mark.parametrize(
    "statement", ["Use every resource we have", "Pain relief", "Pain during needling"]
)
def test_words_that_only_resemble_a_synonym_do_not_match_soreness(statement):
    assert "soreness" not in match_kinds(statement, KINDS)


def test_matched_kinds_follow_catalogue_order_not_document_order():
    result = parse_risk_section("Risks\n- Fainting\n- Bruising\n- Infection\n", KINDS)
    assert result.matched_kinds == ("bloodborne_infection", "bruising", "syncope")


# --- size and time bounds --------------------------------------------------------------------


def test_a_text_longer_than_the_importer_reads_is_refused_before_any_parsing():
    text = "# Risks\n" + "- Bruising at the site.\n" * (importer.MAX_TEXT_CHARS // 20)

    with pytest.raises(importer.TextTooLongError, match="longer than 1,000,000 characters"):
        importer.parse_risk_section(text, KINDS)


@pytest.mark.parametrize(
    "text",
    [
        "# Risks " + " " * 190_000 + "x",
        "# Risks\n"
        + "\n".join("- Bruising and soreness may follow needling." for _ in range(20_000)),
        "Risks\n\n" + "\n\n".join("Bruising\nA bruise may appear." for _ in range(20_000)),
        "# Risks\n" + "e.g. " * 150_000,
    ],
    ids=["a heading with a long run of spaces", "20,000 bullets", "20,000 sub-headings", "e.g."],
)
def test_the_importer_works_in_linear_time_on_texts_near_its_limit(text):
    # A guard against a quadratic parse coming back, not a speed measurement: the bound is far
    # above the linear time (a fraction of a second) and far below what the quadratic importer
    # took (31 s for 196 KB; 7 minutes for the run of spaces). It counts this process's CPU
    # time, which a busy machine does not stretch as it stretches the wall clock.
    started = time.process_time()
    with contextlib.suppress(importer.NoRiskSectionError):
        importer.parse_risk_section(text, KINDS)
    assert time.process_time() - started < 10
