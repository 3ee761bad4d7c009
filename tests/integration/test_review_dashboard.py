"""The dashboard's figures against a real database: monthly counts, completion, overdue
checklists, open flags, follow-up response and the last verification, on the records of
review_world.py whose figures are worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from review_helpers import NOW
from sqlalchemy import select

from safety.checklists.models import Flag
from safety.dbtypes import utcnow
from safety.errors import Forbidden
from safety.extensions import db
from safety.followup.models import FollowUp
from safety.integrity.verify import verify_and_record
from safety.review import dashboard, flags

pytest_plugins = ["review_world"]


def test_monthly_counts_match_the_hand_computed_figures(cast, small_history):
    counts = {
        (c.clinic_id, c.month): c
        for c in dashboard.monthly_counts(date(2026, 1, 1), date(2026, 3, 31))
    }

    feb = counts[(cast.harbour.id, "2026-02")]
    assert (feb.started, feb.signed) == (4, 4)
    assert feb.events == {
        "bleeding": (2, 4),
        "bruising": (1, 4),
        "pain_during": (1, 4),
        "reaction": (0, 4),
    }
    march = counts[(cast.harbour.id, "2026-03")]
    assert (march.started, march.signed) == (4, 2)
    assert march.events == {
        "bleeding": (0, 2),
        "bruising": (1, 2),
        "pain_during": (0, 2),
        "reaction": (1, 2),
    }
    lakeside = counts[(cast.lakeside.id, "2026-03")]
    assert lakeside.events["bleeding"] == (1, 2)
    assert lakeside.events["pain_during"] == (1, 2)  # a score of exactly 4 counts
    assert (cast.lakeside.id, "2026-02") not in counts


def test_the_dashboard_shows_completion_overdue_flags_and_rates(cast, small_history):
    data = dashboard.dashboard(cast.officer, months=3, now=NOW)

    # Three months ending today (20 March), never in days that have not happened yet.
    assert (data.start, data.end) == (date(2026, 1, 1), date(2026, 3, 20))
    assert (data.started, data.signed, data.overdue, data.in_progress) == (10, 8, 1, 1)
    assert data.completion == pytest.approx(80.0)
    assert data.open_flags == {"critical": 0, "high": 1, "medium": 1, "low": 1}
    tables = {t.measure.key: t for t in data.tables}
    assert tables["bleeding"].overall == (pytest.approx(37.5), 3, 8)
    assert tables["bruising"].overall == (pytest.approx(25.0), 2, 8)
    assert tables["pain_during"].overall == (pytest.approx(25.0), 2, 8)
    assert tables["reaction"].overall == (pytest.approx(12.5), 1, 8)
    harbour_row = dict(tables["bleeding"].rows)["Harbour Physio"]
    assert [cell[0] for cell in harbour_row] == [None, pytest.approx(50.0), pytest.approx(0.0)]


def test_the_dashboard_can_look_at_one_clinic(cast, small_history):
    data = dashboard.dashboard(cast.officer, months=3, clinic_id=cast.lakeside.id, now=NOW)

    assert (data.started, data.signed, data.overdue) == (2, 2, 0)
    assert data.open_flags == {"critical": 0, "high": 0, "medium": 0, "low": 0}
    assert [name for name, _cells in data.tables[0].rows] == ["Lakeside Physio"]


def test_an_acknowledged_flag_no_longer_counts_as_open(cast, small_history):
    flag = db.session.scalar(select(Flag).where(Flag.severity == "high"))
    flags.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    data = dashboard.dashboard(cast.officer, months=3, now=NOW)

    assert data.open_flags["high"] == 0
    assert data.acknowledged_flags == 1


def test_the_follow_up_response_rate_counts_answered_of_those_sent(cast, small_history):
    due = NOW - timedelta(days=3)
    for status in ["answered", "answered", "answered", "sent", "scheduled", "failed"]:
        db.session.add(
            FollowUp(
                session_id=small_history["clean_mar"],
                kind="24h",
                channel="email",
                due_dt=due,
                status=status,
            )
        )
    db.session.commit()

    data = dashboard.dashboard(cast.officer, months=3, now=NOW)

    assert data.response_rate == pytest.approx(75.0)
    assert data.reached == 4
    assert data.followups["failed"] == 1


def test_the_follow_up_response_is_kept_with_the_monthly_figures_while_flags_stay_live(
    cast, small_history
):
    """The response rate is a figure of the period, counted with the monthly ones; a patient's
    worrying answer is a flag, and flags are read for every view."""

    def answered_follow_up() -> None:
        db.session.add(
            FollowUp(
                session_id=small_history["clean_mar"],
                kind="24h",
                channel="email",
                due_dt=utcnow() - timedelta(hours=1),
                status="answered",
            )
        )
        db.session.commit()

    dashboard.RECENT.clear()
    answered_follow_up()
    first = dashboard.dashboard(cast.officer, keep_seconds=60)
    answered_follow_up()
    flag = db.session.scalar(select(Flag).where(Flag.severity == "high"))
    flags.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    kept = dashboard.dashboard(cast.officer, keep_seconds=60)
    counted_again = dashboard.dashboard(cast.officer, now=utcnow())
    dashboard.RECENT.clear()

    assert first.reached == kept.reached == 1
    assert kept.figures_as_of == first.figures_as_of
    assert (first.open_flags["high"], kept.open_flags["high"]) == (1, 0)
    assert counted_again.reached == 2


def test_without_follow_ups_there_is_no_response_rate(cast, small_history):
    data = dashboard.dashboard(cast.officer, months=3, now=NOW)

    assert data.reached == 0
    assert data.response_rate is None


def test_the_dashboard_shows_the_last_verification_run(cast, small_history):
    assert dashboard.dashboard(cast.officer, now=NOW).verification is None

    verify_and_record()
    db.session.commit()

    run = dashboard.dashboard(cast.officer, now=NOW).verification
    assert run is not None and run.is_intact
    assert run.records == 8


@pytest.mark.parametrize("who", ["ada", "admin"])
def test_only_compliance_officers_see_the_dashboard(cast, who):
    with pytest.raises(Forbidden):
        dashboard.dashboard(getattr(cast, who), now=NOW)


def test_the_dashboards_incidents_are_those_of_the_periods_months_only(cast):
    """Three months to 20 March are January to March: an injury of 20 December (within the
    log's reach of 31 days a month) is not shown as a December with one incident."""
    from conftest import PASSWORD
    from factories import sharps_report

    from safety.incidents import services as incidents

    for occurred in (datetime(2025, 12, 20, 10, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC)):
        incidents.report_incident(
            cast.ada, sharps_report(occurred), session_id=None, password=PASSWORD, now=occurred
        )
    db.session.commit()

    data = dashboard.dashboard(cast.officer, months=3, now=NOW)

    assert [(c.month, c.count) for c in data.incident_counts] == [("2026-01", 1)]


def test_follow_ups_are_counted_on_their_clinics_own_days_at_both_ends_of_the_period(
    make_clinic, make_user, make_session
):
    """January to 20 March: a Toronto check due at 20:00 on 20 March is in the period, though
    UTC is already on the 21st, and one due at 20:00 on New Year's Eve is not, though UTC is
    already in January. Auckland, ahead of UTC, is the other way round at both ends."""

    def due(clinic, *times: tuple[datetime, str]) -> int:
        session = make_session(make_user("practitioner", clinic=clinic))
        for local, status in times:
            db.session.add(
                FollowUp(
                    session_id=session.id,
                    kind="24h",
                    channel="email",
                    due_dt=local.replace(tzinfo=ZoneInfo(clinic.timezone)),
                    status=status,
                )
            )
        db.session.commit()
        return clinic.id

    toronto = due(
        make_clinic("Toronto Physio", timezone="America/Toronto"),
        (datetime(2026, 3, 20, 20, 0), "answered"),  # 00:00 UTC on the 21st
        (datetime(2025, 12, 31, 20, 0), "failed"),  # 01:00 UTC on 1 January
        (datetime(2026, 1, 1, 9, 0), "sent"),
        (datetime(2026, 3, 19, 22, 0), "sent"),  # 02:00 UTC on the 20th
    )
    due(
        make_clinic("Auckland Physio", timezone="Pacific/Auckland"),
        (datetime(2026, 1, 1, 8, 0), "answered"),  # 19:00 UTC on New Year's Eve
        (datetime(2026, 3, 21, 8, 0), "failed"),  # 19:00 UTC on 20 March
    )
    due(make_clinic("London Physio"), (datetime(2026, 2, 10, 9, 0), "answered"))

    officer = make_user("compliance")
    # 22:00 in Auckland, the clinic furthest ahead: the period is still January to 20 March.
    now = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)

    everyone = dashboard.dashboard(officer, months=3, now=now)
    in_toronto = dashboard.dashboard(officer, months=3, clinic_id=toronto, now=now)

    assert (everyone.start, everyone.end) == (date(2026, 1, 1), date(2026, 3, 20))
    assert everyone.followups == {"answered": 3, "sent": 2}
    assert in_toronto.followups == {"answered": 1, "sent": 2}
    # A period of one day is mended at its two ends once each: the check due on the evening
    # of the 19th, within a day of both ends, is taken off once.
    one_day = dashboard.followups_due(date(2026, 3, 20), date(2026, 3, 20), toronto)
    assert one_day == {"answered": 1}


