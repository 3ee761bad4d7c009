"""Everything a patient reads after a session: the questions, their answers, the advice.

One place, so the whole of it can be read, and reviewed by a clinician, at once. It is written
for a person who may be sore and worried: plain words, one thing to do at a time, the number
to call as a link they can tap. Each red-flag text names its source (the register's source
ids, DESIGN §4). Staff read the same questions back in their own short words (`staff`), so a
record shows exactly what the patient was asked and answered.

Each language a patient can read (safety.languages) has its own module beside this one
(`texts_fr_ca`, `texts_es`) holding the same keys in the same order, so a reviewer reads the
English and the translation side by side; `for_language` builds the texts a page or message
uses, with the codes, the staff wording and the sources always the English ones, so what is
recorded, flagged and cited never depends on the language. A test holds every key present in
every language and every placeholder kept (tests/unit/test_patient_texts.py).

No Flask or SQLAlchemy here; placeholders in braces are filled by `display.patient_text` and
`rules.patient_message`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from types import ModuleType

from babel import dates as babel_dates

from safety.clinics import rules as clinic_rules
from safety.followup import texts_es, texts_fr_ca
from safety.languages import N_


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
        staff=N_("Soreness now (0-10)"),
        kind="scale",
        hint="0 means no soreness at all, 10 the worst you can imagine.",
        missing="Choose a number from 0 (no soreness) to 10 (the worst).",
    ),
    "trend": Question(
        text="Compared with right after your appointment, is it…",
        staff=N_("Compared with right after"),
        kind="choice",
        options=(("better", "Better"), ("same", "About the same"), ("worse", "Worse")),
        missing="Tell us whether it is better, the same or worse.",
    ),
    "bleeding": Question(
        text="Any bleeding from a needle site since you left?",
        staff=N_("Bleeding since leaving"),
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
        staff=N_("Bruising"),
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
        staff=N_("Infection signs at a site"),
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
        staff=N_("New numbness, tingling or weakness"),
        kind="choice",
        # Sudden weakness of a limb, a drooping face or slurred speech is how a stroke, or a
        # bleed pressing on the spinal cord after needling near the neck or spine, shows: it
        # is an emergency, not a call back from the clinic the same day (a clinical review).
        options=(
            ("no", "No"),
            # The slow kind first, said as such, so that sudden weakness is not ticked here.
            ("yes", "Yes, numbness or tingling, or weakness that came on slowly"),
            (
                "sudden",
                "Yes, and it came on suddenly: an arm or leg that is weak (more than sore where "
                "the needles went), one side of the face drooping, or trouble speaking",
            ),
        ),
        missing="Please tell us about numbness, tingling or weakness.",
    ),
    # Asked after needling in the head or neck (rules.NECK_REGIONS): the vertebral arteries run
    # up through the neck to the back of the brain, where a stroke can show as these as well
    # as, or instead of, FAST's face, arm and speech (NHS: its other symptoms). Each comes on
    # suddenly; the hint keeps the usual soreness and a familiar mild headache out of it.
    "head_signs": Question(
        text="Since the appointment, has any of these come on suddenly, even if it has passed: "
        "a very bad headache unlike any you have had before; loss or blurring of sight, or "
        "seeing double; or dizziness with trouble keeping your balance or walking straight?",
        staff=N_(
            "Sudden severe headache, loss or blurring of sight or double vision, or dizziness "
            "with loss of balance"
        ),
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        hint="Soreness or stiffness where the needles went, or a mild headache like ones you "
        "have had before, is common after needling: answer No for that.",
        missing="Please answer this question about headache, sight and balance.",
    ),
    "fainted": Question(
        text="Have you fainted since you left the clinic?",
        staff=N_("Fainted since leaving"),
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please tell us whether you have fainted.",
    ),
    "needle_found": Question(
        text="Have you found a needle, or a piece of one, in your skin?",
        staff=N_("Needle or a piece found in the skin"),
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please tell us whether you found a needle in your skin.",
    ),
    "chest": Question(
        text="Since the appointment, have you had chest pain, pain when breathing in, "
        "or been short of breath?",
        staff=N_("Chest pain, pain breathing in or breathlessness since the appointment"),
        kind="choice",
        options=(("no", "No"), ("yes", "Yes")),
        missing="Please answer this question about your chest and breathing.",
    ),
    "other": Question(
        text="Anything else you would like us to know? (optional)",
        staff=N_("Written by the patient"),
        kind="text",
        # When, and what not to wait for: chest pain written here once waited two working days.
        hint="A person at the clinic reads everything written here within two working days. "
        "Do not wait for that with chest pain, trouble breathing, bleeding that will not "
        "stop, or sudden weakness or trouble speaking: call {emergency_number}.",
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
#: A list, one sign a line: said as one sentence of six conditions, it was hard to read for
#: a person who is sore and worried (a clinical review).
URGENT_NOTE = "Call {emergency_number} now if you have:"
URGENT_SIGNS = ("urgent_chest", "urgent_bleeding", "urgent_weakness")
#: After needling in the head or neck, the stroke signs of the back of the brain too.
URGENT_SIGNS_NECK = (*URGENT_SIGNS, "urgent_head")


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
    "call_emergency": Advice(
        "Call {emergency_number} now.",
        ("nhs-pneumothorax", "nhs-bleeding", "nhs-stroke", "nhs-stroke-other"),
    ),
    "tell_them": Advice(
        "Tell them you had dry needling near your chest, back, shoulder or neck on {date}.",
        ("nhs-pneumothorax",),
    ),
    # Said for bleeding alone: pointing the ambulance service at the chest when the hip bleeds
    # sends it looking for a collapsed lung.
    "tell_them_bleeding": Advice(
        "Tell them a needle site from your dry needling on {date} is still bleeding after 10 "
        "minutes of firm pressure, and whether you take a medicine that thins the blood.",
        ("nhs-bleeding",),
    ),
    # The time it started decides the treatment of a stroke: the first thing they will ask.
    "tell_them_weakness": Advice(
        "Tell them what time the weakness, drooping or trouble speaking started, even if it "
        "has gone, and that you had dry needling on {date} and where on your body. Do not "
        "drive yourself.",
        ("nhs-stroke", "nhs-stroke-treatment", "lee-2011"),
    ),
    # The same first question for a headache, sight or balance after needling in the head or
    # neck; said once when weakness came with it (tell_them_weakness names where on the body).
    "tell_them_neck": Advice(
        "Tell them what time it started, even if it has gone, and that you had dry needling "
        "in your head or neck on {date}. Do not drive yourself.",
        ("nhs-stroke-other", "nhs-stroke-treatment"),
    ),
    # Honest about hours: at night the clinic may read it only when it opens.
    "clinic_alerted": Advice(
        "We have also told {clinic}, who may not see it until they are open. Calling "
        "{emergency_number} comes first."
    ),
    # --- same day
    "wrote_red_flag": Advice(
        "You wrote about your chest, breathing or bleeding. If you have chest pain, pain when "
        "breathing in, breathlessness, or bleeding that does not stop after 10 minutes of "
        "firm pressure, call {emergency_number} now: do not wait for us.",
        ("nhs-pneumothorax", "nhs-bleeding"),
    ),
    "wrote_weakness": Advice(
        "You wrote about weakness, your face or your speech. If an arm or leg is suddenly "
        "weak, one side of your face droops or you have trouble speaking, call "
        "{emergency_number} now, even if it passes: do not wait for us.",
        ("nhs-stroke", "lee-2011"),
    ),
    # Double vision is not on the NHS list: added as clinical judgement (a clinical review).
    "wrote_head": Advice(
        "You wrote about a headache, your sight or dizziness. If a very bad headache came on "
        "suddenly, your sight is suddenly lost, blurred or double, or you are suddenly dizzy "
        "and cannot keep your balance, call {emergency_number} now, even if it passes: do not "
        "wait for us.",
        ("nhs-stroke-other", "needlesafe-policy"),
    ),
    "wrote_fever": Advice(
        "You wrote about a fever, shivering or feeling very unwell: after needling, that can be "
        "an infection starting.",
        ("nhs-cellulitis", "nhs-sepsis"),
    ),
    "infection_today": Advice(
        "A needle site that is red, hot, swollen or weeping, with a fever, can be an infection "
        "that needs treatment today. Contact your doctor or {urgent_line} today: do not wait "
        "for us to call. We have told {clinic} too.",
        ("nhs-cellulitis", "nhs-111"),
    ),
    # An infection that spreads to the blood shows so (NHS: sepsis): not a day to wait.
    "sepsis": Advice(
        "Call {emergency_number} now if you also feel very unwell: confused, slurred or very "
        "sleepy, breathing very fast or breathless, or with skin, lips or tongue that are "
        "blue, grey, pale or blotchy.",
        ("nhs-sepsis",),
    ),
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
        "breathlessness, bleeding that does not stop after 10 minutes of firm pressure, or an "
        "arm or leg that is suddenly weak, a drooping face or trouble speaking. "
        "Call {clinic} on {clinic_phone} the same day for spreading redness, warmth, swelling "
        "or pus at a needle site, a fever, a bruise that is large or spreading, new numbness or "
        "tingling, weakness that came on slowly, if you faint, or if you find a needle or a "
        "piece of one in your skin.",
        ("nhs-pneumothorax", "nhs-bleeding", "nhs-stroke", "nhs-cellulitis", "nhs-bruises"),
    ),
    # Said after red_flags to a patient whose head or neck was needled, whatever the check.
    "red_flags_neck": Advice(
        "As you had needling in your head or neck, also call {emergency_number} at once for a "
        "sudden very bad headache unlike any you have had before, sudden loss or blurring of "
        "sight or seeing double, or sudden dizziness with trouble keeping your balance.",
        ("nhs-stroke-other", "needlesafe-policy"),
    ),
}

#: The page title after answering, by escalation level.
ADVICE_TITLES = {
    "emergency": "Call {emergency_number} now",
    "same_day": "We have told your clinic",
    "review": "Thank you, {first_name}",
    "none": "Thank you, {first_name}",
}

#: Every other sentence of the patient's pages and messages, by key.
PAGES = {
    # the form
    "form_title": "How are you feeling?",
    "form_heading": "How are you feeling, {first_name}?",
    "form_lead": "After your appointment at {clinic} on {date}.",
    "urgent_note": URGENT_NOTE,
    "urgent_chest": "chest pain or trouble breathing",
    "urgent_bleeding": "bleeding that will not stop after 10 minutes of firm pressure",
    "urgent_weakness": "an arm or leg that is suddenly weak, a drooping face or trouble speaking",
    "urgent_head": "after needling in your head or neck: a sudden very bad headache unlike any "
    "before, sudden loss or blurring of sight or seeing double, or sudden dizziness with trouble "
    "keeping your balance",
    "form_errors": "Please answer the questions marked below",
    "too_long": "Please keep this under {max_length} characters.",
    "send": "Send my answers",
    "sent": "Your answers have been sent. You can close this page.",
    # a link that takes no answer
    "answered_title": "You answered on {answered}, thank you",
    "answered_text": "{clinic} has your answers. If something has changed since, call {clinic} "
    "on {clinic_phone}. In an emergency, call {emergency_number}.",
    "answered_advice": "What we told you when you answered",
    "expired_title": "This link has expired",
    "expired_text": "Links work for seven days after the message was sent. If you need to tell "
    "{clinic} something, call them on {clinic_phone}. In an emergency, call "
    "{emergency_number}.",
    "gone_title": "This link cannot be used",
    "gone_text": "This link has expired, has already been used, or is not complete. If you are "
    "worried about how you feel, please call your clinic. If it is an emergency, call "
    "emergency services now.",
    #: When a clinic has no phone number on file yet.
    "no_phone": "their usual number",
    # stopping messages
    "stop_title": "Stop messages",
    "stop_heading": "Stop follow-up messages?",
    "stop_text": "We will not send you any more follow-up messages after treatment. You can ask "
    "your clinic to start them again at any time.",
    "stop_button": "Stop all messages",
    "stopped_title": "Messages stopped",
    "stopped_text": "You will not get any more follow-up messages from us. If you are worried "
    "about how you feel, please call your clinic.",
    # the switch between languages
    "language": "Language",
    # the message with the link (e-mail or text message)
    "message_subject": "{clinic}: how are you after your appointment?",
    "message_hello": "Hello {first_name}, this is {clinic}.",
    "message_reminder_hello": "Hello {first_name}, a gentle reminder from {clinic}.",
    "message_ask": "How are you feeling after your appointment on {date}? It takes about a "
    "minute to tell us:",
    # The 48-hour check asks one question of its own, and may arrive beside the 24-hour
    # check's reminder: it must not read as the same message again (still no clinical word).
    "message_subject_48h": "{clinic}: one more question, two days after your appointment",
    "message_ask_48h": "We have one more short question, two days after your appointment on "
    "{date}. Please answer it even if you answered us yesterday:",
    "message_stop": "To stop these messages:",
}

#: Where to turn when it is urgent but not an emergency, by the clinic's country.
URGENT_LINES = {**clinic_rules.URGENT_LINES, "": clinic_rules.DEFAULT_URGENT_LINE}

# Kept under their old names: the English texts some callers and tests read directly.
ANSWERED_TITLE = PAGES["answered_title"]
ANSWERED_TEXT = PAGES["answered_text"]
EXPIRED_TITLE = PAGES["expired_title"]
EXPIRED_TEXT = PAGES["expired_text"]
NO_PHONE = PAGES["no_phone"]


@dataclass(frozen=True)
class PatientTexts:
    """Everything a patient reads, in one language."""

    language: str
    questions: dict[str, Question]
    form_intros: dict[str, str]
    advice: dict[str, Advice]
    advice_titles: dict[str, str]
    pages: dict[str, str]
    urgent_lines: dict[str, str]

    def field_labels(self, names: Iterable[str]) -> dict[str, str]:
        """Name each question for the form's error summary: no name at all. Each message is a
        whole sentence in the patient's words ("Please tell us whether you found a needle in
        your skin."); staff's few words before it ("Needle or a piece found in the skin")
        mixed two voices on the patient's page."""
        return {name: "" for name in names}

    def urgent_signs(self, *, neck: bool = False) -> list[str]:
        """The signs to call the emergency number for, one a line, under `urgent_note`; with
        those of a stroke at the back of the brain after needling in the neck."""
        return [self.pages[key] for key in (URGENT_SIGNS_NECK if neck else URGENT_SIGNS)]

    def urgent_line(self, country: str | None) -> str:
        return self.urgent_lines.get(country or "", self.urgent_lines[""])

    def urgent_number(self, country: str | None) -> str | None:
        """The number inside `urgent_line` (the same in every language), to make it a link."""
        return clinic_rules.URGENT_NUMBERS.get(country or "")

    def date(self, value: date) -> str:
        """Write a date out in full ("6 December 2026", "6 décembre 2026")."""
        if self.language == "en":
            return f"{value.day} {value:%B %Y}"
        return babel_dates.format_date(value, "long", locale=self.language)

    def day_month(self, value: date) -> str:
        """Write a day and month ("6 December", "6 décembre", "6 de diciembre")."""
        if self.language == "en":
            return f"{value.day} {value:%B}"
        return babel_dates.format_skeleton("MMMMd", value, locale=self.language)


