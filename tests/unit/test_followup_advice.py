"""What a patient's answer means and what they are told (DESIGN §4): escalation, advice,
deadlines for a person to acknowledge it, and the register that carries every threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from safety.clinics import rules as clinic_rules
from safety.followup import rules, texts
from safety.risks.rules import load_register

LONDON = ZoneInfo("Europe/London")
TORONTO = ZoneInfo("America/Toronto")
REGISTER = load_register()

CALM = {
    "soreness": 2,
    "trend": "better",
    "bleeding": "none",
    "bruising": "none",
    "numbness": "no",
    "fainted": "no",
    "needle_found": "no",
    "chest": "no",
    "signs": [],
}


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


# --- escalation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "level"),
    [
        ("48h", {"chest": "yes"}, rules.EMERGENCY),
        ("24h", {"numbness": "yes"}, rules.SAME_DAY),
        # Sudden weakness, a drooping face or trouble speaking: a stroke shows so (NHS FAST).
        ("24h", {"numbness": "sudden"}, rules.EMERGENCY),
        ("24h", {"fainted": "yes"}, rules.SAME_DAY),
        ("24h", {"needle_found": "yes"}, rules.SAME_DAY),
        ("7d", {"signs": ["redness"]}, rules.SAME_DAY),
        ("24h", {"other": "My arm feels odd when I lift it."}, rules.REVIEW),
        ("48h", {"chest": "no", "other": "A little stiff."}, rules.REVIEW),
        # After needling near the lung a cough is read the same day (a clinical review).
        ("48h", {"chest": "no", "other": "A little cough."}, rules.SAME_DAY),
        ("7d", {"soreness": 6, "trend": "same"}, rules.REVIEW),
        ("7d", {"soreness": 4, "trend": "better"}, rules.REVIEW),
        ("7d", {"soreness": 1, "trend": "worse"}, rules.REVIEW),
        ("72h", {"soreness": 4, "trend": "better"}, rules.REVIEW),
        ("72h", {"soreness": 3, "trend": "better"}, rules.NONE),
        ("7d", {"soreness": 0, "trend": "same"}, rules.NONE),
        ("24h", {"soreness": 6, "trend": "same"}, rules.NONE),
        ("48h", {"chest": "no"}, rules.NONE),
    ],
)
def test_an_answer_escalates_as_design_section_4_says(kind, changes, level):
    assert rules.escalation(kind, {**CALM, **changes}) == level


def test_free_text_alone_goes_to_review_so_a_person_reads_it():
    found = rules.reasons("24h", {**CALM, "other": "Is it normal to feel tired?"})

    assert found == {rules.REVIEW: ["wrote to the clinic"]}


def test_the_reasons_say_every_finding_at_its_level():
    found = rules.reasons(
        "24h", {**CALM, "chest": "yes", "bruising": "large", "soreness": 8, "other": "help"}
    )

    assert found == {
        rules.EMERGENCY: ["chest pain, pain breathing in or breathlessness"],
        rules.SAME_DAY: ["a large or spreading bruise"],
        rules.REVIEW: ["soreness 8/10", "wrote to the clinic"],
    }


@pytest.mark.parametrize(
    ("kind", "near_lung", "asks_chest"),
    [("24h", True, True), ("24h", False, False), ("48h", False, True), ("7d", True, False)],
)
def test_the_chest_question_is_asked_after_needling_near_the_lung(kind, near_lung, asks_chest):
    assert ("chest" in rules.questions_for(kind, near_lung=near_lung)) is asks_chest


@pytest.mark.parametrize("kind", ["24h", "48h", "72h", "7d"])
def test_every_check_ends_with_the_free_text_box(kind):
    assert rules.questions_for(kind, near_lung=True)[-1] == "other"


# --- advice --------------------------------------------------------------------------------------


def test_bleeding_that_will_not_stop_says_press_first_then_call_and_names_the_bleeding():
    """Needled at the hip, bleeding at the hip: the patient once told the ambulance service
    they were needled near the chest, sending it looking for a collapsed lung."""
    keys = rules.advice("24h", {**CALM, "bleeding": "wont_stop"}, rules.EMERGENCY)

    assert keys == ["press_first", "call_emergency", "tell_them_bleeding", "clinic_alerted"]
    assert "chest" not in texts.ADVICE["tell_them_bleeding"].text
    assert "still bleeding after 10" in texts.ADVICE["tell_them_bleeding"].text


def test_sudden_weakness_says_call_now_and_tell_them_when_it_started():
    """It once waited for a call back the same day, as tingling does; the time it started
    decides a stroke's treatment, so the patient is told to say it."""
    answers = {**CALM, "numbness": "sudden"}

    assert rules.reasons("24h", answers) == {
        rules.EMERGENCY: ["sudden weakness of an arm or leg, a drooping face or trouble speaking"]
    }
    keys = rules.advice("24h", answers, rules.EMERGENCY)
    assert keys == ["call_emergency", "tell_them_weakness", "clinic_alerted"]
    assert "started" in texts.ADVICE["tell_them_weakness"].text
    assert "nhs-stroke" in texts.ADVICE["tell_them_weakness"].sources
    # Every patient reads it among the reasons to call at once, and at the top of the form.
    for said in (texts.ADVICE["red_flags"].text, texts.PAGES["urgent_weakness"]):
        assert "suddenly weak, a drooping face or trouble speaking" in said


