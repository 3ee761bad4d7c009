"""Pure follow-up rules: when to ask, what an answer means, how to back off, what to say.

Times are aware UTC datetimes in and out; the clinic's zone decides quiet hours. Every time
and threshold here is also in the register's follow-up section with its source
(safety/risks/register.json, DESIGN §4); a unit test holds the two together, so the numbers
a clinician reviews are the numbers the code uses. The words a patient reads are in
`followup.texts`, and the words of free text that call for a person the same day in
`followup.screen`. One file of about 960 lines: it is the follow-up's clinical table (when to
ask, thresholds, escalation, the channels a patient can receive) read and reviewed as one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from safety.checklists.rules import Severity
from safety.clinics.rules import DEFAULT_WORKING_DAYS, add_working_hours
from safety.followup import texts
from safety.followup.screen import (
    mentions_fever,
    mentions_head,
    mentions_red_flag,
    mentions_weakness,
)
from safety.followup.texts import QUESTIONS, PatientTexts
from safety.hashing import canonical_json
from safety.languages import N_, Said


def _same(text: str) -> str:
    return text


QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
LINK_LIFETIME = timedelta(days=7)
#: Minutes to wait after each failed attempt; after the last one the reminder has failed.
BACKOFF_MINUTES = (1, 5, 15, 60, 240)
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1


class Kind(StrEnum):
    """The checks a patient is sent after a session (DESIGN §4)."""

    DAY_1 = "24h"
    #: The chest check after thorax, neck or shoulder needling, whatever the 24 h answer.
    DAY_2 = "48h"
    DAY_3 = "72h"
    DAY_7 = "7d"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.DAY_1: N_("24-hour check"),
    Kind.DAY_2: N_("48-hour chest check"),
    Kind.DAY_3: N_("72-hour soreness check"),
    Kind.DAY_7: N_("7-day site check"),
}


class Status(StrEnum):
    """Where a follow-up stands, as staff read it on the record."""

    SCHEDULED = "scheduled"
    SENT = "sent"
    ANSWERED = "answered"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    Status.SCHEDULED: N_("scheduled"),
    Status.SENT: N_("sent, waiting for an answer"),
    Status.ANSWERED: N_("answered"),
    Status.FAILED: N_("could not be delivered"),
    Status.CANCELLED: N_("cancelled"),
}

#: How a follow-up reaches the patient, as staff read it.
CHANNEL_LABELS = {"email": N_("email"), "sms": N_("text message")}
#: The sign-out answer that names a channel: any other answer ("declined") sends nothing.
CHANNEL_ITEM = "signout.followup"


@dataclass(frozen=True)
class Reach:
    """What the patient's record says about reaching them: read once, judged here."""

    is_consent: bool
    is_opted_out: bool
    email: str | None
    phone: str | None

    @classmethod
    def of(cls, patient: Any) -> Reach:
        """Read a patient record (anything with the Patient's contact attributes)."""
        return cls(
            is_consent=bool(patient.is_followup_consent),
            is_opted_out=patient.opted_out_dt is not None,
            email=patient.email,
            phone=patient.phone,
        )


#: Why a channel cannot be chosen, as the practitioner reads it beside the follow-up item.
OPTED_OUT = N_("The patient stopped follow-up messages: choose Declined.")
NO_CONSENT = N_("The patient has not agreed to follow-up messages: choose Declined.")
NO_EMAIL = N_("The patient has no email address on file: choose a text message or Declined.")
NO_PHONE = N_("The patient has no mobile number on file: choose email or Declined.")


def channel_refusal(channel: Any, reach: Reach) -> str | None:
    """Say why the patient cannot receive follow-ups by `channel`; None when they can.

    The sign-out page disables such a channel, but the page is only the browser's: the
    server asks this too, so a crafted or stale form cannot record a follow-up that signing
    would then silently not send. An answer that is not a channel needs nothing.
    """
    if channel not in CHANNEL_LABELS:
        return None
    if reach.is_opted_out:
        return OPTED_OUT
    if not reach.is_consent:
        return NO_CONSENT
    if channel == "email" and not reach.email:
        return NO_EMAIL
    if channel == "sms" and not reach.phone:
        return NO_PHONE
    return None


EMERGENCY, SAME_DAY, REVIEW, NONE = "emergency", "same_day", "review", "none"
#: Escalation levels, most urgent first.
LEVELS = (EMERGENCY, SAME_DAY, REVIEW, NONE)
#: The answers that alert people at once and go to the top of every flags queue.
URGENT_LEVELS = (EMERGENCY, SAME_DAY)
INFECTION_SIGNS = ("redness", "warmth", "swelling", "pus", "fever")