ENGLISH = PatientTexts("en", QUESTIONS, FORM_INTROS, ADVICE, ADVICE_TITLES, PAGES, URGENT_LINES)


def _translated(language: str, module: ModuleType) -> PatientTexts:
    """Build a language's texts on the English ones: its words, the English codes, staff
    wording and sources (a missing key fails here, at import, not in front of a patient)."""
    questions = {}
    for name, question in QUESTIONS.items():
        said = module.QUESTIONS[name]
        questions[name] = replace(
            question,
            text=said["text"],
            hint=said.get("hint", ""),
            missing=said.get("missing", ""),
            options=tuple((code, said["options"][code]) for code, _ in question.options),
        )
    advice = {key: replace(item, text=module.ADVICE[key]) for key, item in ADVICE.items()}
    return PatientTexts(
        language,
        questions,
        {kind: module.FORM_INTROS[kind] for kind in FORM_INTROS},
        advice,
        {level: module.ADVICE_TITLES[level] for level in ADVICE_TITLES},
        {key: module.PAGES[key] for key in PAGES},
        {country: module.URGENT_LINES[country] for country in URGENT_LINES},
    )


BY_LANGUAGE: dict[str, PatientTexts] = {
    "en": ENGLISH,
    "fr_CA": _translated("fr_CA", texts_fr_ca),
    "es": _translated("es", texts_es),
}


def for_language(language: str | None) -> PatientTexts:
    """Return the patient texts in a language (English for one we do not have)."""
    return BY_LANGUAGE.get(language or "en", ENGLISH)
