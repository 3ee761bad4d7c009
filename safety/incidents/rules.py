"""Incident rules: the choices a report offers, the post-exposure steps and when an untouched
urgent step alerts the clinic lead, what a report must hold, where an event should be reported
outside the clinic, and what the sharps injury log shows. Pure: no Flask, no SQLAlchemy.

Every clinical step and every time limit carries its source; a limit that is a design choice
says so ("clinic policy"). One file of about 670 lines: it is the table of choices, steps and
sources a clinician reviews in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from safety.languages import N_, Said
from safety.packs import rules as packs_rules


class Kind(StrEnum):
    """What an incident is."""

    SHARPS_INJURY = "sharps_injury"
    ADVERSE_EVENT = "adverse_event"
    NEAR_MISS = "near_miss"


KIND_LABELS: dict[str, str] = {
    Kind.SHARPS_INJURY: N_("Needlestick or sharps injury"),
    Kind.ADVERSE_EVENT: N_("Adverse event"),
    Kind.NEAR_MISS: N_("Near miss"),
}


@dataclass(frozen=True)
class Choice:
    code: str
    label: str


def _choices(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(code, label) for code, label in pairs)


def label_of(choices: Collection[Choice], code: str | None) -> str:
    """Return a code's words, or the code itself when it is not one of the choices."""
    for choice in choices:
        if choice.code == code:
            return choice.label
    return code or ""


def codes(choices: Collection[Choice]) -> frozenset[str]:
    return frozenset(c.code for c in choices)


# --- the sharps injury report: short structured choices in the style of EPINet ---------------
# EPINet (International Safety Center, Exposure Prevention Information Network) sharps injury
# form: device, purpose, when and how the injury happened, body site. OSHA 29 CFR
# 1910.1030(h)(5)(i) asks the log for the type and brand of device, the work area, and an
# explanation of how the incident occurred.

DEVICE_TYPES = _choices(
    ("filiform_needle", N_("Filiform (dry needling / acupuncture) needle")),
    ("guide_tube", N_("Guide tube")),
    ("hypodermic_needle", N_("Hypodermic needle")),
    ("lancet", N_("Lancet")),
    ("other_sharp", N_("Other sharp item")),
)
PURPOSES = _choices(
    ("needling", N_("Dry needling treatment")),
    ("removing", N_("Removing needles from the patient")),
    ("cleaning_up", N_("Clearing the treatment area")),
    ("disposal", N_("Disposal into the sharps container")),
    ("other", N_("Other")),
)
HOW = _choices(
    ("during_use", N_("During use on the patient")),
    ("patient_moved", N_("Patient moved suddenly")),
    ("after_use_before_disposal", N_("After use, before disposal")),
    ("recapping", N_("Recapping or re-sheathing")),
    ("during_disposal", N_("Putting it into the sharps container")),
    ("overfilled_container", N_("Sharps container overfilled or sticking out")),
    ("left_on_surface", N_("Left on the couch, tray, floor or in linen")),
    ("other", N_("Other")),
)
BODY_SITES = _choices(
    ("finger", N_("Finger")),
    ("thumb", N_("Thumb")),
    ("hand", N_("Hand (palm or back)")),
    ("wrist_arm", N_("Wrist or arm")),
    ("face", N_("Face, eye or mouth")),
    ("leg_foot", N_("Leg or foot")),
    ("other", N_("Other")),
)

# --- adverse events and near misses ------------------------------------------------------------

EVENT_TYPES = _choices(
    ("fainting", N_("Fainting")),
    ("pneumothorax_suspected", N_("Pneumothorax suspected")),
    ("retained_or_broken_needle", N_("Retained or broken needle")),
    ("infection", N_("Infection at a needle site")),
    ("burn", N_("Burn")),
    ("wrong_patient_or_site", N_("Wrong patient or wrong site")),
    ("damaged_or_unsterile_pack", N_("Damaged or unsterile pack found")),
    ("other", N_("Other")),
)


class Grade(StrEnum):
    MILD = "mild"
    SIGNIFICANT = "significant"
    SERIOUS = "serious"


GRADES = _choices(
    (Grade.MILD, N_("Mild: no lasting harm, no treatment beyond first aid")),
    (Grade.SIGNIFICANT, N_("Significant: needed treatment or follow-up")),
    (Grade.SERIOUS, N_("Serious: hospital care, lasting harm, or life at risk")),
)