def test_the_24_hour_check_asks_about_a_sudden_headache_sight_and_balance_after_neck_needling():
    """The vertebral arteries run through the neck to the back of the brain, where a stroke
    shows as these rather than as FAST's face, arm and speech (NHS, its other symptoms)."""
    after_neck = rules.questions_for("24h", near_lung=True, neck=True)

    assert after_neck[after_neck.index("numbness") + 1] == "head_signs"
    assert "head_signs" not in rules.questions_for("24h", near_lung=True)
    for kind in ("48h", "72h", "7d"):
        assert "head_signs" not in rules.questions_for(kind, near_lung=True, neck=True)
    assert rules.needled_neck(["thorax", "neck"])
    # The suboccipital muscles, over the vertebral artery, may be recorded as the head.
    assert rules.needled_neck(["head"])
    assert not rules.needled_neck(["shoulder", "thorax"])
    assert not rules.needled_neck(None)


def test_a_sudden_headache_sight_or_balance_after_neck_needling_says_call_now_and_when_it_started():
    answers = {**CALM, "head_signs": "yes"}

    assert rules.reasons("24h", answers) == {rules.EMERGENCY: [rules.REASONS["head_signs"]]}
    keys = rules.advice("24h", answers, rules.EMERGENCY, neck=True)
    assert keys == ["call_emergency", "tell_them_neck", "clinic_alerted"]
    assert "started" in texts.ADVICE["tell_them_neck"].text
    assert "in your head or neck on {date}" in texts.ADVICE["tell_them_neck"].text
    assert "nhs-stroke-other" in texts.ADVICE["tell_them_neck"].sources
    # With sudden weakness too, they say once when it started, and where on the body.
    both = rules.advice("24h", {**answers, "numbness": "sudden"}, rules.EMERGENCY, neck=True)
    assert both == ["call_emergency", "tell_them_weakness", "clinic_alerted"]


def test_after_neck_needling_every_other_answer_repeats_the_neck_signs_after_the_red_flags():
    for kind, level in (("24h", rules.NONE), ("72h", rules.REVIEW), ("7d", rules.SAME_DAY)):
        keys = rules.advice(kind, {**CALM, "head_signs": "no"}, level, neck=True)
        assert keys[-2:] == ["red_flags", "red_flags_neck"]
        assert "red_flags_neck" not in rules.advice(kind, CALM, level)
    assert "seeing double" in texts.ADVICE["red_flags_neck"].text
    assert "after needling in your head or neck" in texts.PAGES["urgent_head"]
    assert texts.ENGLISH.urgent_signs(neck=True)[-1] == texts.PAGES["urgent_head"]
    assert texts.PAGES["urgent_head"] not in texts.ENGLISH.urgent_signs()


