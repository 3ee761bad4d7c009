"""Everything a patient reads after a session: the questions, their answers, the advice.

One place, so the whole of it can be read, and reviewed by a clinician, at once. It is written
for a person who may be sore and worried: plain words, one thing to do at a time, the number
to call as a link they can tap. Each red-flag text names its source (the register's source
ids, DESIGN §4). Staff read the same questions back in their own short words (`staff`), so a
record shows exactly what the patient was asked and answered.

No Flask or SQLAlchemy here; placeholders in braces are filled by `followup.rules.advice`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    """One question of a follow-up form."""

    #: The question as the patient reads it.
    text: str
    #: The same question in a few words, for staff reading the answers.
    staff: str
    #: scale (0-10), choice (one), signs (any of), text (free, optional).
    kind: str
    #: (code, what the patient reads) in the order shown.
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    #: Said beside the question when it was left out.
    missing: str = ""


QUESTIONS: dict[str, Question] = {
    "soreness": Question(
        text="How sore are the needled areas now?",
        staff="Soreness now (0-10)",
        kind="scale",
        hint="0 means no soreness at all, 10 the worst you can imagine.",
        missing="Choose a number from 0 (no soreness) to 10 (the worst).",
    ),
    "trend": Question(
        text="Compared with right after your appointment, is it…",
        staff="Compared with right after",
        kind="choice",
        options=(("better", "Better"), ("same", "About the same"), ("worse", "Worse")),
        missing="Tell us whether it is better, the same or worse.",
    ),
    "bleeding": Question(
        text="Any bleeding from a needle site since you left?",
        staff="Bleeding since leaving",
        kind="choice",
        options=(
            ("none", "No"),
            ("stopped", "Yes, but it stopped when I pressed on it"),
            ("wont_stop", "Yes, and it is still bleeding after 10 minutes of firm pressure"),
        ),
        missing="Tell us about any bleeding since you left.",
    ),
    "bruising": Question(
        text="Any bruising around the needle sites?",
        staff="Bruising",
        kind="choice",
        options=(
            ("none", "No"),
            ("small", "A small bruise"),
            ("large", "A large bruise, or one that is spreading"),
        ),
        missing="Tell us about any bruising.",
    ),
    "signs": Question(
        text="Do you notice any of these at a needle site?",
        staff="Infection signs at a site",
        kind="signs",
        hint="Tick any that apply, or leave them all empty if none.",
        options=(
            ("redness", "Redness that is spreading"),
            ("warmth", "Warmth"),
            ("swelling", "Swelling"),
            ("pus", "Pus or other discharge"),
            ("fever", "A fever, or feeling hot and shivery"),
        ),
        missing="Choose from the listed signs.",
    ),
    "numbness": Question(
        text="Since the appointment, have you had new numbness, tingling or weakness?",
        staff="New numbness, tingling or weakness",
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please tell us about numbness, tingling or weakness.",
    ),
    "fainted": Question(
        text="Have you fainted since you left the clinic?",
        staff="Fainted since leaving",
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please tell us whether you have fainted.",
    ),
    "needle_found": Question(
        text="Have you found a needle, or a piece of one, in your skin?",
        staff="Needle or a piece found in the skin",
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please tell us whether you found a needle in your skin.",
    ),
    "chest": Question(
        text="Since the appointment, have you had chest pain, pain when breathing in, "
        "or been short of breath?",
        staff="Chest pain, pain breathing in or breathlessness since the appointment",
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please answer this question about your chest and breathing.",
    ),
    "other": Question(
        text="Anything else you would like us to know? (optional)",
        staff="Written by the patient",
        kind="text",
        hint="A person at the clinic reads everything written here.",
    ),
}

#: What each check asks the patient, in order. The chest question joins the 24-hour check
#: only after needling near the lung (see rules.questions_for).
FORM_INTROS = {
    "24h": "It takes about a minute.",
    "48h": "One question about your chest and breathing, as you had needling near the "
    "chest, back, shoulder or neck.",
    "72h": "We would like to check that your soreness is settling.",
    "7d": "We would like to check the needle sites one last time.",
}

#: Shown at the top of every form, before any question.
URGENT_NOTE = (
    "If you have chest pain, trouble breathing, or bleeding that will not stop after "
    "10 minutes of firm pressure, call {emergency_number} now."
)


@dataclass(frozen=True)
class Advice:
    """One block of advice on the page a patient sees after answering."""

    text: str
    #: Register source ids the advice rests on.
    sources: tuple[str, ...] = ()


ADVICE: dict[str, Advice] = {
    # --- emergency: the patient sees at once what to do
    "press_first": Advice(
        "Keep pressing firmly on the bleeding spot with a clean cloth or pad. "
        "Do not lift it to look.",
        ("nhs-bleeding",),
    ),
    "call_emergency": Advice("Call {emergency_number} now.", ("nhs-pneumothorax", "nhs-bleeding")),
    "tell_them": Advice(
        "Tell them you had dry needling near your chest, back, shoulder or neck on {date}.",
        ("nhs-pneumothorax",),
    ),
    "clinic_alerted": Advice("We have also told {clinic}. Calling {emergency_number} comes first."),
    # --- same day
    "same_day": Advice(
        "What you told us should be looked at today. We have told {clinic}: someone will "
        "contact you during opening hours.",
        ("nhs-cellulitis", "nhs-bruises"),
    ),
    "call_clinic": Advice("You can call {clinic} on {clinic_phone}."),
    "if_nobody_calls": Advice(
        "If nobody has called you by the end of today, or you feel worse before then, "
        "contact your doctor or {urgent_line}.",
        ("nhs-111",),
    ),
    # --- review
    "review": Advice(
        "A person at {clinic} will read your answers within two working days and contact "
        "you if needed.",
        ("needlesafe-policy",),
    ),
    # --- self-care, by what was answered
    "bruise": Advice(
        "For a bruise: hold a cold pack wrapped in a cloth on it for 10 to 20 minutes, a few "
        "times a day. Do not take aspirin unless a doctor prescribed it for you.",
        ("nhs-bruises",),
    ),
    "soreness_usual": Advice(
        "Soreness after dry needling usually starts within hours and settles within about "
        "72 hours. Gentle movement helps: keep to your normal activities as far as you can.",
        ("martin-pintado-2018", "hong-1994"),
    ),
    "soreness_settling": Advice(
        "Good to hear the soreness is settling. Gentle movement helps it along.",
        ("martin-pintado-2018",),
    ),
    "late_signs": Advice(
        "In the coming weeks, tell {clinic} about a lump, a sore or any discharge at a needle "
        "site. Rarely, an infection from needling shows only weeks later.",
        ("tang-2006",),
    ),
    # --- the red flags, repeated to everyone who is not in an emergency
    "red_flags": Advice(
        "Call {emergency_number} at once for chest pain, pain when breathing in or "
        "breathlessness, or bleeding that does not stop after 10 minutes of firm pressure. "
        "Contact {clinic} the same day for spreading redness, warmth, swelling or pus at a "
        "needle site, a fever, a bruise that is large or spreading, new numbness, tingling or "
        "weakness, if you faint, or if you find a needle or a piece of one in your skin.",
        ("nhs-pneumothorax", "nhs-bleeding", "nhs-cellulitis", "nhs-bruises"),
    ),
}

#: The page title after answering, by escalation level.
ADVICE_TITLES = {
    "emergency": "Call {emergency_number} now",
    "same_day": "We have told your clinic",
    "review": "Thank you, {first_name}",
    "none": "Thank you, {first_name}",
}

ANSWERED_TITLE = "You answered on {answered}, thank you"
ANSWERED_TEXT = (
    "{clinic} has your answers. If something has changed since, call {clinic} on "
    "{clinic_phone}. In an emergency, call {emergency_number}."
)
EXPIRED_TITLE = "This link has expired"
EXPIRED_TEXT = (
    "Links work for seven days after the appointment. If you need to tell {clinic} "
    "something, call them on {clinic_phone}. In an emergency, call {emergency_number}."
)
#: When a clinic has no phone number on file yet.
NO_PHONE = "their usual number"