#: What a checklist or follow-up flag suggests happened, when "record as an incident" is chosen
#: from it: the flag kinds of `checklists.rules.flags_for` and the escalation levels.
FLAG_EVENTS: dict[str, str] = {
    "broken_needle": "retained_or_broken_needle",
    # What made the patient unfit to leave is for the reporter to choose (a faint, a suspected
    # collapsed lung, something else): the flag's message is the description.
    "not_fit_to_leave": "other",
    # Compliance asks the practitioner whether any needle went in; where one did and was never
    # counted out (a faint mid-session, a needle not found), that is recorded as an incident.
    "cancelled_after_time_out": "other",
    "count_discrepancy": "retained_or_broken_needle",
    "reaction": "fainting",
    "emergency": "other",
    "same_day": "other",
    "prolonged_bleeding": "other",
    "large_bruise": "other",
}


def incident_from_flag(flag_kind: str, message: str) -> dict[str, str] | None:
    """Return how a flag prefills an adverse event report, or None if it is no incident."""
    event = FLAG_EVENTS.get(flag_kind)
    if event is None:
        return None
    return {"kind": Kind.ADVERSE_EVENT, "event_type": event, "description": message}


#: Events that point to the device itself: a report to the device regulator may apply.
DEVICE_EVENTS = frozenset({"retained_or_broken_needle", "damaged_or_unsterile_pack"})


@dataclass(frozen=True)
class ReportBody:
    """Somewhere outside the clinic an event may have to be reported."""

    code: str
    label: str
    why: str
    source: str


#: Why a device problem is worth a report, whichever regulator takes it.
DEVICE_PROBLEM = N_(
    "A problem with a medical device (a needle that broke, a pack found damaged or unsterile)."
)

REPORT_BODIES: tuple[ReportBody, ...] = (
    ReportBody(
        "mhra_yellow_card",
        "MHRA Yellow Card (UK)",
        DEVICE_PROBLEM,
        "MHRA, Report a problem with a medicine or medical device (Yellow Card scheme), "
        "https://yellowcard.mhra.gov.uk/",
    ),
    ReportBody(
        "fda_medwatch",
        "FDA MedWatch (US)",
        N_("A problem with a medical device; acupuncture needles are class II devices."),
        "FDA MedWatch Form 3500, https://www.fda.gov/safety/medwatch; 21 CFR 880.5580",
    ),
    ReportBody(
        "health_canada",
        N_("Health Canada medical device problem report (Canada)"),
        N_(
            "A problem with a medical device (a needle that broke, a pack found damaged or "
            "unsterile). Voluntary for a clinic; hospitals must report serious incidents."
        ),
        "Health Canada, Report a medical device problem: hospital, health care facility, "
        "health care provider, https://www.canada.ca/en/health-canada/services/"
        "drugs-health-products/medeffect-canada/adverse-reaction-reporting/medical-device/"
        "health-care-providers.html",
    ),
    ReportBody(
        "professional_body",
        N_("Professional or regulatory body"),
        N_(
            "A serious event, or a significant one that may need to be reported under your "
            "registration (for example the HCPC or CSP in the UK, your provincial college in "
            "Canada, your state board in the US)."
        ),
        N_("Clinic policy, following the professional body's own reporting rules"),
    ),
    ReportBody("other", N_("Other"), N_("Any other body you reported to."), N_("Clinic policy")),
)
REPORT_BODY_CODES = frozenset(b.code for b in REPORT_BODIES)
REPORT_BODY_OPTIONS = tuple((b.code, b.label) for b in REPORT_BODIES)

#: The device regulator of a clinic's country (ISO 3166-1 alpha-2), by report body code.
DEVICE_REGULATORS = {"GB": "mhra_yellow_card", "US": "fda_medwatch", "CA": "health_canada"}
#: A clinic in a country without one named here is pointed at its own regulator, and the
#: report is recorded under Other: a British or American form is no use to an Irish clinic.
OWN_DEVICE_REGULATOR = ReportBody(
    "other",
    N_("Your country's medical device regulator"),
    DEVICE_PROBLEM,
    N_("Clinic policy: record the report under Other, with the regulator's reference"),
)


def report_body_label(code: str) -> str:
    return next((b.label for b in REPORT_BODIES if b.code == code), code)