@pytest.mark.parametrize(
    ("written", "languages"),
    [
        ("Worst headache of my life and I am seeing double", None),
        ("So dizzy I keep falling over", None),
        ("Mal de tête terrible et je vois double", {"fr_CA"}),
        ("Dolor de cabeza horrible y veo doble", {"es"}),
    ],
)
def test_writing_about_a_headache_sight_or_dizziness_is_read_the_same_day_and_says_call_now(
    written, languages
):
    """ "Worst headache of my life and seeing double" waited two working days at the 48-hour
    check, where the question is not asked (a clinical review)."""
    answers = {"chest": "no", "other": written}

    assert rules.reasons("48h", answers, languages) == {
        rules.SAME_DAY: ["wrote about a headache, sight or dizziness"]
    }
    keys = rules.advice("48h", answers, rules.SAME_DAY, languages)
    assert keys[0] == "wrote_head"
    assert "call {emergency_number} now, even if it passes" in texts.ADVICE["wrote_head"].text


@pytest.mark.parametrize(
    ("written", "languages"),
    [
        ("Fever of 39 and chills since last night, I feel very unwell", None),
        ("Shivery and a high temperature today", None),
        ("J'ai de la fièvre et des frissons depuis hier soir", {"fr_CA"}),
        ("Desde anoche tengo fiebre de 39 y escalofríos, me siento muy mal", {"es"}),
    ],
)
def test_writing_about_a_fever_is_read_the_same_day_with_the_signs_of_sepsis(written, languages):
    """ "Fever of 39 and chills, I feel very unwell" waited two working days (a user review):
    an infection after needling, a deep one too, can show so before any site looks red."""
    answers = {**CALM, "other": written}

    assert rules.reasons("24h", answers, languages) == {
        rules.SAME_DAY: ["wrote about a fever, shivering or feeling very unwell"]
    }
    keys = rules.advice("24h", answers, rules.SAME_DAY, languages)
    assert keys[:3] == ["wrote_fever", "same_day", "sepsis"]
    assert "if_nobody_calls" in keys


def test_a_fever_ticked_without_a_site_sign_is_told_the_signs_of_sepsis_too():
    """Only a fever with a red, hot or swollen site was told what to call the emergency
    number for (a user review); a fever alone can be an infection starting deeper."""
    answers = {**CALM, "signs": ["fever"]}

    assert rules.escalation("24h", answers) == rules.SAME_DAY
    keys = rules.advice("24h", answers, rules.SAME_DAY)
    assert keys[:4] == ["same_day", "sepsis", "call_clinic", "if_nobody_calls"]
    site_only = rules.advice("24h", {**CALM, "signs": ["redness"]}, rules.SAME_DAY)
    assert "sepsis" not in site_only


def test_writing_about_a_chilled_drink_is_read_as_a_fever_too():
    """A crude screen by design: "chill" calls too often rather than too late."""
    assert rules.escalation("24h", {**CALM, "other": "Had a chilled drink, all fine"}) == (
        rules.SAME_DAY
    )
    assert rules.escalation("24h", {**CALM, "other": "A bit sore, nothing else"}) == rules.REVIEW


def test_writing_about_stiffness_or_a_visit_is_not_read_as_a_headache():
    for written in ("A little stiff in the morning.", "My visit went well, thank you."):
        assert rules.reasons("24h", {**CALM, "other": written}) == {
            rules.REVIEW: ["wrote to the clinic"]
        }


def test_chest_pain_and_bleeding_together_tell_them_both():
    keys = rules.advice("48h", {"chest": "yes", "bleeding": "wont_stop"}, rules.EMERGENCY)

    assert keys == [
        "press_first",
        "call_emergency",
        "tell_them",
        "tell_them_bleeding",
        "clinic_alerted",
    ]


def test_chest_pain_says_call_and_what_to_tell_them_without_pressing():
    keys = rules.advice("48h", {"chest": "yes"}, rules.EMERGENCY)

    assert keys == ["call_emergency", "tell_them", "clinic_alerted"]
    assert "near your chest, back, shoulder or neck on {date}" in texts.ADVICE["tell_them"].text


