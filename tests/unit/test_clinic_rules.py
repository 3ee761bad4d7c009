"""Clinic rules read without an app: a patient's optional date of birth, and the zone of pages
that belong to no one clinic."""

from __future__ import annotations

from datetime import date

import pytest

from safety.clinics import rules

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        (None, None),
        ("  ", None),
        ("1980-03-14", date(1980, 3, 14)),
        ("2026-12-06", TODAY),
    ],
)
def test_a_date_of_birth_is_optional_and_read_as_a_date_input_sends_it(text, expected):
    assert rules.birth_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["2026-12-07", "1899-12-31", "14/03/1980", "1980-02-30", "1980"])
def test_a_date_of_birth_in_the_future_before_1900_or_not_a_date_is_refused(text):
    with pytest.raises(ValueError, match="past date"):
        rules.birth_date(text, TODAY)


# --- the zone of pages that belong to no one clinic -----------------------------------------


def test_a_reader_with_a_clinic_reads_times_in_its_zone():
    assert rules.reading_zone("Europe/London", ["America/Toronto"]) == "Europe/London"


def test_a_reader_without_a_clinic_reads_the_zone_every_clinic_shares():
    zones = ["America/Toronto", "America/Toronto"]
    assert rules.reading_zone(None, zones) == "America/Toronto"


def test_clinics_in_several_zones_or_none_leave_a_reader_without_a_clinic_in_utc():
    assert rules.reading_zone(None, ["America/Toronto", "Europe/London"]) == "UTC"
    assert rules.reading_zone(None, []) == "UTC"


@pytest.mark.parametrize(
    ("parts", "key"),
    [
        (("Lucía", "Fernández"), "lucia fernandez"),
        (("Chloé", "  Gagnon "), "chloe gagnon"),
        (("JOÃO", "O'Brien"), "joao o'brien"),
        (("Nuñez",), "nunez"),
        (("ＡＮＮ",), "ann"),  # full-width, as some phone keyboards type
    ],
)
def test_a_search_key_drops_accents_case_and_extra_spaces(parts, key):
    assert rules.search_key(*parts) == key