def device_regulator(country: str | None) -> ReportBody:
    """Return where a device problem is reported from a clinic in `country`."""
    code = DEVICE_REGULATORS.get(country or "")
    return next((b for b in REPORT_BODIES if b.code == code), OWN_DEVICE_REGULATOR)


def report_prompts(
    kind: str, event_type: str | None, grade: str | None, country: str | None
) -> list[ReportBody]:
    """Return where this event should be reported outside the clinic, if anywhere: a device
    problem to the clinic's own country's device regulator."""
    prompts: list[ReportBody] = []
    if kind != Kind.SHARPS_INJURY and event_type in DEVICE_EVENTS:
        prompts.append(device_regulator(country))
    if kind == Kind.ADVERSE_EVENT and grade in {Grade.SIGNIFICANT, Grade.SERIOUS}:
        prompts += [b for b in REPORT_BODIES if b.code == "professional_body"]
    return prompts


# --- post-exposure steps -----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One post-exposure step after a sharps injury, ticked with the time it was done."""

    id: str
    label: str
    #: Done within this time of the report; None for a step with no clock.
    due_within: timedelta | None
    #: An urgent step left untouched past its time alerts the clinic lead.
    is_urgent: bool
    source: str


#: CDC, "Exposure to blood: what healthcare personnel need to know" (2003) and the updated US
#: Public Health Service guidelines for occupational exposures to HIV (Kuhar et al., Infect
#: Control Hosp Epidemiol 2013;34:875-92); OSHA 29 CFR 1910.1030(f)(3); the NHS's first aid
#: for needlestick injuries (nhs.uk, "What should I do if I injure myself with a used needle?")
#: and the UK's BHIVA/BASHH PEP guideline (2021). A clinical review found the first aid said
#: "let it bleed freely ... do not squeeze", which no source says: the NHS says to encourage
#: gentle bleeding under running water, and CDC only that squeezing has no proven benefit.
STEPS: tuple[Step, ...] = (
    Step(
        "wash",
        N_(
            "Wound encouraged to bleed gently under running water, washed with soap and water "
            "(not scrubbed or sucked) and covered; a splash to the eyes, nose or mouth rinsed "
            "with plenty of water"
        ),
        timedelta(minutes=30),
        True,
        N_(
            "NHS, needlestick injuries: encourage the wound to bleed gently under running "
            "water, wash it with soap, do not scrub or suck it, cover it with a waterproof "
            "dressing. CDC, Exposure to blood (2003): wash needlesticks and cuts with soap and "
            "water; flush splashes to the nose or mouth with water and irrigate eyes with clean "
            "water, saline or sterile irrigants, at once. The 30-minute alert is clinic policy."
        ),
    ),
    Step(
        "report_lead",
        N_("Reported to the clinic lead"),
        timedelta(hours=1),
        True,
        N_(
            "OSHA 29 CFR 1910.1030(f)(3): report the exposure immediately so the evaluation can "
            "start. The 1-hour alert is clinic policy."
        ),
    ),
    Step(
        "source_assessment",
        N_(
            "Source patient asked, before they leave, to consent to blood tests (hepatitis B, "
            "hepatitis C, HIV)"
        ),
        timedelta(hours=1),
        True,
        N_(
            "OSHA 29 CFR 1910.1030(f)(3)(ii): identify and test the source individual as soon as "
            "feasible, with consent; the source's results decide the prophylaxis, and the "
            "patient is usually still in the clinic. The 1-hour alert is clinic policy."
        ),
    ),
    Step(
        "pep_assessment",
        N_("Occupational health or an emergency department contacted to assess prophylaxis (PEP)"),
        timedelta(hours=2),
        True,
        N_(
            "US PHS guidelines (Kuhar et al. 2013) and BHIVA/BASHH (2021): start HIV PEP as soon "
            "as possible, preferably within hours of the exposure, and not after 72 hours; "
            "hepatitis B prophylaxis within 24 hours, by the injured person's vaccination "
            "status (CDC 2013). The 2-hour alert is clinic policy."
        ),
    ),
    Step(
        "followup_testing",
        N_("Follow-up testing booked (baseline, then at 6 weeks, 3 and 6 months as advised)"),
        timedelta(days=7),
        False,
        N_(
            "US PHS guidelines (Kuhar et al. 2013): HIV testing at baseline, 6 weeks, 12 weeks and "
            "6 months; CDC: hepatitis C follow-up testing. The 7-day mark is clinic policy."
        ),
    ),
)
STEPS_BY_ID: dict[str, Step] = {s.id: s for s in STEPS}
#: The steps of an injury from a device never used on a patient: a clean needle carries no
#: patient's blood, so there is no source to assess, no prophylaxis to weigh and no testing to
#: book (CDC, Exposure to blood, 2003: an exposure is a sharp contaminated with blood). Listed
#: anyway, those steps would alert the lead about prophylaxis nobody needs.
CLEAN_DEVICE_STEPS = ("wash", "report_lead")


