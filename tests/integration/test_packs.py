"""Needle packs against a real database: "same pack as last session" offers the clinic's own
recent packs still in date, and nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from conftest import CLEAN_PHASES

from safety.checklists import services as checklists
from safety.extensions import db
from safety.packs import services as packs

DAY = date(2026, 6, 15)


@pytest.fixture
def harbour(make_clinic, make_user, make_patient):
    clinic = make_clinic("Harbour Physio")
    ada = make_user("practitioner", clinic=clinic)
    colin = make_user("practitioner", clinic=clinic)
    return ada, colin, make_patient(ada)


def time_out(practitioner, patient, day: date, lot: str, expiry: str, **more):
    start = datetime.combine(day, time(10), UTC)
    session = checklists.start_session(practitioner, patient_id=patient.id, now=start)
    checklists.submit_phase(practitioner, session.id, "signin", CLEAN_PHASES["signin"], now=start)
    form = {
        **CLEAN_PHASES["timeout"],
        "timeout.needle_lot": [lot],
        "timeout.needle_expiry": [expiry],
        **{k: [v] for k, v in more.items()},
    }
    checklists.submit_phase(practitioner, session.id, "timeout", form, now=start)
    db.session.commit()


def test_same_pack_as_last_session_offers_the_clinics_recent_in_date_packs_newest_first(
    harbour, make_clinic, make_user, make_patient
):
    ada, colin, patient = harbour
    time_out(colin, patient, date(2026, 6, 14), "hw-2611a", "2027-01-31")
    time_out(ada, patient, date(2026, 6, 12), "HW-2611A", "2027-01-31")  # same pack, older
    time_out(
        ada,
        patient,
        date(2026, 6, 13),
        "SJ-1",
        "2026-06-15",
        **{"timeout.pack2.lot": "SJ-2", "timeout.pack2.expiry": "2026-07-01"},
    )
    time_out(ada, patient, date(2026, 5, 20), "OLD-WEEKS", "2027-01-31")  # beyond 14 days
    time_out(ada, patient, date(2026, 6, 10), "EXPIRED", "2026-06-14")  # out of date today
    lakeside = make_clinic("Lakeside")
    olga = make_user("practitioner", clinic=lakeside)
    time_out(olga, make_patient(olga), date(2026, 6, 14), "THEIRS", "2027-01-31")

    offered = packs.recent_packs(ada, session_date=DAY)

    assert [(p.lot.upper(), p.expiry.isoformat()) for p in offered] == [
        ("HW-2611A", "2027-01-31"),
        ("SJ-1", "2026-06-15"),  # in date on the day it expires
        ("SJ-2", "2026-07-01"),
    ]
    assert offered[0].last_used == date(2026, 6, 14)


def test_a_lot_recorded_with_two_expiries_is_offered_with_both_and_a_word_to_check_the_pack(
    harbour,
):
    """One session misread the date: offering both without a word let the next practitioner
    pick either."""
    ada, colin, patient = harbour
    time_out(colin, patient, date(2026, 6, 14), "HW2611A", "2028-01-08")
    time_out(ada, patient, date(2026, 6, 13), "HW2611A", "2028-01-06")
    time_out(ada, patient, date(2026, 6, 12), "SJ-1", "2027-01-31")

    offered = {(p.lot, p.expiry.isoformat()): p for p in packs.recent_packs(ada, session_date=DAY)}

    assert offered["HW2611A", "2028-01-08"].is_expiry_disputed
    assert offered["HW2611A", "2028-01-06"].is_expiry_disputed
    assert not offered["SJ-1", "2027-01-31"].is_expiry_disputed


def test_a_lot_whose_true_expiry_has_passed_is_offered_with_the_misread_one_and_a_warning(
    harbour,
):
    """Recorded on the 5th as expiring on the 10th (right), misread on the 6th as 2028: on the
    15th only the misread row is in date, and it once came with no word at all."""
    ada, colin, patient = harbour
    time_out(colin, patient, date(2026, 6, 5), "HW2611A", "2026-06-10")
    time_out(ada, patient, date(2026, 6, 6), "HW2611A", "2028-01-08")

    [offered] = packs.recent_packs(ada, session_date=date(2026, 6, 15))

    assert (offered.lot, offered.expiry.isoformat()) == ("HW2611A", "2028-01-08")
    assert offered.is_expiry_disputed


def test_only_practitioners_are_offered_recent_packs(harbour, make_user):
    ada, _colin, patient = harbour
    time_out(ada, patient, date(2026, 6, 14), "HW-1", "2027-01-31")

    assert packs.recent_packs(make_user("compliance"), session_date=DAY) == []