def test_a_cancelled_session_is_neither_in_progress_nor_owed_a_signature(cast, small_history):
    """A session stopped because consent was refused will never be signed: it was started,
    but the completion rate is over the sessions that are owed a signature."""
    from safety.checklists import services as checklists

    checklists.cancel_session(
        cast.ada, small_history["in_progress"], "Patient did not consent today.", now=NOW
    )
    db.session.commit()

    data = dashboard.dashboard(cast.officer, months=3, now=NOW)

    assert (data.started, data.signed, data.overdue, data.cancelled) == (10, 8, 1, 1)
    assert data.in_progress == 0
    assert data.completion == pytest.approx(100 * 8 / 9)


def test_one_clinics_period_ends_on_its_own_today(make_clinic, make_user):
    """At 02:00 UTC London is on the 20th and Toronto still on the 19th: all clinics' period
    runs to the 20th, Toronto's alone to its own 19th."""
    make_clinic("London Physio")
    toronto = make_clinic("Toronto Physio", timezone="America/Toronto").id
    officer = make_user("compliance")
    now = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)

    everyone = dashboard.dashboard(officer, months=3, now=now)
    alone = dashboard.dashboard(officer, months=3, clinic_id=toronto, now=now)

    assert everyone.end == date(2026, 3, 20)
    assert (alone.end, alone.clinic_name) == (date(2026, 3, 19), "Toronto Physio")