#: Thresholds (register: followup.thresholds; each says whether it is clinic policy).
REVIEW_SORENESS_24H = 7
REVIEW_SORENESS_LATER = 4
NEEDS_72H_SORENESS = 4
EMERGENCY_ACK = timedelta(minutes=15)
SAME_DAY_ACK_WORKING_HOURS = 2
REVIEW_WITHIN_WORKING_DAYS = 2
#: A silent chest check nobody has recorded calling about within this many of the clinic's
#: working hours goes to the duty address: the treating practitioner may be away or gone.
SILENCE_ACK_WORKING_HOURS = 2


def out_of_quiet_hours(moment: datetime, zone: ZoneInfo) -> datetime:
    """Move a time inside the clinic's quiet hours (21:00–08:00 local) to the next 08:00."""
    local = moment.astimezone(zone)
    if QUIET_END <= local.time() < QUIET_START:
        return moment.astimezone(UTC)
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_END, zone).astimezone(UTC)


def local_offset(signed: datetime, days: int, zone: ZoneInfo) -> datetime:
    """Return the same wall-clock time `days` later in the clinic's zone (DST-safe)."""
    local = signed.astimezone(zone)
    target = datetime.combine(local.date() + timedelta(days=days), local.time(), zone)
    # A wall time skipped by a DST change resolves forward through UTC.
    return target.astimezone(UTC).astimezone(zone).astimezone(UTC)


@dataclass(frozen=True)
class Planned:
    """A follow-up to schedule at signing: its kind and when its message is due."""

    kind: Kind
    due: datetime
    #: The 48 h nudge of an unanswered 24 h check.
    is_reminder: bool = False


def plan_at_signing(
    signed: datetime, zone: ZoneInfo, *, near_lung: bool, treated: datetime | None = None
) -> list[Planned]:
    """Return the follow-ups written when a session is signed (DESIGN §4).

    The 24 h check and its one reminder at 48 h; after thorax, neck or shoulder needling the
    48 h chest check whatever the 24 h answer (pneumothorax has presented up to 2 days
    after needling); the 7-day site check always (late infection).

    Counted from `treated`, when the needles came out (the sign-out), where that is known:
    a session signed the next morning once put its chest check a day past the two days in
    which a collapsed lung shows (a clinical review). A check whose time has passed by the
    signature goes at once (out of quiet hours), and the reminder still a day after the
    check it reminds of. Signed at the end of the session, as nearly always, this is the same
    as counting from the signature.
    """
    soonest = out_of_quiet_hours(signed, zone)

    def after(days: int, start: datetime) -> datetime:
        return out_of_quiet_hours(local_offset(start, days, zone), zone)

    start = min(treated, signed) if treated is not None else signed
    first = max(after(1, start), soonest)
    plans = [
        Planned(Kind.DAY_1, first),
        Planned(Kind.DAY_1, max(after(2, start), after(1, first)), is_reminder=True),
    ]
    if near_lung:
        plans.append(Planned(Kind.DAY_2, max(after(2, start), soonest)))
    plans.append(Planned(Kind.DAY_7, max(after(7, start), soonest)))
    return plans


#: Regions over the lung whose needling sends the 48-hour chest check (DESIGN §4; the default
#: register's high_risk_regions, sources nzasa-code, uzar-2018, kearns-2022). Shoulder joined
#: thorax and neck in version 2: pneumothorax after needling the upper trapezius is reported.
LUNG_REGIONS = ("thorax", "neck", "shoulder")


def near_lung(regions: Sequence[str] | None, high_risk_regions: Sequence[str]) -> bool:
    """Return whether a session needled a region over the lung: one its template names, or one
    of LUNG_REGIONS. The follow-up is today's care, so a session filled on an older template
    (version 1 named only thorax and neck) still gets the chest check after the shoulder."""
    return bool(set(regions or ()) & (set(high_risk_regions) | set(LUNG_REGIONS)))


#: Regions whose needling adds the question on a sudden headache, sight or balance (DESIGN §4):
#: the vertebral arteries run up through the neck to the back of the brain, and past the top of
#: the neck under the suboccipital muscles, which a practitioner may record as the head.
NECK_REGIONS = ("neck", "head")


def needled_neck(regions: Sequence[str] | None) -> bool:
    """Return whether a session needled the head or neck (NECK_REGIONS)."""
    return bool(set(regions or ()) & set(NECK_REGIONS))


def questions_asked(
    kind: str, regions: Sequence[str] | None, high_risk_regions: Sequence[str]
) -> tuple[str, ...]:
    """Return what a check of `kind` asks after a session that needled `regions`, on a
    template that counts `high_risk_regions` as over the lung (`questions_for`)."""
    return questions_for(
        kind, near_lung=near_lung(regions, high_risk_regions), neck=needled_neck(regions)
    )