@pytest.mark.parametrize(
    ("signs", "told_to_go_today"),
    [
        (["redness", "fever"], True),
        (["pus", "fever"], True),
        (["warmth", "swelling", "fever"], True),
        (["redness"], False),
        (["fever"], False),
    ],
)
def test_a_site_sign_with_a_fever_says_to_see_a_doctor_today_not_to_wait(signs, told_to_go_today):
    """NHS advice on cellulitis: skin hot, swollen and painful with a high temperature is seen
    that day. The page once only said the clinic would call during its opening hours."""
    keys = rules.advice("24h", {**CALM, "signs": signs}, rules.SAME_DAY)

    assert (keys[0] == "infection_today") is told_to_go_today
    # Told not to wait, the patient is never told to wait for a call as well.
    assert ("if_nobody_calls" in keys) is not told_to_go_today
    assert ("same_day" in keys) is not told_to_go_today
    assert "{urgent_line}" in texts.ADVICE["infection_today"].text
    assert "nhs-cellulitis" in texts.ADVICE["infection_today"].sources
    # An infection reaching the blood does not wait for the doctor either (NHS: sepsis); a
    # fever with no site to show for it is told the same signs (a user review).
    assert ("sepsis" in keys) is ("fever" in signs)
    if told_to_go_today:
        assert keys.index("infection_today") < keys.index("sepsis")
        assert "confused" in texts.ADVICE["sepsis"].text
        assert texts.ADVICE["sepsis"].sources == ("nhs-sepsis",)


def test_a_same_day_answer_says_the_clinic_was_told_its_number_and_what_if_nobody_calls():
    keys = rules.advice("24h", {**CALM, "signs": ["redness"]}, rules.SAME_DAY)

    assert keys[:3] == ["same_day", "call_clinic", "if_nobody_calls"]
    assert "{clinic_phone}" in texts.ADVICE["call_clinic"].text
    assert "{urgent_line}" in texts.ADVICE["if_nobody_calls"].text


def test_the_usual_course_of_soreness_is_said_only_at_the_24_hour_check():
    assert "soreness_usual" in rules.advice("24h", CALM, rules.NONE)
    for kind in ("72h", "7d"):
        assert "soreness_usual" not in rules.advice(kind, CALM, rules.NONE)


def test_day_7_soreness_is_never_called_the_usual_course():
    answers = {"soreness": 6, "trend": "same", "signs": []}
    level = rules.escalation("7d", answers)

    keys = rules.advice("7d", answers, level)

    assert level == rules.REVIEW
    assert "soreness_usual" not in keys
    assert "review" in keys and "late_signs" in keys


def test_a_bruise_gets_a_cold_pack_and_no_aspirin_never_warmth():
    keys = rules.advice("24h", {**CALM, "bruising": "small"}, rules.NONE)
    bruise = texts.ADVICE["bruise"].text

    assert "bruise" in keys
    assert "cold pack wrapped in a cloth" in bruise and "10 to 20 minutes" in bruise
    assert "aspirin" in bruise
    for advice in texts.ADVICE.values():
        assert "warmth help" not in advice.text.lower()
        assert "warm compress" not in advice.text.lower()
        assert "heat" not in advice.text.lower()


@pytest.mark.parametrize("level", [rules.NONE, rules.REVIEW, rules.SAME_DAY])
def test_everyone_not_in_an_emergency_reads_the_red_flags_again(level):
    assert rules.advice("24h", CALM, level)[-1] == "red_flags"


def test_every_advice_and_red_flag_text_names_a_source_in_the_register():
    for key in ("press_first", "call_emergency", "tell_them", "same_day", "bruise", "red_flags"):
        assert texts.ADVICE[key].sources, key
    for advice in texts.ADVICE.values():
        assert all(source in REGISTER.sources for source in advice.sources)


def test_every_advice_a_rule_can_give_is_written():
    levels = (rules.EMERGENCY, rules.SAME_DAY, rules.REVIEW, rules.NONE)
    for kind in rules.Kind:
        for level in levels:
            for answers in (CALM, {**CALM, "bleeding": "wont_stop", "bruising": "large"}):
                assert set(rules.advice(kind, answers, level)) <= set(texts.ADVICE)


# --- the emergency number follows the clinic's country -----------------------------------------


@pytest.mark.parametrize(
    ("country", "number"),
    [
        ("GB", "999"),
        ("CA", "911"),
        ("US", "911"),
        ("AU", "000"),
        ("NZ", "111"),
        ("FR", "112"),
        ("DE", "112"),
        ("IE", "112"),
    ],
)
def test_each_countrys_emergency_number(country, number):
    assert clinic_rules.emergency_number(country) == number