def steps_for(is_used_on_patient: bool | None) -> tuple[Step, ...]:
    """Return the post-exposure steps an injury calls for: all of them, unless the device was
    never used on a patient (unknown counts as used)."""
    if is_used_on_patient is False:
        return tuple(s for s in STEPS if s.id in CLEAN_DEVICE_STEPS)
    return STEPS


class StepState(StrEnum):
    DONE = "done"
    DUE = "due"
    OVERDUE = "overdue"


def step_state(step: Step, occurred_dt: datetime, done: bool, now: datetime) -> StepState:
    """Return whether a step is done, still within its time, or past it."""
    if done:
        return StepState.DONE
    if step.due_within is not None and now >= occurred_dt + step.due_within:
        return StepState.OVERDUE
    return StepState.DUE


def steps_to_alert(
    occurred_dt: datetime,
    done: Collection[str],
    alerted: Collection[str],
    now: datetime,
    steps: Sequence[Step] = STEPS,
) -> list[Step]:
    """Return the urgent steps (of `steps`, the injury's own) left untouched past their time
    that have not alerted yet.

    Each step alerts once: the clinic lead hears of it, and the record shows it overdue.
    """
    return [
        s
        for s in steps
        if s.is_urgent
        and s.id not in done
        and s.id not in alerted
        and step_state(s, occurred_dt, False, now) is StepState.OVERDUE
    ]


def check_step_time(done_dt: datetime | None, occurred_dt: datetime, now: datetime) -> str | None:
    """Return what is wrong with the time a step was done, or None."""
    if done_dt is None:
        return N_("Give the time the step was done.")
    if done_dt > now + timedelta(minutes=5):
        return N_("The time is in the future. Give the time the step was done.")
    if done_dt < occurred_dt - timedelta(minutes=1):
        return N_("The time is before the injury. Give the time the step was done.")
    return None


#: How long before a session's recorded start an incident linked to it may have happened: the
#: pack can be opened and the skin prepared before Start is tapped on the tablet (clinic
#: policy, not from a study).
BEFORE_SESSION_START = timedelta(minutes=30)


def check_session_time(occurred_dt: datetime | None, session_started_dt: datetime) -> str | None:
    """Return what is wrong with linking an incident to a session that began after it."""
    if occurred_dt is not None and occurred_dt < session_started_dt - BEFORE_SESSION_START:
        return N_("That session began after the incident: choose the session it happened in.")
    return None


# --- what a report must hold ---------------------------------------------------------------------

TEXT_MAX = 2000
SHORT_MAX = 200
NAME_MAX = 200
#: A report may be written up to this long after the event; older events need a person to
#: enter them by hand on paper (clinic policy; keeps mistyped years out of the log).
OLDEST_REPORT = timedelta(days=366)


@dataclass(frozen=True)
class Report:
    """The fields of an incident report as plain values, after the form read them."""

    kind: str
    occurred_dt: datetime | None
    work_area: str = ""
    description: str = ""
    action_taken: str = ""
    device_type: str = ""
    device_brand: str = ""
    device_gtin: str = ""
    device_lot: str = ""
    device_purpose: str = ""
    how: str = ""
    body_site: str = ""
    is_used_on_patient: bool | None = None
    event_type: str = ""
    grade: str = ""
    injured_name: str = ""
    injured_job: str = ""