def questions_for(kind: str, *, near_lung: bool, neck: bool = False) -> tuple[str, ...]:
    """Return what a check asks, in order (DESIGN §4); the free text comes last, always.

    After needling in the head or neck the 24-hour check also asks about a sudden headache,
    sight or balance, beside the question on weakness; every check's form lists them among the
    signs to call the emergency number for (`texts.URGENT_SIGNS_NECK`), and every advice page
    after the red flags (`advice`)."""
    if kind == Kind.DAY_2:
        return ("chest", "other")
    if kind == Kind.DAY_3:
        return ("soreness", "trend", "other")
    if kind == Kind.DAY_7:
        return ("signs", "soreness", "trend", "other")
    chest = ("chest",) if near_lung else ()
    head = ("head_signs",) if neck else ()
    return (
        "soreness",
        "trend",
        "bleeding",
        "bruising",
        "signs",
        "numbness",
        *head,
        "fainted",
        "needle_found",
        *chest,
        "other",
    )


def due_72h(signed: datetime, zone: ZoneInfo) -> datetime:
    """Return when the 72 h soreness check is due."""
    return out_of_quiet_hours(local_offset(signed, 3, zone), zone)


def needs_72h(answers: Mapping[str, Any]) -> bool:
    """Ask again at 72 h when soreness was 4 or more, or not improving, at 24 h."""
    return (answers.get("soreness") or 0) >= NEEDS_72H_SORENESS or answers.get("trend") in {
        "same",
        "worse",
    }


#: What in an answer calls for a person, as the flag says it (stored in English; staff read it
#: in their language through safety.display.flag_message, which reads these back).
REASONS = {
    "chest": N_("chest pain, pain breathing in or breathlessness"),
    "bleeding": N_("bleeding after 10 minutes of firm pressure"),
    "bruising": N_("a large or spreading bruise"),
    "numbness": N_("new numbness, tingling or weakness"),
    "sudden_weakness": N_("sudden weakness of an arm or leg, a drooping face or trouble speaking"),
    "head_signs": N_(
        "a sudden severe headache, loss or blurring of sight or double vision, or dizziness "
        "with loss of balance after needling in the head or neck"
    ),
    "fainted": N_("fainted since leaving"),
    "needle_found": N_("a needle or a piece of one found in the skin"),
    "same": N_("soreness no better"),
    "worse": N_("soreness worse"),
    "other": N_("wrote to the clinic"),
    "other_red_flag": N_("wrote about the chest, breathing or bleeding"),
    "other_weakness": N_("wrote about weakness, a drooping face or trouble speaking"),
    "other_head": N_("wrote about a headache, sight or dizziness"),
    "other_fever": N_("wrote about a fever, shivering or feeling very unwell"),
}


SIGNS_FOUND = N_("infection signs at a site: %(signs)s")
SORENESS_SCORE = N_("soreness %(score)s/10")
#: A reason of a less urgent level than the flag's own.
ALSO = N_("also %(level)s: %(reasons)s")
#: A follow-up flag's message, by its level: each sentence whole for the translators.
FLAG_MESSAGES = {
    EMERGENCY: N_("Emergency answer on the %(check)s: %(reasons)s."),
    SAME_DAY: N_("Same-day answer on the %(check)s: %(reasons)s."),
    REVIEW: N_("For review on the %(check)s: %(reasons)s."),
}


def reasons(
    kind: str, answers: Mapping[str, Any], languages: Collection[str] | None = None
) -> dict[str, list[str]]:
    """Return, by escalation level, what in an answer calls for a person (DESIGN §4).

    Staff read these in the flag ("chest pain or breathlessness"); the level is the most
    urgent one with a reason. Anything written in the free text is read by a person.
    """
    found: dict[str, list[str]] = {EMERGENCY: [], SAME_DAY: [], REVIEW: []}
    if answers.get("chest") == "yes":
        found[EMERGENCY].append(REASONS["chest"])
    if answers.get("bleeding") == "wont_stop":
        found[EMERGENCY].append(REASONS["bleeding"])
    # A stroke, or a bleed pressing on the spinal cord, shows so (NHS: FAST, call at once).
    if answers.get("numbness") == "sudden":
        found[EMERGENCY].append(REASONS["sudden_weakness"])
    # The same at the back of the brain, where the vertebral arteries lead (NHS: other symptoms).
    # Asked after needling in the head or neck only (questions_for).
    if answers.get("head_signs") == "yes":
        found[EMERGENCY].append(REASONS["head_signs"])
    if answers.get("signs"):
        found[SAME_DAY].append(Said(SIGNS_FOUND, signs=", ".join(answers["signs"])))
    if answers.get("bruising") == "large":
        found[SAME_DAY].append(REASONS["bruising"])
    if answers.get("numbness") == "yes":
        found[SAME_DAY].append(REASONS["numbness"])
    if answers.get("fainted") == "yes":
        found[SAME_DAY].append(REASONS["fainted"])
    if answers.get("needle_found") == "yes":
        found[SAME_DAY].append(REASONS["needle_found"])
    soreness = answers.get("soreness") or 0
    later = kind in {Kind.DAY_3, Kind.DAY_7}
    threshold = REVIEW_SORENESS_LATER if later else REVIEW_SORENESS_24H
    if kind != Kind.DAY_2 and soreness >= threshold:
        found[REVIEW].append(Said(SORENESS_SCORE, score=soreness))
    # "Not better" means something only while it is still sore: none at all is not a worry.
    trend = answers.get("trend")
    if later and soreness > 0 and trend in {"same", "worse"}:
        found[REVIEW].append(REASONS[trend])
    if written := answers.get("other"):
        red_flag = mentions_red_flag(written, languages)
        weakness = mentions_weakness(written, languages)
        head = mentions_head(written, languages)
        fever = mentions_fever(written, languages)
        if red_flag:
            found[SAME_DAY].append(REASONS["other_red_flag"])
        if weakness:
            found[SAME_DAY].append(REASONS["other_weakness"])
        if head:
            found[SAME_DAY].append(REASONS["other_head"])
        if fever:
            found[SAME_DAY].append(REASONS["other_fever"])
        if not (red_flag or weakness or head or fever):
            found[REVIEW].append(REASONS["other"])
    return {level: found[level] for level in (EMERGENCY, SAME_DAY, REVIEW) if found[level]}