def test_an_unknown_country_falls_back_to_112_which_mobiles_reach_in_most_countries():
    assert clinic_rules.emergency_number(None) == "112"


def test_the_uk_urgent_line_is_nhs_111():
    assert "NHS 111" in clinic_rules.urgent_line("GB")


# --- nothing escalated is left unread ------------------------------------------------------------


def test_an_emergency_nobody_acknowledged_goes_further_after_15_minutes_day_or_night():
    raised = local(LONDON, 2026, 12, 5, 23, 50)  # a Saturday night

    due = rules.acknowledge_by(rules.EMERGENCY, raised, LONDON, day_start_hour=8, day_end_hour=19)

    assert due == raised + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        ((2026, 12, 7, 10, 0), (2026, 12, 7, 12, 0)),  # Monday morning: two hours later
        ((2026, 12, 7, 18, 0), (2026, 12, 8, 9, 0)),  # one hour today, one tomorrow
        ((2026, 12, 4, 18, 30), (2026, 12, 7, 9, 30)),  # Friday evening: Monday morning
        ((2026, 12, 5, 11, 0), (2026, 12, 7, 10, 0)),  # Saturday: from Monday's opening
        ((2026, 12, 7, 6, 0), (2026, 12, 7, 10, 0)),  # before opening
    ],
)
def test_a_same_day_answer_goes_further_after_two_working_hours(raised, expected):
    due = rules.acknowledge_by(
        rules.SAME_DAY, local(LONDON, *raised), LONDON, day_start_hour=8, day_end_hour=19
    )

    assert due == local(LONDON, *expected)


def test_working_hours_follow_the_clinics_own_days_and_zone():
    raised = local(TORONTO, 2026, 12, 5, 12, 0)  # a Saturday, open at this clinic

    due = rules.acknowledge_by(
        rules.SAME_DAY,
        raised,
        TORONTO,
        day_start_hour=9,
        day_end_hour=17,
        working_days="123456",
    )

    assert due == local(TORONTO, 2026, 12, 5, 14, 0)


def test_a_review_answer_goes_further_at_the_end_of_its_second_working_day():
    raised = local(LONDON, 2026, 12, 4, 15, 0)  # Friday afternoon

    due = rules.acknowledge_by(rules.REVIEW, raised, LONDON, day_start_hour=8, day_end_hour=19)

    # Four hours of Friday, eleven of Monday, the last seven on Tuesday: what "within two
    # working days" promised the patient.
    assert due == local(LONDON, 2026, 12, 8, 15, 0)


def test_a_chest_check_nobody_answered_or_called_about_goes_further_after_two_working_hours():
    raised = local(LONDON, 2026, 12, 4, 21, 0)  # put on the list on a Friday night

    due = rules.acknowledge_by(rules.NO_ANSWER, raised, LONDON, day_start_hour=8, day_end_hour=19)

    assert due == local(LONDON, 2026, 12, 7, 10, 0)  # two hours into Monday


def test_the_duty_address_reads_which_silence_waited_and_how_long_without_patient_details():
    message = rules.duty_escalation(
        level=rules.NO_ANSWER, clinic="Harbour Physio", link="https://x.test/sessions/7"
    )

    assert message.subject == "NeedleSafe: a chest check nobody answered at Harbour Physio"
    assert "did not answer the 48-hour chest check" in message.text
    assert "for 2 working hours" in message.text
    assert "https://x.test/sessions/7" in message.text


@pytest.mark.parametrize(
    ("calls", "said"),
    [
        (0, "check the contact details the clinic holds"),
        (2, "the practitioner's calls since (2) found no reply"),
    ],
)
def test_the_duty_address_reads_that_a_chest_check_never_reached_the_patient(calls, said):
    """Not "did not answer": the check was never sent, so the address may be wrong."""
    message = rules.duty_escalation(
        level=rules.NO_ANSWER,
        clinic="Harbour Physio",
        link="https://x.test/sessions/7",
        calls=calls,
        not_sent=True,
    )

    assert message.subject == (
        "NeedleSafe: a chest check that never reached the patient at Harbour Physio"
    )
    assert "never reached them" in message.text and said in message.text
    assert "did not answer" not in message.text
    assert "https://x.test/sessions/7" in message.text


