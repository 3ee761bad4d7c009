"""Verify the flags: each one raised still there, with the kind, severity, record and words
its flag.raise event recorded, and whatever a flag says was done to it (acknowledged,
handled, escalated, resolved, called with no reply) held to the event that did it: its
time, who did it, and (since 2026-12-08) the digest of the note they wrote.

A flag's status is meant to change, so no trigger guards it; an insider's review wrote
"Acknowledged by ... What was done: Called patient" on a flag nobody touched, and deleted
another, and verify said intact. Every use case that raises a flag writes its flag.raise
event, with the flag's words and links (`Flag.raise_details`) since 2026-12-07.

A flag with no event is named once it is dated after the first flag this version raised
(every flag from then on has one), or before its session began (no use case raises such a
flag), so a false alarm an insider puts on a colleague's record is named either way.

What it cannot hold until `flask audit backfill-flags` has run (integrity/backfill.py): a
flag whose event predates that is held to its kind, session and severity only, and a
signature's or a failed delivery's from before then to its marks only; and a flag without an
event on a session that began before then, dated before then, reads as one of the old ones.
The backfill writes each such flag's words on the chain, with the time it was raised; from
its `audit.flags_backfilled` event on, every flag is held to its words and a flag with no
event is named whenever it is dated.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.checklists.models import Flag, FlagStatus, TreatmentSession
from safety.followup.models import PatientResponse
from safety.hashing import hashed_time, sha256_hex
from safety.integrity.reader import streamed

#: The events that may set each of a flag's marks (a resolution or a practitioner's record of
#: what they did acknowledges an open flag too).
MARKS = {
    "acknowledged_dt": ("flag.acknowledge", "flag.handled", "flag.resolve"),
    "handled_dt": ("flag.handled",),
    "escalated_dt": ("flag.escalate",),
    "resolved_dt": ("flag.resolve",),
    "last_attempt_dt": ("flag.no_reply",),  # last, and to the instant its event was written
}
ACTIONS = ("flag.raise", *{a for actions in MARKS.values() for a in actions})
#: The column naming who made each mark that names anyone: the actor of the event it holds.
BY = {
    "acknowledged_dt": "acknowledged_by_id",
    "handled_dt": "handled_by_id",
    "resolved_dt": "resolved_by_id",
}
#: The system chain's event a backfill ends with: every flag there was then has its words on
#: the chain, and this version raises every flag since (integrity/backfill.py).
BACKFILLED = "audit.flags_backfilled"


def verify_flags(db_: Connection | Session) -> str | None:
    """Name the first flag that vanished, or that carries a mark no event made, or a mark
    whose time is not the time of an event that makes it (each event's time is the moment
    its use case wrote the mark)."""
    events: dict[int, dict[str, dict]] = defaultdict(dict)
    #: When each flag's events were written, by action, and by whom: a mark holds the time of
    #: one of them, and the person its column names is that event's actor.
    written: dict[int, dict[str, dict[datetime, int | None]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    #: The last call with no reply of each flag: (its count, when its event was written).
    last_call: dict[int, tuple[int, datetime]] = {}
    #: Flags with two worded flag.raise events that say different things.
    disagree: set[int] = set()
    for object_id, action, details, created, actor in db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.action,
            AuditEvent.details,
            AuditEvent.created_dt,
            AuditEvent.actor_id,
        ).where(AuditEvent.action.in_(ACTIONS), AuditEvent.object_type == Flag.__tablename__)
    ):
        # Only the id as the application writes it: "01" is no flag (an event appended under
        # it once stood in for flag 1's own, a review found).
        if not (object_id and object_id.isdecimal() and str(int(object_id)) == object_id):
            continue
        details = details or {}
        done = events[int(object_id)]
        written[int(object_id)][action][created] = actor
        if action == "flag.no_reply":  # one per call: the one that counted the most of them
            attempt = details.get("attempt", 0)
            if attempt < last_call.get(int(object_id), (0, created))[0]:
                continue
            last_call[int(object_id)] = (attempt, created)
        if action == "flag.raise" and "message_hash" in (kept := done.get(action, {})):
            # The application raises a flag once, with its words: a second worded event that
            # says otherwise was appended to change them, whichever of the two is read first.
            if "message_hash" in details and details != kept:
                disagree.add(int(object_id))
            continue  # an old event without the words, and the backfill's with them: the words
        done[action] = details
    since = worded_since(db_)
    if disagree:
        return f"flag {min(disagree)} has flag.raise events on the audit chain that disagree"
    raised = {flag_id for flag_id, done in events.items() if "flag.raise" in done}
    columns = (
        Flag.id,
        Flag.kind,
        Flag.status,
        Flag.handled_action,
        Flag.resolution_note,
        Flag.session_id,
        Flag.followup_id,
        Flag.severity,
        Flag.response_id,
        Flag.message,
        Flag.created_dt,
        TreatmentSession.started_dt,
        Flag.call_attempts,
        Flag.handled_note,
        PatientResponse.session_id.label("answered_on"),
        *(getattr(Flag, column) for column in BY.values()),
        *(getattr(Flag, mark) for mark in MARKS),
    )
    there = set()
    query = (
        select(*columns)
        .join(TreatmentSession, TreatmentSession.id == Flag.session_id)
        .outerjoin(PatientResponse, PatientResponse.id == Flag.response_id)
    )
    with streamed(db_, query.order_by(Flag.id)) as rows:
        for row in rows:
            flag_id = row.id
            there.add(flag_id)
            done, times = events.get(flag_id, {}), written.get(flag_id, {})
            called = last_call.get(flag_id, (0, None))
            if problem := _unaccounted(row, done, times, called, since):
                return problem
    if missing := sorted(raised - there):
        return f"flag {missing[0]}, raised on the audit chain, is missing"
    return None


def backfilled(db_: Connection | Session) -> bool:
    """Whether `flask audit backfill-flags` has run (integrity/backfill.py)."""
    found = db_.execute(select(AuditEvent.id).where(AuditEvent.action == BACKFILLED).limit(1))
    return found.first() is not None


def worded_since(db_: Connection | Session) -> datetime | None:
    """Since when every flag has its flag.raise event with its words: the first this version
    raised (a backfill's own events, written later about older flags, do not count), or from
    the beginning once a backfill has run (`misplaced`)."""
    if backfilled(db_):
        return datetime.min.replace(tzinfo=UTC)
    return db_.execute(
        select(func.min(AuditEvent.created_dt)).where(
            AuditEvent.action == "flag.raise",
            AuditEvent.object_type == Flag.__tablename__,
            AuditEvent.details["message_hash"].as_string().is_not(None),
            AuditEvent.details["backfilled"].as_string().is_(None),
        )
    ).scalar_one()


def misplaced(
    flag_id: int, created: datetime, started: datetime, since: datetime | None, *, raised: bool
) -> str | None:
    """A flag no use case raises: dated before its session began, or with no flag.raise event
    though dated after this version raised its first (`since`), when every flag has one.

    A false critical flag an insider put on a colleague's clean record is named, dated now or
    dated back past `since`. The backfill refuses such a flag rather than vouch for it.
    """
    if created < started:
        return f"flag {flag_id} is dated before its session began"
    if not raised and since is not None and created >= since:
        return (
            f"flag {flag_id} has no flag.raise event on the audit chain: it was added behind "
            "the application's back"
        )
    return None


def _unaccounted(
    row,
    done: dict[str, dict],
    times: dict[str, dict[datetime, int | None]],
    last_call: tuple,
    since: datetime | None,
) -> str | None:
    """What a flag's row says that its events (`done`, written at `times`) do not: a mark
    no event made, or made at another time, or a kind, place, severity or words other than
    its flag.raise event recorded (see `verify_flags`); or no event at all for a flag dated
    after this version raised its first (`since`), or dated before its session began."""
    flag_id, kind, severity, message = row.id, row.kind, row.severity, row.message
    status, note, handled_note = row.status, row.resolution_note, row.handled_note
    session_id, followup_id, response_id = row.session_id, row.followup_id, row.response_id
    created, started, answered_on = row.created_dt, row.started_dt, row.answered_on
    handled_action, attempts = row.handled_action, row.call_attempts
    by = {mark: getattr(row, column) for mark, column in BY.items()}
    marks = [getattr(row, mark) for mark in MARKS]
    if problem := misplaced(flag_id, created, started, since, raised="flag.raise" in done):
        return problem
    for (mark, actions), value in zip(MARKS.items(), marks, strict=True):
        if value is not None and mark in BY:
            # Whoever the row says did it is whoever did it: who resolved a missing needle's
            # flag, rewritten, read intact (an insider's review).
            actors = {times[a][value] for a in actions if value in times.get(a, {})}
            if actors and by[mark] not in actors:
                said = mark.removesuffix("_dt")
                return f"flag {flag_id} is marked {said} by someone its event does not name"
        if value is None or any(value in times.get(action, ()) for action in actions):
            continue
        said = mark.removesuffix("_dt")
        if not any(action in done for action in actions):
            return f"flag {flag_id} is marked {said} with no event on the audit chain"
        # An insider moved the time: a silence "called about" before it was escalated.
        return f"flag {flag_id} is marked {said} at a time no event on the audit chain has"
    # What the queue and the escalations read: the kind it was raised as, and a status
    # past open only by an event that moved it (a code review turned an open same-day
    # answer into an acknowledged review one, and its escalation stopped).
    raised_as = done.get("flag.raise", {})
    if kind != raised_as.get("kind", kind):
        return f"flag {flag_id} is not of the kind its flag.raise event recorded"
    # Where its event recorded them (raised since 2026-12-07): the record, the follow-up
    # and the severity it was raised on. A code review moved a flag onto another
    # practitioner's session and verify said intact.
    for key, value, said in (
        ("session", session_id, "session"),
        ("followup", followup_id, "follow-up"),
        ("response", response_id, "patient answer"),
    ):
        # An event that holds the words names every link the flag had (`raise_details`):
        # one it leaves out was none, so a calm answer pinned to a signature's critical
        # flag is named too.
        recorded = raised_as.get(key) if "message_hash" in raised_as else raised_as.get(key, value)
        if recorded != value:
            return f"flag {flag_id} is not on the {said} its flag.raise event recorded"
    # A patient's answer and its flag are on one record: an answer moved with its check to
    # another patient's record left its flag behind (a review).
    if response_id is not None and answered_on != session_id:
        return f"flag {flag_id} is on another record than the patient answer it was raised on"
    if "severity" in raised_as and raised_as["severity"] != severity:
        return f"flag {flag_id} is not of the severity its flag.raise event recorded"
    if "message_hash" in raised_as:
        # Since the signature's flags went on the chain (2026-12-07), what it says (a missing
        # needle's critical flag reworded "Nothing to see." read intact) and when it was
        # raised, the moment its event was written: escalation counts from it, and an
        # emergency answer's flag moved a year on was never sent to the duty address.
        if raised_as["message_hash"] != sha256_hex(message):
            return f"the message of flag {flag_id} is not the one its flag.raise event recorded"
        if raised_as.get("backfilled"):
            # Written after the fact: it holds the time the flag says it was raised.
            if raised_as.get("raised") != hashed_time(created):
                return f"flag {flag_id} is dated at another time than its flag.raise event recorded"
        elif created not in times.get("flag.raise", ()):
            return f"flag {flag_id} is dated at a time its flag.raise event was not written"
    if status != FlagStatus.OPEN and not done.keys() & set(MARKS["acknowledged_dt"]):
        return f"flag {flag_id} is {status} with no event on the audit chain"
    if status == FlagStatus.RESOLVED and "flag.resolve" not in done:
        return f"flag {flag_id} is resolved with no event on the audit chain"
    if handled_action is not None and done.get("flag.handled", {}).get("action") != handled_action:
        return f"what was done about flag {flag_id} is not what its flag.handled event recorded"
    counted, at = last_call
    if (attempts, row.last_attempt_dt) != (counted, at):  # aware times: equal as instants
        return (
            f"the calls with no reply of flag {flag_id} are not the ones its flag.no_reply "
            "events counted"
        )
    if note is not None and done.get("flag.resolve", {}).get("note_length") != len(note):
        return (
            f"the resolution note of flag {flag_id} is not the one its flag.resolve event counted"
        )
    # Since 2026-12-08 the notes' digests: a resolution rewritten at the same length ("X-ray
    # arranged, GP informed" into "No action was needed") read intact (an insider's review).
    for action, written_note, said in (
        ("flag.resolve", note, "resolution note of"),
        ("flag.handled", handled_note, "note on what was done about"),
    ):
        recorded = done.get(action, {}).get("note_hash")
        if recorded is not None and recorded != sha256_hex(written_note or ""):
            return f"the {said} flag {flag_id} is not the one its {action} event recorded"
    return None