def check_report(report: Report, now: datetime) -> dict[str, str]:
    """Return what is missing or wrong in a report, by field name."""
    errors: dict[str, str] = {}
    if report.kind not in set(Kind):
        errors["kind"] = N_("Choose what kind of incident this is.")
        return errors
    if report.occurred_dt is None:
        errors["occurred_dt"] = N_("Give the date and time it happened.")
    elif report.occurred_dt > now + timedelta(minutes=5):
        errors["occurred_dt"] = N_("That time is in the future. Give the time it happened.")
    elif report.occurred_dt < now - OLDEST_REPORT:
        errors["occurred_dt"] = N_("That is more than a year ago. Check the date.")
    if not report.work_area.strip():
        errors["work_area"] = N_("Say where it happened (room or work area).")
    if not report.description.strip():
        errors["description"] = N_("Describe what happened in a sentence or two.")
    for name in ("work_area", "device_brand", "injured_job"):
        if len(getattr(report, name)) > SHORT_MAX:
            errors[name] = Said(N_("Keep this under %(max)s characters."), max=SHORT_MAX)
    for name in ("description", "action_taken"):
        if len(getattr(report, name)) > TEXT_MAX:
            errors[name] = Said(N_("Keep this under %(max)s characters."), max=TEXT_MAX)
    if report.device_gtin:
        # Checked as a pack's GTIN is (its check digit too): a mistyped digit would otherwise
        # be signed into the report, and no recall names a device by a GTIN that cannot exist.
        try:
            packs_rules.check_gtin(report.device_gtin)
        except packs_rules.PackError as refused:
            errors["device_gtin"] = refused.message
    if len(report.device_lot) > 64:
        errors["device_lot"] = N_("Keep the lot under 64 characters.")
    if report.kind == Kind.SHARPS_INJURY:
        for name, choices, message in (
            ("device_type", DEVICE_TYPES, N_("Choose the kind of device.")),
            ("device_purpose", PURPOSES, N_("Choose what the device was being used for.")),
            ("how", HOW, N_("Choose how it happened.")),
            ("body_site", BODY_SITES, N_("Choose where on the body.")),
        ):
            if getattr(report, name) not in codes(choices):
                errors[name] = message
        if report.is_used_on_patient is None:
            errors["is_used_on_patient"] = N_("Say whether the device had been used on a patient.")
        if not report.injured_name.strip():
            errors["injured_name"] = N_("Give the name of the person who was injured.")
        elif len(report.injured_name) > NAME_MAX:
            errors["injured_name"] = Said(
                N_("Keep the name under %(max)s characters."), max=NAME_MAX
            )
    else:
        if report.event_type not in codes(EVENT_TYPES):
            errors["event_type"] = N_("Choose what happened.")
        if report.kind == Kind.ADVERSE_EVENT and report.grade not in set(Grade):
            errors["grade"] = N_("Choose the grade: mild, significant or serious.")
        if report.kind == Kind.ADVERSE_EVENT and not report.action_taken.strip():
            errors["action_taken"] = N_("Say what was done.")
    return errors


#: The meaning of an incident signature, shown with it (21 CFR Part 11 §11.50).
SIGNATURE_MEANING = N_("Reported this incident and confirm it is accurate")


# --- the sharps injury log (OSHA 29 CFR 1910.1030(h)(5)) -----------------------------------------

#: What the log shows in place of the injured person's name: OSHA 29 CFR 1904.29(b)(7) and
#: (b)(10) treat a needlestick injury from a contaminated sharp as a privacy concern case.
PRIVACY_CASE = "Privacy case"
#: OSHA 29 CFR 1910.1030(h)(5)(ii) keeps the sharps injury log as 1904.33 keeps the injury
#: records: for five years following the end of the calendar year they cover.
RETENTION_YEARS = 5

SHARPS_LOG_COLUMNS = (
    "case",
    "employee",
    "date_of_injury",
    "work_area",
    "device_type",
    "device_brand",
    "device_gtin",
    "device_lot",
    "device_purpose",
    "how_it_happened",
    "description",
    "body_site",
    "keep_until",
)


#: The incident export: every kind, no names (a sharps injury's person is a privacy case).
INCIDENT_COLUMNS = (
    "incident",
    "clinic",
    "kind",
    "occurred_utc",
    #: The clinic's own day and time (its zone named): the day the list and its filters use.
    "occurred_local",
    "work_area",
    "what",
    "grade",
    "device_type",
    "device_brand",
    "device_gtin",
    "device_lot",
    "how_it_happened",
    "body_site",
    "session",
    "steps_done",
    "reported_outside",
    "addenda",
    "signed_utc",
    "content_hash",
)