def test_an_answer_that_needs_nothing_never_goes_further():
    assert (
        rules.acknowledge_by(
            rules.NONE, datetime.now(UTC), LONDON, day_start_hour=8, day_end_hour=19
        )
        is None
    )


# --- the register carries the numbers the code uses ----------------------------------------------


def test_the_thresholds_in_the_register_are_the_thresholds_the_rules_use():
    values = {t["id"]: t["value"] for t in REGISTER.followup["thresholds"]}

    assert values == {
        "review_soreness_24h": rules.REVIEW_SORENESS_24H,
        "review_soreness_later": rules.REVIEW_SORENESS_LATER,
        "needs_72h_soreness": rules.NEEDS_72H_SORENESS,
        "bleeding_pressure_minutes": 10,
        "emergency_ack_minutes": rules.EMERGENCY_ACK // timedelta(minutes=1),
        "same_day_ack_working_hours": rules.SAME_DAY_ACK_WORKING_HOURS,
        "review_within_working_days": rules.REVIEW_WITHIN_WORKING_DAYS,
        "link_lifetime_days": rules.LINK_LIFETIME.days,
        "chest_silence_hours": rules.CHEST_SILENCE // timedelta(hours=1),
        "chest_silence_ends_hours": rules.CHEST_SILENCE_ENDS // timedelta(hours=1),
        "silence_ack_working_hours": rules.SILENCE_ACK_WORKING_HOURS,
    }
    assert "10 minutes" in texts.QUESTIONS["bleeding"].options[2][1]


def test_every_check_a_patient_can_be_sent_is_explained_in_the_register():
    explained = {check["kind"] for check in REGISTER.followup["checks"]}

    assert {str(kind) for kind in rules.Kind} <= explained


# --- staff read what the patient wrote ------------------------------------------------------------


def test_staff_read_every_question_the_patient_answered_and_the_free_text():
    lines = rules.answer_lines(
        {**CALM, "signs": ["pus", "fever"], "other": "The site on my shoulder is hot."}
    )
    said = dict(lines)

    assert said["Soreness now (0-10)"] == "2/10"
    assert (
        said["Infection signs at a site"]
        == "Pus or other discharge, A fever, or feeling hot and shivery"
    )
    assert said["Written by the patient"] == "The site on my shoulder is hot."
    assert len(lines) == len(CALM) + 1


def test_questions_an_urgent_answer_left_out_read_not_answered_and_the_free_text_never_does():
    asked = rules.questions_for(rules.Kind.DAY_1, near_lung=True)
    # Stored before empty signs from an unfinished form were dropped: the [] is no "none".
    answers = {"chest": "yes", "signs": []}

    missing = rules.unanswered(asked, answers)
    said = dict(rules.answer_lines(answers, unanswered=missing))

    assert "other" not in missing and "signs" in missing and "soreness" in missing
    assert said["Infection signs at a site"] == "Not answered"
    assert said["Soreness now (0-10)"] == "Not answered"
    assert "Written by the patient" not in said
    # A complete answer's empty signs are the patient's "none".
    assert rules.unanswered(asked, {**CALM, "chest": "no", "signs": []}) == ()


def test_only_questions_left_out_make_empty_signs_unanswered_not_a_long_free_text():
    long_text = {"other": "The free text is too long."}

    assert rules.partial_answers({**CALM, "signs": []}, long_text)["signs"] == []
    assert "signs" not in rules.partial_answers({"chest": "yes", "signs": []}, {"soreness": "x"})


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ({"signs": ["redness"]}, "spreading redness"),
        ({"bruising": "large"}, "a bruise that is large or spreading"),
        ({"numbness": "yes"}, "new numbness or tingling, weakness that came on slowly"),
        ({"fainted": "yes"}, "if you faint"),
        ({"needle_found": "yes"}, "a needle or a piece of one in your skin"),
    ],
)
def test_the_red_flags_name_every_sign_that_makes_an_answer_same_day(answers, words):
    """A patient rereading the red flags learns every sign the clinic treats as same-day."""
    assert rules.escalation("24h", {**CALM, **answers}) == rules.SAME_DAY
    assert words in texts.ADVICE["red_flags"].text