def infection_with_fever(answers: Mapping[str, Any]) -> bool:
    """A site that is red, hot, swollen or weeping, with a fever: NHS advice on cellulitis is an
    urgent GP appointment or NHS 111 that day, not a call back from the clinic in its hours."""
    signs = set(answers.get("signs") or ())
    return "fever" in signs and bool(signs - {"fever"})


def escalation(
    kind: str, answers: Mapping[str, Any], languages: Collection[str] | None = None
) -> str:
    """Return how urgently a follow-up answer needs a person (DESIGN §4)."""
    return next(iter(reasons(kind, answers, languages)), NONE)


def advice(
    kind: str,
    answers: Mapping[str, Any],
    level: str,
    languages: Collection[str] | None = None,
    *,
    neck: bool = False,
) -> list[str]:
    """Return the advice a patient reads for this answer and this check (`texts.ADVICE` keys).

    What to do now comes first; "the usual course" of soreness is said only at the 24 h
    check and only when nothing needs a person; never "warmth helps" for a bruise. After
    needling in the head or neck (`neck`) the red flags add a sudden headache, sight and balance.
    """
    keys: list[str] = []
    if level == EMERGENCY:
        bleeding = answers.get("bleeding") == "wont_stop"
        if bleeding:
            keys.append("press_first")
        keys.append("call_emergency")
        # What to tell them follows what the patient answered: the chest (the lung), the
        # bleeding, sudden weakness (when it started), or more than one.
        if answers.get("chest") == "yes":
            keys.append("tell_them")
        if bleeding:
            keys.append("tell_them_bleeding")
        if answers.get("numbness") == "sudden":
            keys.append("tell_them_weakness")
        elif answers.get("head_signs") == "yes":
            keys.append("tell_them_neck")
        keys.append("clinic_alerted")
        return keys
    if level == SAME_DAY:
        # Writing about the chest, breathing or bleeding first says when not to wait at all;
        # an infection with a fever says to see a doctor today, and is not told to wait until
        # the end of the day for a call.
        written = answers.get("other") or ""
        if written and mentions_red_flag(written, languages):
            keys.append("wrote_red_flag")
        if written and mentions_weakness(written, languages):
            keys.append("wrote_weakness")
        if written and mentions_head(written, languages):
            keys.append("wrote_head")
        wrote_fever = bool(written) and mentions_fever(written, languages)
        if wrote_fever:
            keys.append("wrote_fever")
        if infection_with_fever(answers):
            keys += ["infection_today", "sepsis", "call_clinic"]
        else:
            # After "call now if…", what to do if nobody calls still stands: a patient who
            # wrote about the chest and also found a needle in the skin needs both. A fever,
            # ticked or written, with no site to show for it, can still be an infection
            # starting deeper: the signs of sepsis to call at once for are said too.
            fever = wrote_fever or "fever" in (answers.get("signs") or ())
            keys += ["same_day", *(["sepsis"] if fever else []), "call_clinic", "if_nobody_calls"]
    elif level == REVIEW:
        keys.append("review")
    if answers.get("bruising") in {"small", "large"}:
        keys.append("bruise")
    if level == NONE and kind == Kind.DAY_1:
        keys.append("soreness_usual")
    elif level == NONE and kind in {Kind.DAY_3, Kind.DAY_7}:
        keys.append("soreness_settling")
    if kind == Kind.DAY_7:
        keys.append("late_signs")
    keys.append("red_flags")
    if neck:
        keys.append("red_flags_neck")
    return keys