def incident_row(fields: Mapping[str, Any]) -> dict[str, str]:
    """Return one row of the incident export in words; never a person's name."""
    kind = fields["kind"]
    what = (
        label_of(HOW, fields.get("how"))
        if kind == Kind.SHARPS_INJURY
        else label_of(EVENT_TYPES, fields.get("event_type"))
    )
    return {
        "incident": str(fields["id"]),
        "clinic": fields["clinic"],
        "kind": KIND_LABELS.get(kind, kind),
        "occurred_utc": fields["occurred_utc"],
        "occurred_local": fields["occurred_local"],
        "work_area": fields.get("work_area") or "",
        "what": what,
        "grade": fields.get("grade") or "",
        "device_type": label_of(DEVICE_TYPES, fields.get("device_type")),
        "device_brand": fields.get("device_brand") or "",
        "device_gtin": fields.get("device_gtin") or "",
        "device_lot": fields.get("device_lot") or "",
        "how_it_happened": label_of(HOW, fields.get("how")),
        "body_site": label_of(BODY_SITES, fields.get("body_site")),
        "session": str(fields.get("session_id") or ""),
        "steps_done": (
            f"{fields.get('steps_done', 0)} of {fields.get('steps_total', len(STEPS))}"
            if kind == Kind.SHARPS_INJURY
            else ""
        ),
        "reported_outside": "; ".join(fields.get("reported_outside") or ()),
        "addenda": str(fields.get("addenda", 0)),
        "signed_utc": fields["signed_utc"],
        "content_hash": fields["content_hash"],
    }


def keep_until(occurred: date) -> date:
    """Return the last day a sharps injury log entry must be kept."""
    return date(occurred.year + RETENTION_YEARS, 12, 31)


def is_kept(occurred: date, today: date) -> bool:
    """Return whether a log entry is still within its retention period."""
    return today <= keep_until(occurred)


def oldest_kept_year(today: date) -> int:
    """Return the earliest injury year the log must still hold."""
    return today.year - RETENTION_YEARS


def sharps_log_row(case: str, occurred: date, fields: Mapping[str, Any]) -> dict[str, str]:
    """Return one privacy-case row of the sharps injury log: never the injured person's name."""
    return {
        "case": case,
        "employee": PRIVACY_CASE,
        "date_of_injury": occurred.isoformat(),
        "work_area": fields.get("work_area") or "",
        "device_type": label_of(DEVICE_TYPES, fields.get("device_type")),
        "device_brand": fields.get("device_brand") or "",
        "device_gtin": fields.get("device_gtin") or "",
        "device_lot": fields.get("device_lot") or "",
        "device_purpose": label_of(PURPOSES, fields.get("device_purpose")),
        "how_it_happened": label_of(HOW, fields.get("how")),
        "description": fields.get("description") or "",
        "body_site": label_of(BODY_SITES, fields.get("body_site")),
        "keep_until": keep_until(occurred).isoformat(),
    }


# --- the clinic lead's alert -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertMessage:
    subject: str
    text: str


def step_alert(
    *, steps: Sequence[Step], clinic: str, link: str, say: Callable[[str], str] = str
) -> AlertMessage:
    """Compose the clinic lead's alert about untouched urgent steps: which, by when, and a
    link; never who was injured (the message leaves the application). Written in the
    lead's language: `say` is their catalogue's gettext, English by default."""
    lines = "\n".join(
        "  - "
        + say(N_("%(step)s (due within %(time)s)"))
        % {"step": say(s.label), "time": _duration(s.due_within, say)}
        for s in steps
    )
    opening = say(
        N_(
            "A sharps injury was reported at %(clinic)s, and these urgent steps have not "
            "been recorded in time:"
        )
    ) % {"clinic": clinic}
    ask = say(
        N_(
            "Please make sure they are done now (prophylaxis works best within hours) and "
            "tick each with its time in NeedleSafe:"
        )
    )
    text = f"{opening}\n\n{lines}\n\n{ask}\n{link}\n"
    subject = say(N_("NeedleSafe: urgent steps after a sharps injury at %(clinic)s")) % {
        "clinic": clinic
    }
    return AlertMessage(subject, text)


def _duration(value: timedelta | None, say: Callable[[str], str] = str) -> str:
    minutes = int(value.total_seconds() // 60) if value else 0
    if minutes >= 120:
        return say(N_("%(n)s hours")) % {"n": minutes // 60}
    if minutes == 60:
        return say(N_("1 hour"))
    return say(N_("%(n)s minutes")) % {"n": minutes}
