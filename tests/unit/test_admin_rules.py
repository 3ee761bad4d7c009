"""Administration rules read without an app: the zone an administrator reads times in."""

from __future__ import annotations

from safety.admin import rules


def test_an_administrator_with_a_clinic_reads_times_in_its_zone():
    assert rules.reading_zone("Europe/London", ["America/Toronto"]) == "Europe/London"


def test_an_administrator_without_a_clinic_reads_the_zone_every_clinic_shares():
    zones = ["America/Toronto", "America/Toronto"]
    assert rules.reading_zone(None, zones) == "America/Toronto"


def test_clinics_in_several_zones_or_none_leave_the_administrator_in_utc():
    assert rules.reading_zone(None, ["America/Toronto", "Europe/London"]) == "UTC"
    assert rules.reading_zone(None, []) == "UTC"
