"""Incident rules alone: which steps are urgent and when an alert fires, what a report must hold,
where an event is reported, and what a privacy-case log row shows and for how long."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from safety.incidents import rules

INJURY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_every_step_carries_its_source_and_the_urgent_ones_a_clock():
    for step in rules.STEPS:
        assert step.source.strip()
        if step.is_urgent:
            assert step.due_within is not None
    assert [s.id for s in rules.STEPS if s.is_urgent] == [
        "wash",
        "report_lead",
        "source_assessment",  # before the patient leaves (a clinical review)
        "pep_assessment",
    ]
    # Prophylaxis is urgent within hours (US PHS 2013): the alert is at two.
    assert rules.STEPS_BY_ID["pep_assessment"].due_within == timedelta(hours=2)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (timedelta(minutes=29), []),
        (timedelta(minutes=30), ["wash"]),
        (timedelta(minutes=61), ["wash", "report_lead", "source_assessment"]),
        (timedelta(hours=2), ["wash", "report_lead", "source_assessment", "pep_assessment"]),
        (timedelta(days=30), ["wash", "report_lead", "source_assessment", "pep_assessment"]),
    ],
)
def test_an_untouched_urgent_step_alerts_once_its_time_has_passed(after, expected):
    due = rules.steps_to_alert(INJURY, done=set(), alerted=set(), now=INJURY + after)
    assert [s.id for s in due] == expected


def test_a_done_or_already_alerted_step_never_alerts_and_non_urgent_steps_never_do():
    now = INJURY + timedelta(days=30)
    due = rules.steps_to_alert(INJURY, done={"wash"}, alerted={"report_lead"}, now=now)
    assert [s.id for s in due] == ["source_assessment", "pep_assessment"]


def test_a_step_shows_done_due_or_overdue():
    wash = rules.STEPS_BY_ID["wash"]
    assert rules.step_state(wash, INJURY, True, INJURY + timedelta(days=1)) is rules.StepState.DONE
    assert rules.step_state(wash, INJURY, False, INJURY) is rules.StepState.DUE
    late = INJURY + timedelta(hours=1)
    assert rules.step_state(wash, INJURY, False, late) is rules.StepState.OVERDUE


@pytest.mark.parametrize(
    ("done", "fine"),
    [
        (INJURY + timedelta(minutes=2), True),
        (None, False),
        (INJURY - timedelta(hours=1), False),
        (INJURY + timedelta(days=2), False),  # after "now" below
    ],
)
def test_a_step_time_must_lie_between_the_injury_and_now(done, fine):
    now = INJURY + timedelta(hours=1)
    assert (rules.check_step_time(done, INJURY, now) is None) is fine


def sharps(**changes) -> rules.Report:
    values = dict(
        kind=rules.Kind.SHARPS_INJURY,
        occurred_dt=INJURY,
        work_area="Room 2",
        description="Stuck while recapping.",
        device_type="filiform_needle",
        device_purpose="needling",
        how="recapping",
        body_site="thumb",
        is_used_on_patient=True,
        injured_name="Someone",
    )
    values.update(changes)
    return rules.Report(**values)


def test_a_complete_sharps_report_has_no_problems():
    assert rules.check_report(sharps(), INJURY + timedelta(minutes=5)) == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"occurred_dt": INJURY + timedelta(hours=1)}, "occurred_dt"),
        ({"occurred_dt": INJURY - timedelta(days=400)}, "occurred_dt"),
        ({"device_type": "sword"}, "device_type"),
        ({"device_gtin": "123"}, "device_gtin"),
        # 14 digits whose check digit is wrong: a lot trace could never find the report.
        ({"device_gtin": "04987654321098"}, "device_gtin"),
        ({"description": "x" * 2001}, "description"),
        ({"injured_name": " "}, "injured_name"),
        ({"kind": "accident"}, "kind"),
    ],
)
def test_a_sharps_report_names_the_field_at_fault(changes, field):
    assert field in rules.check_report(sharps(**changes), INJURY)


def test_a_near_miss_needs_what_happened_but_no_grade():
    report = rules.Report(
        kind=rules.Kind.NEAR_MISS,
        occurred_dt=INJURY,
        work_area="Stock room",
        description="Torn pack found before use.",
        event_type="damaged_or_unsterile_pack",
    )
    assert rules.check_report(report, INJURY) == {}
    assert "event_type" in rules.check_report(
        rules.Report(**{**report.__dict__, "event_type": ""}), INJURY
    )


@pytest.mark.parametrize(
    ("kind", "event", "grade", "country", "bodies"),
    [
        ("adverse_event", "fainting", "mild", "GB", []),
        ("adverse_event", "fainting", "serious", "CA", ["professional_body"]),
        ("adverse_event", "retained_or_broken_needle", "mild", "GB", ["mhra_yellow_card"]),
        ("adverse_event", "retained_or_broken_needle", "mild", "US", ["fda_medwatch"]),
        ("near_miss", "damaged_or_unsterile_pack", "", "CA", ["health_canada"]),
        ("sharps_injury", None, None, "GB", []),
    ],
)
def test_a_device_problem_prompts_the_clinics_own_regulator_and_a_serious_event_the_body(
    kind, event, grade, country, bodies
):
    assert [b.code for b in rules.report_prompts(kind, event, grade, country)] == bodies


@pytest.mark.parametrize("country", ["IE", "AU", None])
def test_a_clinic_elsewhere_is_pointed_at_its_own_regulator_never_another_countrys(country):
    [prompt] = rules.report_prompts("near_miss", "damaged_or_unsterile_pack", "", country)
    assert prompt.code == "other"
    assert prompt.label == "Your country's medical device regulator"
    for foreign in ("MHRA", "FDA", "Health Canada"):
        assert foreign not in prompt.label + prompt.why


def test_every_device_regulator_is_a_body_a_report_can_be_recorded_under():
    for country, code in rules.DEVICE_REGULATORS.items():
        assert code in rules.REPORT_BODY_CODES
        # Each carries its source: the regulator's own reporting page.
        assert "https://" in rules.device_regulator(country).source


def test_a_sharps_log_row_says_privacy_case_and_never_carries_a_name():
    row = rules.sharps_log_row(
        "SI-1",
        date(2026, 3, 2),
        {
            "work_area": "Room 2",
            "device_type": "filiform_needle",
            "how": "recapping",
            "injured_name": "Someone Named",
        },
    )
    assert row["employee"] == rules.PRIVACY_CASE
    assert "Someone Named" not in row.values()
    assert row["how_it_happened"] == "Recapping or re-sheathing"
    assert set(row) == set(rules.SHARPS_LOG_COLUMNS)


@pytest.mark.parametrize(
    ("occurred", "today", "kept"),
    [
        (date(2020, 1, 1), date(2025, 12, 31), True),
        (date(2020, 12, 31), date(2026, 1, 1), False),
        (date(2026, 3, 2), date(2031, 6, 1), True),
    ],
)
def test_a_log_entry_is_kept_five_years_after_the_end_of_its_year(occurred, today, kept):
    assert rules.is_kept(occurred, today) is kept
    assert rules.keep_until(occurred) == date(occurred.year + 5, 12, 31)


def test_the_alert_names_the_steps_and_the_link_but_nobody():
    message = rules.step_alert(
        steps=[rules.STEPS_BY_ID["pep_assessment"]], clinic="Harbour", link="http://x/incidents/4"
    )
    assert "prophylaxis" in message.text and "2 hours" in message.text
    assert "http://x/incidents/4" in message.text
    assert "Harbour" in message.subject


def test_a_flag_suggests_an_adverse_event_only_where_one_may_have_happened():
    assert rules.incident_from_flag("count_discrepancy", "Counts differ.")["event_type"] == (
        "retained_or_broken_needle"
    )
    assert rules.incident_from_flag("reaction", "Fainted.")["event_type"] == "fainting"
    assert rules.incident_from_flag("gloves_not_worn", "No gloves.") is None


def test_the_wash_step_says_what_to_do_for_a_splash_to_the_eyes_nose_or_mouth():
    """The form offers "Face, eye or mouth" as the body site; soap and water is wrong there,
    and the step once said nothing else. Its source says what CDC advises for a splash."""
    assert "face" in {choice.code for choice in rules.BODY_SITES}
    wash = rules.STEPS_BY_ID["wash"]
    assert "eyes, nose or mouth rinsed with plenty of water" in wash.label
    assert "irrigate eyes with clean water, saline or sterile irrigants" in wash.source


@pytest.mark.parametrize(
    ("used", "steps"),
    [
        (True, ["wash", "report_lead", "source_assessment", "pep_assessment", "followup_testing"]),
        (None, ["wash", "report_lead", "source_assessment", "pep_assessment", "followup_testing"]),
        (False, ["wash", "report_lead"]),
    ],
)
def test_a_clean_needle_calls_for_the_wash_and_the_report_only_and_unknown_counts_as_used(
    used, steps
):
    assert [s.id for s in rules.steps_for(used)] == steps