def acknowledge_by(
    level: str,
    raised: datetime,
    zone: ZoneInfo,
    *,
    day_start_hour: int,
    day_end_hour: int,
    working_days: str = DEFAULT_WORKING_DAYS,
    practitioner_gone: bool = False,
) -> datetime | None:
    """Return when an escalated answer nobody has acknowledged goes to the duty address.

    An emergency after 15 minutes, day or night; a same-day answer, or a chest check nobody
    answered, after 2 of the clinic's working hours; a review answer at the end of its
    second working day, the promise its advice page makes the patient; anything else never
    (None). A silence whose practitioner no longer treats patients at the clinic (disabled,
    another role, or no longer working there: `practitioner_gone`) goes at once: it is on
    nobody else's list, and they will not call.
    """
    if level == NO_ANSWER and practitioner_gone:
        return raised
    if level == EMERGENCY:
        return raised + EMERGENCY_ACK
    if level in (SAME_DAY, NO_ANSWER):
        return add_working_hours(
            raised,
            SAME_DAY_ACK_WORKING_HOURS if level == SAME_DAY else SILENCE_ACK_WORKING_HOURS,
            zone,
            day_start_hour=day_start_hour,
            day_end_hour=day_end_hour,
            working_days=working_days,
        )
    if level == REVIEW:
        return add_working_hours(
            raised,
            REVIEW_WITHIN_WORKING_DAYS * (day_end_hour - day_start_hour),
            zone,
            day_start_hour=day_start_hour,
            day_end_hour=day_end_hour,
            working_days=working_days,
        )
    return None


#: The severity of the flag each escalation raises (the checklist rules' scale); no
#: escalation raises none.
SEVERITY = {EMERGENCY: Severity.CRITICAL, SAME_DAY: Severity.HIGH, REVIEW: Severity.MEDIUM}
#: What a practitioner can say they did about a patient's answer (the stored code's words).
HANDLED_ACTIONS = {
    "called": N_("Called the patient"),
    "advised": N_("Advised the patient"),
    "referred": N_("Referred the patient"),
}
#: A chest check after needling near the lung that nobody answered: not an answer, but a
#: silence the treating practitioner follows up by phone (a clinical review found it went to
#: nobody). Clinic policy (register: followup.thresholds): after 12 hours, so a check sent in
#: the day is on the practitioner's list by the next morning.
NO_ANSWER = "no_answer"
CHEST_SILENCE = timedelta(hours=12)
#: ...and only until 36 hours after it went out, about three and a half days after the
#: needling: later, the days in which a collapsed lung shows have passed.
CHEST_SILENCE_ENDS = timedelta(hours=36)
#: A silence goes on to the duty address only while it is this recent: the first pass after
#: an upgrade must not mail every silence of the past weeks (found by a review).
SILENCE_ESCALATES_FOR = timedelta(days=7)
#: A second "no reply" from the same practitioner this soon after the first is the same call
#: tapped twice, not another call.
NO_REPLY_REPEAT = timedelta(minutes=1)
#: Said on a silence's flag when the patient answers after all.
SILENCE_ANSWERED = N_("The patient answered the chest check after all: see their answer.")
NO_CHEST_ANSWER = N_(
    "No answer to the 48-hour chest check after needling near the lung: call the patient to "
    "ask about chest pain, pain breathing in or breathlessness."
)
#: Why a check never reached the patient. A check waits as "scheduled" while its message is
#: on its way; one whose message nothing will send any more (its address was removed at the
#: desk, so the worker dropped it; or it was stopped with no answer, opt-out or withdrawn
#: consent, each of which closes the check too) stayed "scheduled" for ever, and a chest
#: check raised no silence flag, so nobody called (a review).
NO_ADDRESS = "no_address"
STOPPED = "stopped"
UNDELIVERED = "undelivered"
#: ...and one nobody need be told about: the patient had opted out or withdrawn consent.
CONSENT_GONE = "no_consent"
#: A chest check that never reached the patient is a call to make, as a silence is: on the
#: treating practitioner's list (kind NO_ANSWER), and on to the duty address if nobody calls.
CHEST_CHECK_NOT_SENT = {
    NO_ADDRESS: N_(
        "The 48-hour chest check after needling near the lung could not be sent: the "
        "patient's details no longer have the email address or mobile number it was to go "
        "to. Call the patient to ask about chest pain, pain breathing in or breathlessness."
    ),
    STOPPED: N_(
        "The 48-hour chest check after needling near the lung was stopped before it went "
        "out, and nothing on record says why. Call the patient to ask about chest pain, pain "
        "breathing in or breathlessness."
    ),
    UNDELIVERED: N_(
        "The 48-hour chest check after needling near the lung could not be delivered. Call "
        "the patient to ask about chest pain, pain breathing in or breathlessness."
    ),
}
#: Another check that never reached the patient: for the flags queue, as a failed delivery.
CHECK_NOT_SENT = {
    NO_ADDRESS: N_(
        "A follow-up check could not be sent: the patient's details no longer have the "
        "email address or mobile number it was to go to."
    ),
    STOPPED: N_(
        "A follow-up check was stopped before it went out, and nothing on record says why."
    ),
}
#: The flag kind of a failed delivery, and of a check that could not be sent.
REMINDER_FAILED = "reminder_failed"
#: Every fixed message above, which staff read in their own language.
NOT_SENT_MESSAGES = frozenset({*CHEST_CHECK_NOT_SENT.values(), *CHECK_NOT_SENT.values()})


