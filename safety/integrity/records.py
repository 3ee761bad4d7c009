"""Verify what the signed records say: each record's content hash, and each record, addendum
and cancellation held to the event that put it on an audit chain (every session's start and
an unsigned one's entries: sessions.py).

A record's own hash proves nothing to someone who can rewrite the record and its hash
together, so each one is also held to the hash its signing event put on the chain, and the
columns copied from the answers (the lot, the outcomes) to the answers themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from safety.audit.models import AuditEvent
from safety.checklists.addenda import addendum_hash
from safety.checklists.models import Addendum, TreatmentSession
from safety.checklists.rules import (
    ANSWER_COLUMNS,
    NO_REACTION,
    REACTIONS_LINK_ID,
    REACTIONS_WORST_FIRST,
)
from safety.integrity.flags import verify_flags
from safety.integrity.followups import verify_followups
from safety.integrity.incidents import verify_incidents
from safety.integrity.packs import verify_open_packs, verify_packs
from safety.integrity.reader import (
    BATCH,
    Documents,
    Reader,
    TextLiterals,
    as_stored,
    number,
    sha,
    streamed,
)
from safety.integrity.responses import verify_responses
from safety.integrity.sessions import verify_starts, verify_unsigned
from safety.integrity.templates import verify_templates

TS = TreatmentSession


def verify_signatures(
    db_: Connection | Session,
    *,
    packs_up_to: int | None = None,
    packs: bool = True,
    answers: bool = True,
) -> str | None:
    """Hold the records and addenda to their signing events, and the copied columns to the
    answers, then what changes after signing or is never signed: every session's start, a
    session never signed (its patient, entries and packs), the follow-ups and (`answers`) the
    patients' answers and the flags. The signing events first: a record forged with a
    recomputed hash is named for that, not for a copied column that no longer matches its
    forged answers.

    The packs are the costly part (each record's answers read again): with a worker process,
    the worker holds those up to `packs_up_to` and the parent the rest (`packs=False` there),
    and the parent also runs `verify_answers` while the worker finishes these. With all of
    them in the worker, the worker took 70 s of a 73-s run on a million records and the
    parent 36 (`make bench`, 2026-12-07).
    """
    checks = (
        _verify_signing_events,
        _verify_answer_columns,
        *([lambda d: verify_packs(d, last_id=packs_up_to)] if packs else []),
        _verify_addenda,
        _verify_cancellations,
        verify_templates,
        verify_incidents,
        verify_starts,
        verify_unsigned,
        verify_open_packs,
        # An answer deleted reads first as missing, then as its check answered without it.
        *((verify_answers,) if answers else ()),
        verify_followups,
    )
    return next((found for check in checks if (found := _read_twice(check, db_))), None)


def verify_answers(db_: Connection | Session) -> str | None:
    """Hold the patients' answers and every flag to the events that made them and marked
    them."""
    checks = (verify_responses, verify_flags)
    return next((found for check in checks if (found := _read_twice(check, db_))), None)


def _read_twice(check: Callable[[Connection | Session], str | None], db_) -> str | None:
    """What a check finds, once a second reading finds it too.

    Each check reads the events and the rows in statements of their own while the clinics
    keep working: a flag acknowledged, an answer saved or a step ticked between the two reads
    looked like a row without its event (a code review made one happen). The application
    writes a row and its event in one transaction, so a second reading sees both; tampering
    is still there when it is read again."""
    return check(db_) and check(db_)


# --- the records' content hashes ---------------------------------------------------------------


def verify_records(
    first_id: int | None = None, last_id: int | None = None
) -> tuple[int, str | None]:
    """Re-hash the signed records with first_id < id <= last_id (all of them by default).

    As with the chain's details, the JSON columns are taken as stored first. But a record
    splices several of them, and text moved from one into the next (a phase entry folded into
    its neighbour's notes) would rebuild the very same bytes; so stored text is used as it is
    only where the database vouches that each column holds one JSON value (SQLite's
    `json_valid`, PostgreSQL's `json` type). Otherwise, and when that does not give the hash
    (text stored before the application wrote it canonical), each column is decoded and
    encoded again.
    """
    reader = Reader.for_session()
    iso, day = reader.iso, reader.day
    text, document = TextLiterals().__getitem__, Documents().__getitem__
    count = 0
    upper = "" if last_id is None else f" AND id <= {int(last_id)}"
    sessions_sql = (
        "SELECT id, clinic_id, patient_id, practitioner_id, template_version_id, "
        f"{reader.date('session_date')}, {reader.json('answers')}, {reader.json('notes')}, "
        f"signed_by_id, signer_name, signature_meaning, {reader.dt('signed_dt')}, content_hash, "
        f"{reader.valid_json('treatment_sessions', 'answers', 'notes')} "
        f"FROM treatment_sessions WHERE signed_dt IS NOT NULL AND id > {reader.mark}{upper} "
        f"ORDER BY id LIMIT {BATCH}"
    )
    entries_sql = (
        f"SELECT session_id, id, phase, author_id, {reader.dt('submitted_dt')}, "
        f"{reader.json('answers')}, {reader.json('notes')}, "
        f"{reader.valid_json('phase_entries', 'answers', 'notes')} FROM phase_entries "
        f"WHERE session_id >= {reader.mark} AND session_id <= {reader.mark} "
        "ORDER BY session_id, id"
    )

    def content(record: tuple, entries: list[tuple], session_json, entry_json) -> str:
        """canonical_json(checklists.services.signed_content(session)), keys sorted. Ids that
        cannot be NULL are written with repr: a NULL forced in shows as "None"."""
        (
            record_id,
            clinic_id,
            patient_id,
            practitioner_id,
            template_version_id,
            session_date,
            answers,
            notes,
            signer_id,
            signer_name,
            meaning,
            signed,
            _stored,
            _valid,
        ) = record
        listed = ",".join(
            f'{{"answers":{entry_json(e_answers)},"author":{author!r},'
            f'"id":{entry_id},"notes":{entry_json(e_notes)},"phase":{text(phase)},'
            f'"submitted_dt":"{iso(submitted)}"}}'
            for _, entry_id, phase, author, submitted, e_answers, e_notes, _ in entries
        )
        return (
            f'{{"answers":{session_json(answers)},"clinic":{clinic_id!r},'
            f'"entries":[{listed}],"notes":{session_json(notes)},"patient":{patient_id!r},'
            f'"practitioner":{practitioner_id!r},"record":{record_id},'
            f'"session_date":"{day(session_date)}","signature":{{'
            f'"meaning":{text(meaning)},"name":{text(signer_name)},'
            f'"signed_dt":"{iso(signed)}","signer":{number(signer_id)}}},'
            f'"template_version":{template_version_id!r}}}'
        )

    after = _LOWEST_ID if first_id is None else first_id
    while True:
        batch = reader.all(sessions_sql, (after,))
        if not batch:
            return count, None
        entries: dict[int, list[tuple]] = {}
        for entry in reader.all(entries_sql, (batch[0][0], batch[-1][0])):
            entries.setdefault(entry[0], []).append(entry)
        for record in batch:
            record_id, stored, is_valid = record[0], record[12], record[13]
            listed = entries.get(record_id, [])
            # The stored spelling where the database vouches for it, then every column decoded.
            first_try = (
                as_stored if is_valid else document,
                as_stored if all(e[7] for e in listed) else document,
            )
            if sha(content(record, listed, *first_try)) != stored and (
                first_try == (document, document)
                or sha(content(record, listed, document, document)) != stored
            ):
                return count, f"signed record {record_id} does not match its content hash"
            count += 1
        after = batch[-1][0]


#: Below any id: the records pass, like the chain walk, leaves out no row whatever its id.
_LOWEST_ID = -(2**63)


# --- the answers copied to columns -----------------------------------------------------------


def _verify_answer_columns(db_: Connection | Session) -> str | None:
    """Hold the lot and outcome columns of each signed record to its signed answers.

    The lot trace and the dashboard read these columns, not the answers: a lot changed here
    would leave a patient out of a recall while the content hash still matched. The answers
    themselves were verified just before.
    """

    def signed_answer(column: str):
        is_number = isinstance(getattr(TS, column).type, Integer)
        values = [
            TS.answers[link_id].as_integer() if is_number else TS.answers[link_id].as_string()
            for link_id in ANSWER_COLUMNS[column]
        ]
        if column == "reaction":
            values.append(_worst_reaction())
        return values[0] if len(values) == 1 else func.coalesce(*values)

    differs = {
        column: getattr(TS, column).is_distinct_from(signed_answer(column))
        for column in ANSWER_COLUMNS
    }
    first = db_.scalar(
        select(func.min(TS.id)).where(TS.signed_dt.is_not(None), or_(*differs.values()))
    )
    if first is None:
        return None
    found = db_.execute(select(*differs.values()).where(TS.id == first)).one()
    changed = ", ".join(c for c, is_changed in zip(differs, found, strict=True) if is_changed)
    return f"signed record {first}: {changed} no longer matches its signed answers"


class _HasCode(FunctionElement):
    """Whether a signed multiple-choice answer (a JSON array) holds one code."""

    type = Boolean()
    inherit_cache = True


@compiles(_HasCode, "sqlite")
def _has_code_sqlite(element, compiler, **kw) -> str:
    answers, link_id, code = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({answers}, '$.\"' || {link_id} || '\"') "
        f"WHERE json_each.value = {code})"
    )


@compiles(_HasCode, "postgresql")
def _has_code_postgresql(element, compiler, **kw) -> str:
    answers, link_id, code = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({answers} -> {link_id}) ? {code})"


def _worst_reaction():
    """The reaction column of a version 2 record: its most serious immediate reaction, as
    `checklists.rules.worst_reaction` chose it at signing."""
    link_id = REACTIONS_LINK_ID
    cases = [
        (_HasCode(TS.answers, literal(link_id), literal(code)), literal(code))
        for code in REACTIONS_WORST_FIRST
    ]
    answered = TS.answers[link_id].as_json().is_not(None)
    return case(*cases, (answered, literal(NO_REACTION)), else_=null())


# --- what the chain says was signed ----------------------------------------------------------


def _verify_signing_events(db_: Connection | Session) -> str | None:
    """Hold every signed record to the content hash its `session.sign` event put on the chain.

    A record that hashes to its own content_hash proves nothing against someone who rewrote
    both: the hash is public arithmetic. The signing event is on the chain, so it cannot be
    rewritten, and it names the hash that was signed. Each event must find its record signed
    with that hash, and there must be as many events as signed records (the application signs
    a record once): no record was unsigned, deleted, or marked signed without the application.
    The event must be on the record's clinic's chain (or the system chain, where every event
    was before clinics had chains), so it cannot be borrowed from another clinic's.
    """
    signed_hash = AuditEvent.details["content_hash"].as_string()
    is_sign = and_(AuditEvent.action == "session.sign", AuditEvent.object_type == TS.__tablename__)
    # min() lets PostgreSQL hash-join the million rows; ORDER BY ... LIMIT 1 walked them in
    # order through the index, at twice the cost. The details come once a break is found.
    elsewhere = and_(AuditEvent.chain_id != 0, AuditEvent.chain_id != TS.clinic_id)
    first = db_.scalar(
        select(func.min(AuditEvent.id))
        .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
        .where(
            is_sign,
            or_(
                TS.signed_dt.is_(None),
                TS.content_hash.is_distinct_from(signed_hash),
                elsewhere,
            ),
        )
    )
    if first is not None:
        record_id, signed_dt, chain, seq, is_elsewhere = db_.execute(
            select(
                AuditEvent.object_id, TS.signed_dt, AuditEvent.chain_id, AuditEvent.seq, elsewhere
            )
            .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
            .where(AuditEvent.id == first)
        ).one()
        event = f"audit event {seq} of chain {chain}"
        if signed_dt is None:
            return f"signed record {record_id} ({event}) is missing or no longer signed"
        if is_elsewhere:
            return f"signed record {record_id} is signed by {event}, another clinic's chain"
        return f"signed record {record_id} does not carry the hash {event} signed"
    # Both counts in one statement, so a checklist signed meanwhile is in both or in neither.
    events, records = db_.execute(
        select(
            select(func.count()).where(is_sign).scalar_subquery(),
            select(func.count()).where(TS.signed_dt.is_not(None)).scalar_subquery(),
        )
    ).one()
    if events == records:
        return None
    unsigned_for = db_.scalar(
        select(func.min(TS.id)).where(
            TS.signed_dt.is_not(None),
            ~select(AuditEvent.id)
            .where(is_sign, AuditEvent.object_id == cast(TS.id, String))
            .exists(),
        )
    )
    if unsigned_for is not None:
        return f"signed record {unsigned_for} has no signing event on the audit chain"
    return f"the audit chain records {events} signings for {records} signed records"


# --- cancellations ---------------------------------------------------------------------------


def _verify_cancellations(db_: Connection | Session) -> str | None:
    """Hold every cancelled session to the reason its `session.cancel` event put on the chain.

    A cancelled row is final (a trigger refuses changes), but someone who drops the trigger
    could cancel a session behind the application's back, or rewrite why. Cancellations are
    rare, so the few rows and events are compared here rather than in SQL.
    """
    chained: dict[int, tuple[str, int]] = {}
    for object_id, reason_hash, seq in db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.details["reason_hash"].as_string(),
            AuditEvent.id,
        ).where(AuditEvent.action == "session.cancel", AuditEvent.object_type == TS.__tablename__)
    ):
        record_id = int(object_id) if object_id and object_id.isdecimal() else -1
        if record_id in chained:
            return f"session {record_id} is cancelled twice on the audit chain (event id {seq})"
        chained[record_id] = (reason_hash, seq)
    for record_id, reason in db_.execute(
        select(TS.id, TS.cancel_reason).where(TS.cancelled_dt.is_not(None)).order_by(TS.id)
    ):
        found = chained.pop(record_id, None)
        if found is None:
            return f"session {record_id} is cancelled without a cancel event on the audit chain"
        if sha(reason or "") != found[0]:
            return f"the cancel reason of session {record_id} is not the one event {found[1]} holds"
    if chained:
        record_id, (_, seq) = min(chained.items())
        return f"session {record_id} (audit event id {seq}) is no longer cancelled"
    return None


# --- the addenda -----------------------------------------------------------------------------


def _verify_addenda(db_: Connection | Session) -> str | None:
    """Recompute each addendum's hash and hold it to the one its event put on the chain."""
    # Corrections are rare: the hashes their events signed fit in memory, by addendum id. The
    # application signs an addendum once; a second event for it would pick which hash holds.
    signed: dict[int, str] = {}
    for addendum_id, content_hash, seq in db_.execute(
        select(
            AuditEvent.details["addendum"].as_integer(),
            AuditEvent.details["content_hash"].as_string(),
            AuditEvent.id,
        )
        .where(AuditEvent.action == "session.addendum")
        .order_by(AuditEvent.id)
    ):
        if addendum_id in signed:
            return f"addendum {addendum_id} is signed twice on the audit chain (event id {seq})"
        signed[addendum_id] = content_hash
    columns = (
        Addendum.id,
        Addendum.session_id,
        Addendum.author_id,
        Addendum.reason,
        Addendum.body,
        Addendum.signer_name,
        Addendum.signature_meaning,
        Addendum.signed_dt,
        Addendum.content_hash,
    )
    with streamed(
        db_,
        select(*columns, TreatmentSession.content_hash.label("record_hash"))
        .outerjoin(TreatmentSession, TreatmentSession.id == Addendum.session_id)
        .order_by(Addendum.id),
    ) as rows:
        for row in rows:
            if row.record_hash is None:
                return f"addendum {row.id} belongs to record {row.session_id}, which is missing"
            # addendum_hash reads these attributes; a namespace spares building ORM objects.
            addendum = SimpleNamespace(**row._mapping)
            recomputed = addendum_hash(addendum, record_hash=row.record_hash)
            if addendum.id not in signed:
                # Its event is gone (or it was added behind the application's back): the
                # addendum itself may be untouched, so it is not called altered.
                return (
                    f"addendum {addendum.id} to record {addendum.session_id} has no signing event "
                    "on the audit chain"
                )
            if not recomputed == addendum.content_hash == signed.pop(addendum.id):
                return f"addendum {addendum.id} to record {addendum.session_id} was altered"
    if signed:
        return f"addendum {min(signed)} is on the audit chain but missing from the records"
    return None
