"""Follow-up rules: when each check is due in the clinic's zone, what an answer means, how
delivery backs off, and what a message to a patient may say."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety.followup import rules, texts
from safety.followup.models import FollowUp, OutboxMessage, OutboxStatus

ROOT = Path(__file__).resolve().parents[2]

LONDON = ZoneInfo("Europe/London")
TORONTO = ZoneInfo("America/Toronto")
#: Zones a clinic may plausibly be in: both hemispheres, half-hour offsets and no DST at all.
ZONES = [
    "Europe/London",
    "America/Toronto",
    "America/St_Johns",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Europe/Berlin",
    "UTC",
]
CLINICAL_WORDS = ("soreness", "bleeding", "bruis", "needle", "infection", "pain")


def local(zone: ZoneInfo, *args: int) -> datetime:
    """Return a wall-clock time in a zone as an aware UTC datetime."""
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def is_outside_quiet_hours(moment: datetime, zone: ZoneInfo) -> bool:
    return time(8, 0) <= moment.astimezone(zone).time() < time(21, 0)


signed_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES).map(ZoneInfo)


# --- quiet hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ((2025, 6, 10, 21, 0), (2025, 6, 11, 8, 0)),
        ((2025, 6, 10, 23, 30), (2025, 6, 11, 8, 0)),
        ((2025, 6, 11, 0, 0), (2025, 6, 11, 8, 0)),
        ((2025, 6, 11, 3, 15), (2025, 6, 11, 8, 0)),
        ((2025, 6, 11, 7, 59), (2025, 6, 11, 8, 0)),
        ((2025, 12, 31, 22, 0), (2026, 1, 1, 8, 0)),
    ],
)
def test_a_time_in_quiet_hours_moves_to_the_next_eight_oclock(wall, expected):
    assert rules.out_of_quiet_hours(local(LONDON, *wall), LONDON) == local(LONDON, *expected)


@pytest.mark.parametrize(
    "wall", [(2025, 6, 11, 8, 0), (2025, 6, 11, 12, 0), (2025, 6, 11, 20, 59), (2025, 1, 6, 9, 0)]
)
def test_a_time_inside_the_day_is_left_as_it_is(wall):
    moment = local(TORONTO, *wall)
    assert rules.out_of_quiet_hours(moment, TORONTO) == moment


def test_quiet_hours_follow_the_clinics_zone_not_utc():
    # 22:00 UTC is 18:00 in Toronto in summer: inside the clinic's day.
    moment = datetime(2025, 7, 1, 22, 0, tzinfo=UTC)
    assert rules.out_of_quiet_hours(moment, TORONTO) == moment
    assert rules.out_of_quiet_hours(moment, LONDON) == local(LONDON, 2025, 7, 2, 8, 0)


def test_quiet_hours_end_at_eight_on_the_morning_the_clocks_go_forward():
    # London springs forward at 01:00 GMT on 30 March 2025: 08:00 that morning is 07:00 UTC.
    moved = rules.out_of_quiet_hours(datetime(2025, 3, 30, 0, 30, tzinfo=UTC), LONDON)
    assert moved == datetime(2025, 3, 30, 7, 0, tzinfo=UTC)


@given(moment=signed_times, zone=zones)
def test_moving_out_of_quiet_hours_lands_inside_the_day_and_never_earlier(moment, zone):
    moved = rules.out_of_quiet_hours(moment, zone)
    assert moved.tzinfo is not None and moved.utcoffset() == timedelta(0)
    assert is_outside_quiet_hours(moved, zone)
    assert moment <= moved <= moment + timedelta(hours=12)
    if is_outside_quiet_hours(moment, zone):
        assert moved == moment
    else:
        assert moved.astimezone(zone).time() == time(8, 0)


# --- the plan written at signing -------------------------------------------------------------


def test_signing_plans_the_24_hour_check_its_reminder_and_always_the_7_day_site_check():
    signed = local(LONDON, 2025, 6, 10, 10, 30)
    plans = rules.plan_at_signing(signed, LONDON, near_lung=False)
    assert [(p.kind, p.is_reminder) for p in plans] == [
        ("24h", False),
        ("24h", True),
        ("7d", False),
    ]
    assert plans[0].due == local(LONDON, 2025, 6, 11, 10, 30)
    assert plans[1].due == local(LONDON, 2025, 6, 12, 10, 30)
    assert plans[2].due == local(LONDON, 2025, 6, 17, 10, 30)


def test_a_session_signed_the_next_morning_counts_its_checks_from_the_needling():
    """Needled near the lung at 17:00, signed at 09:00 the next day: the chest check once went
    at 09:00 two days after the signature, a day past the two days in which a collapsed lung
    shows (a clinical review). Its checks count from when the needles came out."""
    treated = local(LONDON, 2025, 6, 10, 17, 0)
    signed = local(LONDON, 2025, 6, 11, 9, 0)

    check, reminder, chest, week = rules.plan_at_signing(
        signed, LONDON, near_lung=True, treated=treated
    )

    assert check.due == local(LONDON, 2025, 6, 11, 17, 0)
    assert reminder.due == local(LONDON, 2025, 6, 12, 17, 0)
    assert chest.due == local(LONDON, 2025, 6, 12, 17, 0)
    assert week.due == local(LONDON, 2025, 6, 17, 17, 0)


def test_a_check_whose_time_passed_before_the_signature_goes_at_once_and_its_reminder_a_day_on():
    """Signed three days late (out of quiet hours): nothing is dated in the past, and the
    reminder never lands beside the check it reminds of."""
    treated = local(LONDON, 2025, 6, 10, 17, 0)
    signed = local(LONDON, 2025, 6, 13, 11, 0)

    check, reminder, chest, week = rules.plan_at_signing(
        signed, LONDON, near_lung=True, treated=treated
    )

    assert check.due == chest.due == signed
    assert reminder.due == local(LONDON, 2025, 6, 14, 11, 0)
    assert week.due == local(LONDON, 2025, 6, 17, 17, 0)
    late_at_night = local(LONDON, 2025, 6, 13, 23, 0)
    first = rules.plan_at_signing(late_at_night, LONDON, near_lung=False, treated=treated)[0]
    assert first.due == local(LONDON, 2025, 6, 14, 8, 0)


def test_needling_near_the_lung_adds_the_48_hour_chest_check_whatever_the_24_hour_answer():
    signed = local(LONDON, 2025, 6, 10, 10, 30)
    plans = rules.plan_at_signing(signed, LONDON, near_lung=True)
    assert [(p.kind, p.is_reminder) for p in plans] == [
        ("24h", False),
        ("24h", True),
        ("48h", False),
        ("7d", False),
    ]
    assert plans[2].due == local(LONDON, 2025, 6, 12, 10, 30)


@pytest.mark.parametrize(
    ("regions", "high_risk", "expected"),
    [
        (["shoulder"], ("thorax", "neck", "shoulder"), True),
        # Version 1 did not count the shoulder; its sessions still get today's chest check.
        (["shoulder"], ("thorax", "neck"), True),
        (["lumbar", "neck"], ("thorax", "neck"), True),
        (["lumbar"], ("thorax", "neck", "shoulder"), False),
        (["scapula"], ("scapula",), True),  # a clinic's own template adds a region
        (["lumbar"], (), False),
        (None, ("thorax",), False),
    ],
)
def test_near_the_lung_is_the_templates_regions_and_todays_lung_regions(
    regions, high_risk, expected
):
    assert rules.near_lung(regions, high_risk) is expected


def test_todays_lung_regions_are_the_default_registers():
    register = json.loads((ROOT / "safety" / "risks" / "register.json").read_text())
    assert set(rules.LUNG_REGIONS) == set(register["high_risk_regions"])


def test_a_session_signed_in_the_evening_is_checked_the_next_morning_not_at_night():
    signed = local(LONDON, 2025, 6, 10, 21, 45)
    plans = rules.plan_at_signing(signed, LONDON, near_lung=False)
    assert [p.due for p in plans] == [
        local(LONDON, 2025, 6, 12, 8, 0),
        local(LONDON, 2025, 6, 13, 8, 0),
        local(LONDON, 2025, 6, 18, 8, 0),
    ]


# --- daylight-saving changes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "signed_wall", "elapsed"),
    [
        # Signed the day before the clocks go forward: the day is 23 hours long.
        (LONDON, (2025, 3, 29, 10, 0), timedelta(hours=23)),
        (TORONTO, (2025, 3, 8, 10, 0), timedelta(hours=23)),
        # Signed the day before the clocks go back: the day is 25 hours long.
        (LONDON, (2025, 10, 25, 10, 0), timedelta(hours=25)),
        (TORONTO, (2025, 11, 1, 10, 0), timedelta(hours=25)),
    ],
)
def test_a_day_later_is_the_same_wall_clock_time_across_a_daylight_saving_change(
    zone, signed_wall, elapsed
):
    signed = local(zone, *signed_wall)
    later = rules.local_offset(signed, 1, zone)
    assert later.astimezone(zone).time() == time(10, 0)
    assert later.astimezone(zone).date() == date(*signed_wall[:3]) + timedelta(days=1)
    assert later - signed == elapsed


@pytest.mark.parametrize(
    ("zone", "signed_wall", "expected_wall"),
    [
        (LONDON, (2025, 3, 29, 14, 0), (2025, 3, 30, 14, 0)),
        (TORONTO, (2025, 3, 8, 14, 0), (2025, 3, 9, 14, 0)),
        (LONDON, (2025, 10, 25, 14, 0), (2025, 10, 26, 14, 0)),
        (TORONTO, (2025, 11, 1, 14, 0), (2025, 11, 2, 14, 0)),
    ],
)
def test_the_24_hour_check_of_a_session_signed_the_day_before_a_clock_change_keeps_its_hour(
    zone, signed_wall, expected_wall
):
    plans = rules.plan_at_signing(local(zone, *signed_wall), zone, near_lung=True)
    assert plans[0].due == local(zone, *expected_wall)
    assert plans[0].due.astimezone(zone).hour == 14


def test_a_wall_time_skipped_by_the_clocks_going_forward_resolves_to_a_later_real_time():
    # 01:30 on 30 March 2025 does not exist in London (01:00 GMT jumps to 02:00 BST).
    signed = local(LONDON, 2025, 3, 29, 1, 30)
    later = rules.local_offset(signed, 1, LONDON)
    assert later.astimezone(LONDON).replace(tzinfo=None) == datetime(2025, 3, 30, 2, 30)
    assert later - signed == timedelta(hours=24)


def test_a_week_later_in_toronto_spans_the_spring_change_at_the_same_hour():
    signed = local(TORONTO, 2025, 3, 5, 9, 15)
    later = rules.local_offset(signed, 7, TORONTO)
    assert later == local(TORONTO, 2025, 3, 12, 9, 15)
    assert later - signed == timedelta(days=7) - timedelta(hours=1)


@given(signed=signed_times, zone=zones, near_lung=st.booleans())
def test_every_planned_check_is_due_outside_quiet_hours_in_the_clinics_zone(
    signed, zone, near_lung
):
    for plan in rules.plan_at_signing(signed, zone, near_lung=near_lung):
        assert is_outside_quiet_hours(plan.due, zone), plan


@given(signed=signed_times, zone=zones)
def test_the_24_hour_check_is_never_due_sooner_than_20_hours_after_signing(signed, zone):
    first = rules.plan_at_signing(signed, zone, near_lung=False)[0]
    assert first.kind == "24h" and not first.is_reminder
    assert first.due >= signed + timedelta(hours=20)


@given(signed=signed_times, zone=zones)
def test_the_planned_checks_come_in_order_check_then_reminder_then_week(signed, zone):
    check, reminder, chest, week = rules.plan_at_signing(signed, zone, near_lung=True)
    assert check.due < reminder.due == chest.due < week.due


@given(signed=signed_times, zone=zones)
def test_the_72_hour_check_comes_after_the_48_hour_reminder_and_outside_quiet_hours(signed, zone):
    reminder = rules.plan_at_signing(signed, zone, near_lung=False)[1]
    due = rules.due_72h(signed, zone)
    assert due > reminder.due
    assert is_outside_quiet_hours(due, zone)


# --- what an answer means --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"soreness": 4, "trend": "better"}, True),
        ({"soreness": 9, "trend": "better"}, True),
        ({"soreness": 1, "trend": "same"}, True),
        ({"soreness": 0, "trend": "worse"}, True),
        ({"soreness": 3, "trend": "better"}, False),
        ({"soreness": 0, "trend": "better"}, False),
        ({}, False),
    ],
)
def test_the_72_hour_check_is_needed_for_soreness_of_4_or_more_or_no_improvement(answers, expected):
    assert rules.needs_72h(answers) is expected


CALM = {
    "soreness": 2,
    "trend": "better",
    "bleeding": "none",
    "bruising": "none",
    "chest": "no",
    "signs": [],
}


@pytest.mark.parametrize(
    ("kind", "changes", "level"),
    [
        ("24h", {"chest": "yes"}, rules.EMERGENCY),
        ("24h", {"bleeding": "wont_stop"}, rules.EMERGENCY),
        ("7d", {"chest": "yes", "signs": ["fever"]}, rules.EMERGENCY),
        ("24h", {"bleeding": "wont_stop", "soreness": 9}, rules.EMERGENCY),
        ("24h", {"signs": ["redness"]}, rules.SAME_DAY),
        ("7d", {"signs": ["pus", "fever"]}, rules.SAME_DAY),
        ("24h", {"bruising": "large"}, rules.SAME_DAY),
        ("24h", {"bruising": "large", "soreness": 8}, rules.SAME_DAY),
        ("24h", {"soreness": 7}, rules.REVIEW),
        ("24h", {"soreness": 10, "trend": "worse"}, rules.REVIEW),
        ("72h", {"trend": "same"}, rules.REVIEW),
        ("72h", {"trend": "worse"}, rules.REVIEW),
        ("24h", {"trend": "worse"}, rules.NONE),
        ("24h", {"soreness": 6}, rules.NONE),
        ("24h", {"bleeding": "stopped", "bruising": "small"}, rules.NONE),
        ("72h", {}, rules.NONE),
        ("7d", {}, rules.NONE),
    ],
)
def test_an_answer_escalates_to_the_level_design_section_4_gives_it(kind, changes, level):
    assert rules.escalation(kind, {**CALM, **changes}) == level


def test_every_escalation_that_needs_a_person_has_a_flag_severity():
    assert rules.SEVERITY == {
        rules.EMERGENCY: "critical",
        rules.SAME_DAY: "high",
        rules.REVIEW: "medium",
    }


# --- reading the patient's form ---------------------------------------------------------------


FULL_FORM = {
    "soreness": ["5"],
    "trend": ["same"],
    "bleeding": ["stopped"],
    "bruising": ["small"],
    "numbness": ["no"],
    "fainted": ["no"],
    "needle_found": ["no"],
    "chest": ["no"],
    "signs": ["swelling", "redness", "swelling"],
    "other": ["  A little stiff in the morning.  "],
}


DAY_1 = rules.questions_for("24h", near_lung=True)


def test_a_complete_form_reads_into_typed_answers():
    read = rules.read_form(FULL_FORM, DAY_1)
    assert read.errors == {}
    assert read.answers == {
        "soreness": 5,
        "trend": "same",
        "bleeding": "stopped",
        "bruising": "small",
        "numbness": "no",
        "fainted": "no",
        "needle_found": "no",
        "chest": "no",
        "signs": ["redness", "swelling"],
        "other": "A little stiff in the morning.",
    }


def test_an_empty_form_asks_for_every_question_but_the_optional_ones():
    read = rules.read_form({}, DAY_1)
    assert set(read.errors) == {
        "soreness",
        "trend",
        "bleeding",
        "bruising",
        "numbness",
        "fainted",
        "needle_found",
        "chest",
    }
    assert all(message.strip() for message in read.errors.values())
    assert read.answers.get("signs") == []


@pytest.mark.parametrize("value", ["", "11", "-1", "abc", "5.5", "²"])
def test_soreness_must_be_a_whole_number_from_0_to_10(value):
    read = rules.read_form({**FULL_FORM, "soreness": [value]}, DAY_1)
    assert set(read.errors) == {"soreness"}
    assert "soreness" not in read.answers


@pytest.mark.parametrize(
    "field", ["trend", "bleeding", "bruising", "numbness", "fainted", "needle_found", "chest"]
)
def test_a_choice_outside_the_offered_options_is_refused(field):
    read = rules.read_form({**FULL_FORM, field: ["maybe"]}, DAY_1)
    assert set(read.errors) == {field}


def test_a_sign_that_is_not_on_the_list_is_refused():
    read = rules.read_form({**FULL_FORM, "signs": ["redness", "rash"]}, DAY_1)
    assert set(read.errors) == {"signs"}


def test_anything_else_is_limited_to_2000_characters():
    assert set(rules.read_form({**FULL_FORM, "other": ["x" * 2001]}, DAY_1).errors) == {"other"}
    assert rules.read_form({**FULL_FORM, "other": ["x" * 2000]}, DAY_1).errors == {}


# --- delivery ---------------------------------------------------------------------------------


def test_retries_back_off_1_5_15_60_and_240_minutes_then_give_up():
    waits = [rules.backoff(attempts) for attempts in range(1, 8)]
    assert waits == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(minutes=60),
        timedelta(minutes=240),
        None,
        None,
    ]


def test_the_message_id_is_derived_from_the_reminder_id():
    first = rules.message_id(42, "needlesafe.example")
    assert first == rules.message_id(42, "needlesafe.example")
    assert first != rules.message_id(43, "needlesafe.example")
    assert first.startswith("<") and first.endswith(">")
    assert "42" in first and first.endswith("@needlesafe.example>")
    assert parseaddr(first)[1] == first.strip("<>")


MESSAGE = {
    "first_name": "Ada",
    "clinic": "Harbour Physio",
    "appointment": date(2025, 3, 4),
    "link": "https://links.example/f/abcdefghijklmnopqrstuvwxyz0123",
    "stop_link": "https://links.example/f/abcdefghijklmnopqrstuvwxyz0123/stop",
}


@pytest.mark.parametrize("is_reminder", [False, True])
def test_a_patient_message_carries_name_clinic_date_link_and_stop_link(is_reminder):
    message = rules.patient_message(**MESSAGE, is_reminder=is_reminder)
    for part in ("Ada", "Harbour Physio", "4 March 2025", MESSAGE["link"], MESSAGE["stop_link"]):
        assert part in message.text
    assert "Harbour Physio" in message.subject
    assert "stop" in message.text.lower()


@pytest.mark.parametrize("is_reminder", [False, True])
def test_a_patient_message_carries_no_clinical_words(is_reminder):
    message = rules.patient_message(**MESSAGE, is_reminder=is_reminder)
    whole = f"{message.subject}\n{message.text}".lower()
    assert [word for word in CLINICAL_WORDS if word in whole] == []


@pytest.mark.parametrize("language", ["en", "fr_CA", "es"])
def test_the_48_hour_check_reads_as_one_more_question_not_the_first_message_again(language):
    """The 48-hour check can arrive with the 24-hour check's reminder; it once had the same
    subject and words, and a patient who had answered could take it for a repeat."""
    said = texts.for_language(language)
    first = rules.patient_message(**MESSAGE, is_reminder=False, said=said)
    chest = rules.patient_message(**MESSAGE, is_reminder=False, kind="48h", said=said)

    assert chest.subject != first.subject
    assert said.pages["message_ask_48h"].split("{")[0] in chest.text
    whole = f"{chest.subject}\n{chest.text}".lower()
    assert [word for word in CLINICAL_WORDS if word in whole] == []


def test_the_48_hour_reminder_reads_as_a_reminder():
    first = rules.patient_message(**MESSAGE, is_reminder=False)
    reminder = rules.patient_message(**MESSAGE, is_reminder=True)
    assert "reminder" in reminder.text and "reminder" not in first.text


@pytest.mark.parametrize("level", [rules.EMERGENCY, rules.SAME_DAY, rules.REVIEW])
def test_a_practitioner_alert_names_the_level_and_links_to_the_record(level):
    alert = rules.practitioner_alert(
        level=level, clinic="Harbour Physio", link="https://needlesafe.example/sessions/7"
    )
    assert "https://needlesafe.example/sessions/7" in alert.text
    assert "Harbour Physio" in alert.text
    word = {rules.EMERGENCY: "emergency", rules.SAME_DAY: "same-day", rules.REVIEW: "review"}
    assert word[level] in alert.subject.lower()


@pytest.mark.parametrize(
    ("model", "column", "enum"),
    [
        (FollowUp, "kind", rules.Kind),
        (FollowUp, "status", rules.Status),
        (OutboxMessage, "status", OutboxStatus),
    ],
)
def test_each_enum_names_exactly_the_values_its_column_accepts(model, column, enum):
    checks = (str(c.sqltext) for c in model.__table__.constraints if hasattr(c, "sqltext"))
    [accepted] = [m.group(1) for t in checks if (m := re.fullmatch(rf"{column} IN \((.*)\)", t))]
    assert [v.strip(" '") for v in accepted.split(",")] == [e.value for e in enum]


# --- which channel the patient can receive ---------------------------------------------------

REACHABLE = rules.Reach(is_consent=True, is_opted_out=False, email="a@example.org", phone="+1 555")


@pytest.mark.parametrize(
    ("reach", "channel", "refusal"),
    [
        (REACHABLE, "email", None),
        (REACHABLE, "sms", None),
        (rules.Reach(False, False, "a@example.org", "+1 555"), "email", rules.NO_CONSENT),
        (rules.Reach(True, True, "a@example.org", "+1 555"), "sms", rules.OPTED_OUT),
        (rules.Reach(True, False, None, "+1 555"), "email", rules.NO_EMAIL),
        (rules.Reach(True, False, "a@example.org", ""), "sms", rules.NO_PHONE),
    ],
)
def test_a_follow_up_channel_the_patient_cannot_receive_is_refused_with_its_reason(
    reach, channel, refusal
):
    assert rules.channel_refusal(channel, reach) == refusal


def test_declining_follow_up_needs_neither_consent_nor_contact_details():
    nobody = rules.Reach(is_consent=False, is_opted_out=True, email=None, phone=None)
    assert rules.channel_refusal("declined", nobody) is None
    assert rules.channel_refusal(None, nobody) is None


@pytest.mark.parametrize(
    ("status", "due_in", "label"),
    [
        ("scheduled", timedelta(hours=1), "scheduled"),
        ("scheduled", timedelta(0), "due, not sent yet"),
        ("scheduled", -timedelta(minutes=1), "due, not sent yet"),
        ("sent", -timedelta(days=1), "sent, waiting for an answer"),
        ("answered", -timedelta(days=1), "answered"),
        ("cancelled", -timedelta(days=1), "cancelled"),
    ],
)
def test_a_scheduled_check_whose_time_has_come_reads_not_sent_yet(status, due_in, label):
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert rules.status_label(status, now + due_in, now) == label
    # Without a time to compare, the stored status is read as it is.
    assert rules.status_label(status) == rules.Status(status).label


@pytest.mark.parametrize(
    ("written", "level"),
    [
        ("I have had chest pain since last night and feel breathless", rules.SAME_DAY),
        ("The spot on my calf keeps BLEEDING a little", rules.SAME_DAY),
        ("J'ai du mal à respirer depuis hier soir", rules.SAME_DAY),
        ("Me duele el pecho desde anoche", rules.SAME_DAY),
        ("Thank you, I slept badly but feel fine", rules.REVIEW),
    ],
)
def test_writing_that_names_the_chest_breathing_or_bleeding_is_read_the_same_day(written, level):
    """Chest pain written in the free-text box once waited two working days for a review."""
    assert rules.escalation("24h", {**CALM, "other": written}) == level


@pytest.mark.parametrize(
    "written",
    [
        "It bled all night",
        "collapsed lung?",
        "j'étouffe",
        "douleur quand j'inspire",
        "oppression thoracique",
        "du sang partout",
        "hémorragie",
        "me falta el aire",
        "dolor al tomar aire",
        "tórax",
        "ESSOUFFLÉ",
        # Breathing in everyday words, each once left for a review (a clinical review).
        "It hurts when I inhale and I get winded on the stairs",
        "I'm short of air and wheezing",
        "sharp pain in my ribs",
        "Depuis hier je manque d'air",
        "à bout de souffle",
        "mal aux côtes quand je tousse",
        "me falta aire y me duele al inhalar",
        "me falta el aliento",
        "neumotórax",
        "tengo fatiga al subir la escalera",
        "no puedo jalar aire",
        "tos seca desde anoche",
        # As a phone types them: a curly apostrophe, and other tenses.
        "Je manque d\u2019air",
        "pas d\u2019air la nuit",
        "je toussais toute la nuit",
        "tosió toda la noche",
    ],
)
def test_the_red_flag_screen_knows_the_words_patients_use_in_each_language(written):
    assert rules.mentions_red_flag(written)


@pytest.mark.parametrize("language", ["en", "fr_CA", "es"])
def test_the_red_flag_screen_knows_the_forms_own_chest_question_in_each_language(language):
    """What the patient was asked, written back in their own words, must trip the screen."""
    said = texts.for_language(language)
    assert rules.mentions_red_flag(said.questions["chest"].text)


@pytest.mark.parametrize(
    "written",
    [
        "Manchester was lovely",
        "the orchestra",
        "a mahogany desk",
        "Sangeeta",
        "the window was open",
        "I describe a ribbon",
        "un bleu à côté du site",
        "una tostada y un café",
        "toujours un peu raide",
    ],
)
def test_the_red_flag_screen_matches_at_the_start_of_a_word_not_inside_one(written):
    assert not rules.mentions_red_flag(written)


@pytest.mark.parametrize(
    ("written", "languages", "named"),
    [
        ("I sang all evening", {"en"}, False),  # French "sang" is blood; not in English
        ("du sang sur le pansement", {"fr_CA"}, True),
        ("a sangria with friends", {"en"}, False),
        ("sangra un poco", {"es"}, True),
        ("chest feels tight", {"es"}, True),  # English counts in every language
        ("coughing blood", {"en"}, True),
        ("dolor torácico", {"es"}, True),
        # A French patient who switched the page to English still writes French.
        ("j'ai mal à la poitrine", {"en", "fr_CA"}, True),
    ],
)
def test_the_red_flag_screen_reads_english_and_the_patients_own_languages(
    written, languages, named
):
    assert rules.mentions_red_flag(written, languages) is named


@pytest.mark.parametrize(
    ("written", "languages"),
    [
        ("My face is drooping and I can’t get my words out", {"en"}),
        ("my left arm feels weak since this morning", {"en"}),
        ("speech slurred, wife worried", {"en"}),
        ("Le bras droit est faible et j'ai du mal à parler", {"fr_CA"}),
        ("mon visage tombe d'un côté", {"fr_CA"}),
        ("tengo la pierna débil y me cuesta hablar", {"es"}),
        ("siento la cara caída", {"es"}),
        # What a review found the first lists missed.
        ("I cant talk properly", {"en"}),
        ("arm went limp, smile is lopsided", {"en"}),
        ("j'ai de la misère à parler, la bouche croche", {"fr_CA"}),
        ("je n'arrive pas à parler", {"fr_CA"}),
        ("boca chueca y no me salen las palabras", {"es"}),
        ("me cuesta trabajo hablar, se me traba la lengua", {"es"}),
        ("mon bras gauche est faible", {"fr_CA"}),
        ("je me sens faible du côté gauche", {"fr_CA"}),
        ("plus de force dans la main", {"fr_CA"}),
    ],
)
def test_writing_about_weakness_a_drooping_face_or_speech_is_read_the_same_day(written, languages):
    """ "My face is drooping and I can't get my words out" once waited two working days, read
    as any remark is (a clinical review)."""
    answers = {"soreness": 2, "trend": "better", "other": written}

    assert rules.mentions_weakness(written, languages)
    assert rules.reasons("24h", answers, languages) == {
        rules.SAME_DAY: ["wrote about weakness, a drooping face or trouble speaking"]
    }
    keys = rules.advice("24h", answers, rules.SAME_DAY, languages)
    assert keys.index("wrote_weakness") < keys.index("same_day")


@pytest.mark.parametrize(
    "written",
    [
        "Stiff but fine, see you next week",
        "I spoke to my GP",
        "a weekend away",
        "tweaked it",
        "limping a little, as you said",
        "can't move my neck much, stiff",
        # "Faible" is also mild: "une faible douleur" is a mild pain, not a weak arm.
        "une faible douleur au dos",
        "la douleur est faible",
        "in other words outside it was fine",
    ],
)
def test_the_weakness_screen_leaves_everyday_words_for_review(written):
    assert not rules.mentions_weakness(written)
    assert rules.escalation("24h", {"soreness": 1, "other": written}) == rules.REVIEW