def not_sent_flag(kind: str, why: str, *, due: datetime, now: datetime) -> tuple[str, str] | None:
    """Return the (flag kind, message) for a check that never reached the patient, or None
    where a failed delivery's own flag says it (any check but the chest one, undelivered)
    or where it is long past (`LINK_LIFETIME` after it was due).

    A chest check is a call while a collapsed lung could still show (`CHEST_SILENCE_ENDS`
    after it was due); found later (a worker stopped for days), it is history, for the
    flags queue, as a silence found late is. One older than a link's life is not flagged at
    all, only marked: the first pass after an upgrade must not put the checks an older
    version dropped, months ago, on anyone's list (a review)."""
    if now - due >= LINK_LIFETIME:
        return None
    if kind == Kind.DAY_2 and now - due < CHEST_SILENCE_ENDS:
        return NO_ANSWER, CHEST_CHECK_NOT_SENT[why]
    if why == UNDELIVERED:
        return None
    return REMINDER_FAILED, CHECK_NOT_SENT[why]


#: Escalation levels as staff read them.
LEVEL_LABELS = {
    EMERGENCY: N_("emergency"),
    SAME_DAY: N_("same day"),
    REVIEW: N_("review"),
    NONE: N_("none"),
    NO_ANSWER: N_("no answer"),
}


def kind_label(kind: str) -> str:
    """Return the name of a follow-up check, or the stored code for one this version lacks."""
    return Kind(kind).label if kind in Kind._value2member_map_ else kind


#: A follow-up still scheduled after its time: the worker has not sent it (stopped, or backing
#: off after a failed attempt). "Scheduled" beside a time already past would say all is well.
NOT_SENT_YET = N_("due, not sent yet")


def status_label(status: str, due_dt: datetime | None = None, now: datetime | None = None) -> str:
    """Return how staff read a follow-up's status; with its due time and now, a scheduled one
    whose time has passed reads as not sent yet."""
    if status == Status.SCHEDULED and due_dt is not None and now is not None and due_dt <= now:
        return NOT_SENT_YET
    return Status(status).label if status in Status._value2member_map_ else status


@dataclass(frozen=True)
class FormInput:
    answers: dict[str, Any]
    errors: dict[str, str]


#: The soreness answers, as typed: a whole number from 0 to 10 and nothing else.
SORENESS_SCALE = {str(n): n for n in range(11)}
OTHER_MAX_LENGTH = 2000

#: The coded answers of each choice question (the words are in texts.QUESTIONS).
CHOICES = {
    name: tuple(code for code, _ in question.options)
    for name, question in QUESTIONS.items()
    if question.kind == "choice"
}


def read_form(
    form: Mapping[str, Sequence[str]],
    questions: Sequence[str],
    said: PatientTexts = texts.ENGLISH,
) -> FormInput:
    """Read the patient's form for the questions a check asks; all but the free text need
    an answer (an emergency is escalated with what was answered, see patient.answer).
    What is missing is said in the patient's language (`said`)."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in questions:
        question = said.questions[name]
        first = (form.get(name) or [""])[0]
        if question.kind == "scale":
            if first.strip() in SORENESS_SCALE:
                answers[name] = SORENESS_SCALE[first.strip()]
            else:
                errors[name] = question.missing
        elif question.kind == "choice":
            if first in CHOICES[name]:
                answers[name] = first
            else:
                errors[name] = question.missing
        elif question.kind == "signs":
            chosen = [s for s in dict.fromkeys(form.get(name) or []) if s]
            if any(s not in INFECTION_SIGNS for s in chosen):
                errors[name] = question.missing
            answers[name] = [s for s in INFECTION_SIGNS if s in chosen]
        else:
            text = first.strip()
            if len(text) > OTHER_MAX_LENGTH:
                errors[name] = said.pages["too_long"].format(max_length=OTHER_MAX_LENGTH)
            elif text:
                answers[name] = text
    return FormInput(answers, errors)


def unanswered(asked: Sequence[str], answers: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the questions asked that an answer left out; the free text may always be left
    empty. Only an urgent answer can leave any out (`patient.answer`). Where it left any out,
    an empty list of infection signs is one of them (`partial_answers`; answers stored before
    that kept the empty list)."""
    missing = {name for name in asked if name != "other" and name not in answers}
    if missing and "signs" in asked and not answers.get("signs"):
        missing.add("signs")
    return tuple(name for name in asked if name in missing)


def partial_answers(answers: Mapping[str, Any], errors: Mapping[str, Any]) -> dict[str, Any]:
    """Return the answers to record. In an answer sent with questions left out (`errors` on
    any but the free text, which may be empty), an empty list of infection signs is not a
    "none": the patient stopped before the question (a chest pain answered alone read
    "Infection signs at a site: None" to the nurse calling back)."""
    if errors.keys() - {"other"} and not answers.get("signs"):
        return {name: value for name, value in answers.items() if name != "signs"}
    return dict(answers)


def response_content(
    *, followup_id: int, answers: Mapping[str, Any], escalation: str, created: str
) -> str:
    """What a patient's answer's audit event signs, as canonical JSON: every answer, the level
    it was escalated to, when, and to which check. `flask audit verify` hashes the stored row
    the same way, so an answer rewritten behind the application's back ("large" bruising made
    "none", its escalation dropped) is named."""
    return canonical_json(
        {
            "followup": followup_id,
            "answers": dict(answers),
            "escalation": escalation,
            "created": created,
        }
    )


NOT_ANSWERED = N_("Not answered")


def answer_lines(
    answers: Mapping[str, Any],
    said: PatientTexts = texts.ENGLISH,
    say: Callable[[str], str] = _same,
    unanswered: Collection[str] = (),
) -> list[tuple[str, str]]:
    """Return each question a patient answered with the answer, as staff read them: the
    staff wording through `say` (the reader's gettext), the options in `said`'s language.

    The questions in `unanswered` (asked, and left out of an urgent answer: `unanswered`)
    read "Not answered" in their place, so the person calling back asks them rather than
    reading a silence as "no"."""
    lines = []
    for name, question in said.questions.items():
        if name in unanswered:
            lines.append((say(question.staff), say(NOT_ANSWERED)))
            continue
        if name not in answers:
            continue
        value = answers[name]
        if question.kind == "scale":
            answer = f"{value}/10"
        elif question.kind == "signs":
            labels = dict(question.options)
            answer = ", ".join(labels.get(v, v) for v in value) if value else say(N_("None"))
        elif question.kind == "choice":
            answer = dict(question.options).get(value, value)
        else:
            answer = value
        lines.append((say(question.staff), answer))
    return lines


def backoff(attempts: int) -> timedelta | None:
    """Return the wait before the next attempt, or None when attempts are used up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(minutes=BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1])


def message_id(outbox_id: int, domain: str) -> str:
    """Derive the Message-ID from the reminder id, so a receiver can drop a duplicate."""
    return f"<needlesafe-reminder-{outbox_id}@{domain}>"


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


def patient_message(
    *,
    first_name: str,
    clinic: str,
    appointment: date,
    link: str,
    stop_link: str,
    is_reminder: bool,
    kind: str = Kind.DAY_1,
    said: PatientTexts = texts.ENGLISH,
) -> Message:
    """Compose a patient's message in their language (`said`): no clinical detail, just who,
    where, when and the link. The 48-hour check says it is one more question, so it is not
    taken for the 24-hour check (or its reminder) again."""
    pages = said.pages
    own = "_48h" if kind == Kind.DAY_2 else ""
    opening = pages["message_reminder_hello" if is_reminder else "message_hello"]
    text = (
        f"{opening.format(first_name=first_name, clinic=clinic)}\n\n"
        f"{pages['message_ask' + own].format(date=said.date(appointment))}\n{link}\n\n"
        f"{pages['message_stop']} {stop_link}\n"
    )
    return Message(pages["message_subject" + own].format(clinic=clinic), text)


#: What the duty address and the on-call mobile are asked to do.
CONTACT_NOW = N_("Please open NeedleSafe now and make sure someone contacts the patient:")


def _unacknowledged(
    level: str,
    clinic: str,
    say: Callable[[str], str],
    *,
    practitioner_gone: bool = False,
    calls: int = 0,
    not_sent: bool = False,
) -> str:
    """Say that an answer of this level at the clinic waited past its deadline unread."""
    if level == NO_ANSWER and not_sent:
        # Not "did not answer": the check never reached them, so the address may be wrong.
        if calls:
            return say(
                N_(
                    "The 48-hour chest check of a patient at %(clinic)s, after needling near "
                    "the lung, never reached them, and the practitioner's calls since "
                    "(%(calls)s) found no reply. Keep trying to reach them, to ask about chest "
                    "pain, pain breathing in or breathlessness."
                )
            ) % {"clinic": clinic, "calls": calls}
        return say(
            N_(
                "The 48-hour chest check of a patient at %(clinic)s, after needling near the "
                "lung, never reached them, and nobody has recorded calling them. Call them to "
                "ask about chest pain, pain breathing in or breathlessness, and check the "
                "contact details the clinic holds."
            )
        ) % {"clinic": clinic}
    if level == NO_ANSWER and practitioner_gone:
        return say(
            N_(
                "A patient at %(clinic)s did not answer the 48-hour chest check after needling "
                "near the lung, and the practitioner who treated them no longer treats patients "
                "here: nobody else has this patient on their list. Call them to ask about chest "
                "pain, pain breathing in or breathlessness."
            )
        ) % {"clinic": clinic}
    if level == NO_ANSWER and calls:
        return say(
            N_(
                "A patient at %(clinic)s did not answer the 48-hour chest check after needling "
                "near the lung, and the practitioner's calls since (%(calls)s) found no reply. "
                "Keep trying to reach them, to ask about chest pain, pain breathing in or "
                "breathlessness."
            )
        ) % {"clinic": clinic, "calls": calls}
    waited = {
        EMERGENCY: say(N_("%(n)s minutes")) % {"n": EMERGENCY_ACK // timedelta(minutes=1)},
        SAME_DAY: say(N_("%(n)s working hours")) % {"n": SAME_DAY_ACK_WORKING_HOURS},
        REVIEW: say(N_("%(n)s working days")) % {"n": REVIEW_WITHIN_WORKING_DAYS},
        NO_ANSWER: say(N_("%(n)s working hours")) % {"n": SILENCE_ACK_WORKING_HOURS},
    }[level]
    # Each level's sentence whole: the level's word agrees with "answer" in French and Spanish.
    opening = {
        EMERGENCY: N_(
            "A patient's emergency follow-up answer at %(clinic)s has not been acknowledged "
            "for %(waited)s."
        ),
        SAME_DAY: N_(
            "A patient's same-day follow-up answer at %(clinic)s has not been acknowledged "
            "for %(waited)s."
        ),
        REVIEW: N_(
            "A patient's review follow-up answer at %(clinic)s has not been acknowledged "
            "for %(waited)s."
        ),
        NO_ANSWER: N_(
            "A patient at %(clinic)s did not answer the 48-hour chest check after needling "
            "near the lung, and nobody has recorded calling them for %(waited)s. Call them "
            "to ask about chest pain, pain breathing in or breathlessness."
        ),
    }[level]
    return say(opening) % {"clinic": clinic, "waited": waited}


def duty_escalation(
    *,
    level: str,
    clinic: str,
    link: str,
    say: Callable[[str], str] = _same,
    practitioner_gone: bool = False,
    calls: int = 0,
    not_sent: bool = False,
) -> Message:
    """Compose the message to a clinic's duty address about an answer nobody acknowledged:
    the level and how long it waited, and a link; no patient details. `not_sent`: the
    silence is a chest check that never reached the patient (`CHEST_CHECK_NOT_SENT`).

    Written in the clinic's language: `say` is that catalogue's gettext, English by default.
    """
    subject = {
        EMERGENCY: N_("NeedleSafe: unacknowledged emergency answer at %(clinic)s"),
        SAME_DAY: N_("NeedleSafe: unacknowledged same-day answer at %(clinic)s"),
        REVIEW: N_("NeedleSafe: unacknowledged review answer at %(clinic)s"),
        NO_ANSWER: N_("NeedleSafe: a chest check nobody answered at %(clinic)s"),
    }[level]
    if level == NO_ANSWER and not_sent:
        subject = N_("NeedleSafe: a chest check that never reached the patient at %(clinic)s")
    said = _unacknowledged(
        level, clinic, say, practitioner_gone=practitioner_gone, calls=calls, not_sent=not_sent
    )
    text = f"{said}\n\n{say(CONTACT_NOW)}\n{link}\n"
    return Message(say(subject) % {"clinic": clinic}, text)


def on_call_text(
    *, level: str, clinic: str, link: str, escalated: bool, say: Callable[[str], str] = _same
) -> Message:
    """Compose the text to a clinic's on-call mobile: an emergency answer as it comes in, or
    an urgent answer nobody acknowledged in time. Short, and no patient details (a text can
    be read on a locked screen): the clinic, the level and a link that needs signing in.

    Written in the clinic's language, as the duty address's mail is.
    """
    if escalated:
        said = _unacknowledged(level, clinic, say)
    else:
        said = say(N_("A patient's emergency follow-up answer has come in at %(clinic)s.")) % {
            "clinic": clinic
        }
    return Message("", f"NeedleSafe: {said} {say(CONTACT_NOW)} {link}")


def practitioner_alert(
    *, level: str, clinic: str, link: str, say: Callable[[str], str] = _same
) -> Message:
    """Compose an alert to the practitioner: the level and a link, no patient details.

    Written in the practitioner's language: `say` is their catalogue's gettext (the words are
    marked with N_ for it), English by default.
    """
    words = {
        EMERGENCY: say(N_("EMERGENCY")),
        SAME_DAY: say(N_("Same-day")),
        REVIEW: say(N_("Review")),
    }[level]
    opening = say(N_("%(level)s follow-up answer at %(clinic)s.")) % {
        "level": words,
        "clinic": clinic,
    }
    ask = say(N_("A patient's follow-up answer needs you. Open NeedleSafe to see it:"))
    text = f"{opening}\n\n{ask}\n{link}\n"
    subject = say(N_("NeedleSafe: %(level)s follow-up answer")) % {"level": words.lower()}
    return Message(subject, text)
