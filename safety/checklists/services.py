"""Session checklist use cases: start, submit a phase, sign; all scoped to the acting user.

One module of about 740 lines: every use case here loads and scopes the session the same way
(`_own_open_session`, `progress`) and the signature depends on all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import defaultload, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from safety.audit import services as audit
from safety.auth import policy
from safety.auth import services as auth
from safety.auth.models import User
from safety.checklists import rules
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics import rules as clinic_rules
from safety.clinics import services as clinics
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db, take_turns_on
from safety.followup import rules as followup_rules
from safety.followup.schedule import schedule_for_signed_session
from safety.hashing import hashed_time, sha256_hex
from safety.ids import is_id
from safety.languages import N_, Said, Words
from safety.packs import rules as pack_rules
from safety.packs import services as packs
from safety.risks import services as risks
from safety.risks.models import TemplateVersion
from safety.risks.rules import Item, Template


class AlreadySigned(Conflict):
    """The checklist was signed by another request (a double tap) while this one was checked."""


class PhaseChanged(Conflict):
    """The phase was saved (from another tablet) after this form was opened.

    Keeps the entry saved since, so the form can show both versions and lose neither.
    """

    def __init__(self, saved: PhaseEntry) -> None:
        super().__init__(
            "This phase was saved from another screen after you opened it. Both versions are "
            "shown: check the saved one below, then save yours again if it is the right one."
        )
        self.saved = saved


#: The meaning of the signature, shown with it (21 CFR Part 11 §11.50).
SIGNATURE_MEANING = N_("Performed and verified these checks")
#: Longest reason a practitioner gives for cancelling a session.
CANCEL_REASON_MAX = 500


@dataclass(frozen=True)
class Progress:
    """Where a session's checklist stands: the answers in force and what remains."""

    template: Template
    answers: dict[str, Any]
    notes: dict[str, str]
    #: The latest entry of each submitted phase.
    latest: dict[str, PhaseEntry]
    next_phase: str | None
    #: Every saved phase, (phase, answers), in the order saved: what was true before the
    #: latest answers (`needles_may_be_in`).
    history: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def submitted(self) -> tuple[str, ...]:
        return tuple(self.latest)

    @property
    def stop(self) -> Item | None:
        """The answer that stopped the session (consent "No"), if any."""
        return rules.stopped_by(self.template, self.answers)

    @property
    def needles_may_be_in(self) -> bool:
        """A Time out saved while nothing stopped the session (`rules.needles_may_be_in`)."""
        return rules.needles_may_be_in(self.template, self.history)

    def cancel_flags(self) -> list[rules.FlagSpec]:
        """The flags cancelling the session now raises (`rules.cancel_flags`)."""
        return rules.cancel_flags(self.template, self.history, self.answers)


def template_for(session: TreatmentSession) -> Template:
    """Return the typed template the session pinned when it started."""
    return risks.typed(session.template_version)


#: A session's template version without its checklist document (about 40 KB of JSON to send
#: and decode on every page): pages read the checklist through `template_for`, which builds it
#: once per published version and loads the document only then.
WITHOUT_DOCUMENT = (TemplateVersion.definition,)

#: What a record page shows of a session, loaded with it: its people, its template version
#: and its lists, in a fixed number of statements however many entries, flags or addenda.
RECORD_PAGE = (
    joinedload(TreatmentSession.clinic),
    joinedload(TreatmentSession.patient),
    joinedload(TreatmentSession.practitioner),
    joinedload(TreatmentSession.cancelled_by),
    joinedload(TreatmentSession.template_version).defer(*WITHOUT_DOCUMENT),
    selectinload(TreatmentSession.addenda),
)
#: What the other uses of a session load with it: the template version still when first
#: read, as the relationship does, but without the document.
OTHER_USES = (defaultload(TreatmentSession.template_version).defer(*WITHOUT_DOCUMENT),)


def get_session(
    actor: User, session_id: int, *, page: bool = False, fresh: bool = False
) -> TreatmentSession:
    """Return a session in the actor's scope; anything else is not found, never forbidden.

    `page` also loads what a record page shows (RECORD_PAGE); `fresh` reads it again even if
    this request has read it before (a row just locked may have changed since).
    """
    if not is_id(session_id):
        raise NotFound(N_("No such session."))
    session = db.session.scalar(
        policy.visible_sessions(actor)
        .where(TreatmentSession.id == session_id)
        .options(selectinload(TreatmentSession.entries), selectinload(TreatmentSession.flags))
        .options(*(RECORD_PAGE if page else OTHER_USES))
        .execution_options(populate_existing=fresh)
    )
    if session is None:
        raise NotFound(N_("No such session."))
    return session


def _own_open_session(actor: User, session_id: int, *, fresh: bool = False) -> TreatmentSession:
    session = get_session(actor, session_id, fresh=fresh)
    _refuse_unless_author(actor, session)
    _refuse_if_closed(session)
    return session


def _refuse_unless_author(actor: User, session: TreatmentSession) -> None:
    if not policy.is_author(actor, session):
        raise Forbidden(
            N_("Only the practitioner who started this session can fill it in or sign it.")
        )


def _refuse_if_closed(session: TreatmentSession) -> None:
    if session.is_signed:
        raise AlreadySigned(N_("This checklist is signed and can no longer be changed."))
    if session.is_cancelled:
        raise Conflict(N_("This session was cancelled and can no longer be changed."))


def open_phase(actor: User, session_id: int, phase_id: str) -> tuple[TreatmentSession, Progress]:
    """Return a session whose phase the actor may fill now, with its progress, for the form.

    The page asks the same refusals as the save (`submit_phase`), so the two never disagree.
    A signed or cancelled session is said first: anyone who reads the record may be told so.
    """
    session = get_session(actor, session_id)
    state = progress(session)
    if phase_id not in state.template.phase_ids:
        raise NotFound(N_("No such phase."))
    _refuse_if_closed(session)
    _refuse_unless_author(actor, session)
    return session, state


def progress(session: TreatmentSession) -> Progress:
    """Return the answers in force (latest entry per phase) and the next phase to fill."""
    template = template_for(session)
    latest: dict[str, PhaseEntry] = {}
    for entry in session.entries:  # ordered by id: later submissions win
        latest[entry.phase] = entry
    ordered = {p: latest[p] for p in template.phase_ids if p in latest}
    answers: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for entry in ordered.values():
        answers.update(entry.answers)
        notes.update(entry.notes)
    history = tuple((entry.phase, entry.answers) for entry in session.entries)
    return Progress(
        template, answers, notes, ordered, rules.next_phase(template, ordered, answers), history
    )


def start_session(actor: User, *, patient_id: int, now: datetime | None = None) -> TreatmentSession:
    """Start a session for a patient of the practitioner's clinic on the current template."""
    policy.require(policy.can_start_session(actor), N_("Only practitioners start sessions."))
    now = now or utcnow()
    patient = clinics.get_patient(actor, patient_id)
    # A second tap on the patient's button (rules.REPEAT_WINDOW) opens the session the first
    # one started, while nothing is in it yet.
    take_turns_on(Patient, patient.id)
    if (started := _just_started(actor, patient.id, now)) is not None:
        return started
    template = risks.ensure_current_template(now=now)
    session = TreatmentSession(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        practitioner_id=actor.id,
        template_version_id=template.id,
        session_date=now.astimezone(actor.clinic.zone).date(),
        started_dt=now,
    )
    db.session.add(session)
    db.session.flush()
    audit.record(
        "session.create",
        actor=actor,
        obj=session,
        details={"template": template.version, "patient": patient.id},
        now=now,
    )
    return session


def _just_started(actor: User, patient_id: int, now: datetime) -> TreatmentSession | None:
    """This practitioner's session for this patient started within the repeat window and
    still untouched (no phase saved, not cancelled), if there is one."""
    return db.session.scalar(
        select(TreatmentSession)
        .where(
            TreatmentSession.patient_id == patient_id,
            TreatmentSession.practitioner_id == actor.id,
            TreatmentSession.started_dt >= now - rules.REPEAT_WINDOW,
            TreatmentSession.signed_dt.is_(None),
            TreatmentSession.cancelled_dt.is_(None),
            ~select(PhaseEntry.id).where(PhaseEntry.session_id == TreatmentSession.id).exists(),
        )
        .order_by(TreatmentSession.id)
        .limit(1)
    )


def patients_to_start(
    actor: User, *, search: str = "", limit: int = 500
) -> list[tuple[Patient, date | None]]:
    """The patients a practitioner may start a session for, each with their last session date.

    Most recently seen first, so the patient on the couch is usually the first button of the
    picker; `search` keeps the names that contain it (it never reaches a URL or a log).
    Each patient's last visit is one probe of the (patient, date) index, so the page costs what
    the clinic's patients are rather than its whole history of sessions (migration 0018).
    """
    last_visit = (
        select(func.max(TreatmentSession.session_date))
        .where(TreatmentSession.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
        .label("last_visit")
    )
    query = (
        policy.visible_patients(actor)
        .add_columns(last_visit)
        .order_by(None)
        .order_by(
            last_visit.desc().nulls_last(), Patient.family_name, Patient.given_name, Patient.id
        )
        .limit(limit)
    )
    if search.strip():
        # Accents and case aside (clinics.rules.search_key): "lucia" finds Lucía.
        wanted = clinic_rules.search_key(search[:100])
        query = query.where(Patient.search_name.contains(wanted, autoescape=True))
    return [(patient, last) for patient, last in db.session.execute(query)]


def start_session_for_new_patient(
    actor: User,
    *,
    given_name: str,
    family_name: str,
    email: str | None,
    phone: str | None,
    is_followup_consent: bool,
    language: str = "en",
    birth_date: str | None = None,
    now: datetime | None = None,
    form_key: str | None = None,
) -> TreatmentSession:
    """Register a patient at the practitioner's clinic and start their session at once.

    The same form sent again (its `form_key`: a double tap, a resend over a slow connection)
    is the patient it added; their session is the one it started while that is untouched and
    under a minute old (`start_session`), a new one after that."""
    patient = clinics.add_patient(
        actor,
        given_name=given_name,
        family_name=family_name,
        email=email,
        phone=phone,
        is_followup_consent=is_followup_consent,
        language=language,
        birth_date=birth_date,
        now=now,
        form_key=form_key,
    )
    return start_session(actor, patient_id=patient.id, now=now)


def submit_phase(
    actor: User,
    session_id: int,
    phase_id: str,
    form: Mapping[str, Sequence[str]],
    *,
    opened_entry: int | None = None,
    now: datetime | None = None,
) -> PhaseEntry:
    """Save one phase of the checklist, refusing it whole if any answer breaks a rule.

    `opened_entry` is the phase's latest entry when the form was opened (0: none yet). Given,
    a save on top of a newer entry (another tablet saved the phase meanwhile) is refused with
    both versions instead of silently replacing the other one.
    """
    now = now or utcnow()
    # Every save takes the session's row before it reads the session, not only a form that
    # says what it was opened on: a save without that (a script, an old form) sent beside
    # "Sign" read the session open, waited for nothing, and added its entry to the record
    # after the signature (a review). Read under the lock, it sees what the signature (or
    # another tablet's save) committed, and is refused or goes on from there.
    _hold_row(session_id)
    session = _own_open_session(actor, session_id, fresh=True)
    state = progress(session)
    if phase_id not in state.template.phase_ids:
        raise NotFound(N_("No such phase."))
    saved = state.latest.get(phase_id)
    # Entries are never removed: with none saved there is nothing this save could overwrite,
    # whatever the form says it was opened on (a malformed value included).
    changed = opened_entry is not None and saved is not None and saved.id != opened_entry
    # Saved by this practitioner a moment ago: a second tap on Save, which is told apart
    # from another version below, once this form's answers are read.
    just_saved = saved is not None and now - saved.submitted_dt < rules.REPEAT_WINDOW
    retapped = changed and saved.author_id == actor.id and just_saved
    if changed and not retapped:
        raise PhaseChanged(saved)
    position = state.template.phase_ids.index(phase_id)
    missing = [p for p in state.template.phase_ids[:position] if p not in state.latest]
    if missing:
        title = Words(state.template.phase(missing[0]).title)
        raise Conflict(Said(N_("Complete the %(phase)s phase first."), phase=title))
    stop = rules.stopped_by(state.template, state.answers)
    if stop is not None and stop.phase != phase_id:
        raise Conflict(stop.stop.message)
    phase = state.template.phase(phase_id)
    entered = None
    if any(item.link_id == pack_rules.LOT_ITEM for item in phase.items):
        # A scan in the lot field becomes its lot, GTIN, expiry and serial before the
        # checklist reads the phase; further packs are read beside it.
        entered = pack_rules.read_packs(form, session_date=session.session_date)
        form = {**form, **entered.fields}
    read = rules.read_phase(phase, form)
    errors = dict(read.errors)
    if not errors:
        others = {
            k: v
            for k, v in state.answers.items()
            if k in state.template.items_by_id and state.template.items_by_id[k].phase != phase_id
        }
        errors = rules.check_phase(
            state.template,
            phase_id,
            read.answers,
            read.notes,
            earlier_answers=others,
            session_date=session.session_date,
        )
        # The page disables a channel the patient cannot receive; a crafted form is refused
        # here the same way, so the record never names a follow-up that will not be sent.
        channel = read.answers.get(followup_rules.CHANNEL_ITEM)
        refusal = channel in followup_rules.CHANNEL_LABELS and followup_rules.channel_refusal(
            channel, followup_rules.Reach.of(session.patient)
        )
        if refusal:
            errors = {**errors, followup_rules.CHANNEL_ITEM: refusal}
        answers = rules.applicable_answers(state.template, {**others, **read.answers})
    if entered is not None:
        errors = {**entered.errors, **errors}  # the checklist item speaks first
    if errors:
        raise DomainError(N_("Some answers need attention before this phase can be saved."), errors)
    own = {k: v for k, v in answers.items() if k in read.answers}
    if entered is not None and entered.answer() is not None:
        own[pack_rules.PACKS_KEY] = entered.answer()
    notes = {k: v for k, v in read.notes.items() if k in own}
    if changed:
        # The same answers tapped twice are that one save (a double tap once met the "saved
        # from another screen" page); different ones are another version, shown beside it.
        if (saved.answers, saved.notes) == (own, notes):
            return saved
        raise PhaseChanged(saved)
    entry = PhaseEntry(
        session_id=session.id,
        phase=phase_id,
        answers=own,
        notes=notes,
        author_id=actor.id,
        submitted_dt=now,
    )
    session.entries.append(entry)  # keeps the loaded collection current for the next phase
    if pack_rules.LOT_ITEM in own:
        session.needle_lot = own[pack_rules.LOT_ITEM]
    db.session.flush()
    if entered is not None:
        packs.record_packs(session, entry, entered.packs, resubmitted=phase_id in state.latest)
    audit.record(
        "session.phase_submit",
        actor=actor,
        obj=session,
        details={
            "phase": phase_id,
            "entry": entry.id,
            "resubmitted": phase_id in state.latest,
            "entry_hash": rules.entry_hash(entry.answers, entry.notes),
        },
        now=now,
    )
    return entry


def signing_blockers(session: TreatmentSession, words: rules.Wording | None = None) -> list[str]:
    """Return why this checklist cannot be signed yet (in `words`' language, English without)."""
    state = progress(session)
    return rules.sign_off_blockers(
        state.template,
        state.answers,
        state.notes,
        submitted=state.submitted,
        session_date=session.session_date,
        words=words,
    )


def sign_session(
    actor: User,
    session_id: int,
    password: str,
    *,
    now: datetime | None = None,
    words: rules.Wording | None = None,
) -> TreatmentSession:
    """Sign a completed checklist after password re-entry; it can never change afterwards.

    `words` says what still blocks signing in the practitioner's language (English without)."""
    now = now or utcnow()
    session = _own_open_session(actor, session_id)
    auth.check_password_again(
        actor,
        password,
        action="session.sign_failed",
        refused=N_("The checklist was not signed."),
        wrong=N_("That password is not right. Enter your own password to sign."),
        now=now,
        obj=session,
    )
    _claim_open(session)  # a second tap or tablet lost the race: it says to what
    blockers = signing_blockers(session, words)
    if blockers:
        raise DomainError(
            Said(
                N_("The checklist cannot be signed yet: %(blockers)s"), blockers=" ".join(blockers)
            )
        )
    apply_signature(session, actor, now=now)
    return session


def _hold_row(session_id: int) -> bool:
    """Take a session's row for this transaction if it is still open; return whether it was.

    `submit_phase` takes it before reading the session (then read `fresh`, under the lock,
    refusing what is closed, missing or not the actor's); `_claim_open` after.
    """
    if not is_id(session_id):
        return False
    held = db.session.execute(
        update(TreatmentSession)
        .where(
            TreatmentSession.id == session_id,
            TreatmentSession.signed_dt.is_(None),
            TreatmentSession.cancelled_dt.is_(None),
        )
        .values(signed_dt=None)
        .execution_options(synchronize_session=False)
    )
    return held.rowcount == 1


def _claim_open(session: TreatmentSession) -> None:
    """Take the session's row for this transaction while it is still open; refuse, saying
    what became of it (signed or cancelled), when it is not.

    A double tap sends two signatures (or cancellations, or one of each) at once: both read
    the session open before either commits. The write lock (the row lock on PostgreSQL, the
    database's on SQLite) makes the second wait for the first to commit and then match no row,
    so exactly one signature or cancellation, one event and one set of follow-ups exist, and
    the second tap is told what became of the session.
    Two tablets saving one phase take turns the same way (`_hold_row`), so the second sees the
    first's entry. The update writes nothing new: signed_dt is NULL in every row it matches.
    """
    if not _hold_row(session.id):
        # Lost the race to a signature or a cancellation that has committed: say which.
        db.session.refresh(session)
        _refuse_if_closed(session)
    # Read the phases again under the lock: another tablet may have saved one since.
    db.session.expire(session)


def _raised(spec: rules.FlagSpec, *, now: datetime, session_id: int | None = None) -> Flag:
    """The flag a rule's FlagSpec raises, as of `now`."""
    return Flag(
        session_id=session_id,
        kind=spec.kind,
        severity=spec.severity,
        link_id=spec.link_id,
        message=spec.message,
        created_dt=now,
    )


def apply_signature(session: TreatmentSession, signer: User, *, now: datetime) -> None:
    """Freeze the answers, raise the flags and bind the signature with the content hash.

    Callers have checked the signer's password and the blockers; the demo seed calls it directly.
    """
    state = progress(session)
    answers = rules.applicable_answers(state.template, state.answers)
    notes = {k: v for k, v in state.notes.items() if k in answers}
    session.answers = answers
    session.notes = notes
    session.signed_by_id = signer.id
    session.signer_name = signer.name
    session.signature_meaning = SIGNATURE_MEANING
    session.signed_dt = now
    session.content_hash = rules.content_hash(signed_content(session))
    for column, value in rules.answer_columns(answers).items():
        setattr(session, column, value)
    specs = rules.flags_for(state.template, answers)
    session.flag_count = len(specs)
    session.flags.extend(_raised(spec, now=now) for spec in specs)
    db.session.flush()
    audit.record(
        "session.sign",
        actor=signer,
        obj=session,
        details={"content_hash": session.content_hash},
        now=now,
    )
    for flag in session.flags:  # each on the chain, as a cancellation's and a patient's are
        audit.record("flag.raise", actor=signer, obj=flag, details=flag.raise_details, now=now)
    # Follow-ups go out through outbox rows written in this same transaction.
    schedule_for_signed_session(session, now=now)


def cancel_session(
    actor: User, session_id: int, reason: str, *, now: datetime | None = None
) -> TreatmentSession:
    """Cancel a started session (started by mistake, or consent refused), with a reason.

    Nothing is deleted: the phases saved so far stay with the record, the reason is kept on
    it, and the audit event carries the reason's hash so verify can hold one to the other.
    A session cancelled after its Time out raises flags (`rules.cancel_flags`): the pages warn
    before, but a needle the count never met, or one it found missing, must reach a person.
    """
    now = now or utcnow()
    session = _own_open_session(actor, session_id)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            N_("The session was not cancelled."),
            {"reason": N_("Say why the session is cancelled.")},
        )
    if len(reason) > CANCEL_REASON_MAX:
        raise DomainError(
            N_("The session was not cancelled."),
            {
                "reason": Said(
                    N_("Keep the reason under %(max)s characters."), max=CANCEL_REASON_MAX
                )
            },
        )
    _claim_open(session)  # two taps on Cancel, or Cancel beside Sign: the first stands
    # Added by the session's id, not to `session.flags`: loading that list would flush the
    # cancellation before the flag count, and a cancelled row takes no second UPDATE.
    flags = [
        _raised(spec, now=now, session_id=session.id) for spec in progress(session).cancel_flags()
    ]
    db.session.add_all(flags)
    session.flag_count = len(flags)
    # One UPDATE of the session: once cancelled, its row is immutable (migration 0007).
    session.cancelled_dt = now
    session.cancelled_by_id = actor.id
    session.cancel_reason = reason
    db.session.flush()
    audit.record(
        "session.cancel",
        actor=actor,
        obj=session,
        details={
            "reason_hash": sha256_hex(reason),
            "phases": sorted({e.phase for e in session.entries}),
        },
        now=now,
    )
    for flag in flags:
        audit.record("flag.raise", actor=actor, obj=flag, details=flag.raise_details, now=now)
    return session


def signed_content(session: TreatmentSession) -> dict[str, Any]:
    """Return the content a signature covers: every phase entry, the answers and the signer."""
    return {
        "record": session.id,
        "clinic": session.clinic_id,
        "patient": session.patient_id,
        "practitioner": session.practitioner_id,
        "template_version": session.template_version_id,
        "session_date": session.session_date.isoformat(),
        "answers": session.answers,
        "notes": session.notes,
        "entries": [
            {
                "id": e.id,
                "phase": e.phase,
                "author": e.author_id,
                "submitted_dt": hashed_time(e.submitted_dt),
                "answers": e.answers,
                "notes": e.notes,
            }
            for e in sorted(session.entries, key=lambda e: e.id)
        ],
        "signature": {
            "signer": session.signed_by_id,
            "name": session.signer_name,
            "meaning": session.signature_meaning,
            "signed_dt": hashed_time(session.signed_dt),
        },
    }


def sessions_for_today(actor: User, *, now: datetime | None = None) -> list[TreatmentSession]:
    """Return today's sessions at the practitioner's clinic and any earlier unsigned ones."""
    if not policy.is_practitioner(actor):
        return []
    now = now or utcnow()
    today = now.astimezone(actor.clinic.zone).date()
    sessions = list(
        db.session.scalars(
            policy.visible_sessions(actor)
            .where(
                or_(
                    TreatmentSession.session_date == today,
                    and_(
                        TreatmentSession.signed_dt.is_(None),
                        TreatmentSession.cancelled_dt.is_(None),
                    ),
                )
            )
            .options(
                # The people come joined in; the version (a large document many sessions
                # share, which a join would send and decode once per row) in a statement.
                joinedload(TreatmentSession.patient),
                joinedload(TreatmentSession.practitioner),
                selectinload(TreatmentSession.template_version).defer(*WITHOUT_DOCUMENT),
            )
            .order_by(TreatmentSession.started_dt.desc())
            .limit(200)
        )
    )
    _load_entries([s for s in sessions if not s.is_final])
    return sessions


def _load_entries(sessions: Sequence[TreatmentSession]) -> None:
    """Load the phase entries of these sessions in one statement, as `selectinload` would.

    Today lists every session of the day, and on a busy clinic's afternoon most are signed:
    their answers (a JSON document per phase, decoded on load) say nothing the list shows, so
    only the open sessions' entries are read, for the phase each goes on with. A signed
    session's entries stay unloaded, and load as usual if anything reads them.
    """
    if not sessions:
        return
    found: dict[int, list[PhaseEntry]] = {s.id: [] for s in sessions}
    for entry in db.session.scalars(
        select(PhaseEntry).where(PhaseEntry.session_id.in_(found)).order_by(PhaseEntry.id)
    ):
        found[entry.session_id].append(entry)
    for session in sessions:
        set_committed_value(session, "entries", found[session.id])


def signed_records(
    actor: User, *, limit: int = 50, before_id: int | None = None
) -> list[TreatmentSession]:
    """Return signed records the actor may read, newest first, a page at a time."""
    query = (
        policy.visible_sessions(actor)
        .where(TreatmentSession.signed_dt.is_not(None))
        .options(
            selectinload(TreatmentSession.patient),
            selectinload(TreatmentSession.clinic),
            selectinload(TreatmentSession.flags),
        )
        .order_by(TreatmentSession.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(TreatmentSession.id < before_id)
    return list(db.session.scalars(query))


def record_view(actor: User, session_id: int, *, now: datetime | None = None) -> TreatmentSession:
    """Return a record for reading, auditing the view when the reader is not its author."""
    session = get_session(actor, session_id, page=True)
    note_view(actor, session, now=now)
    return session


def note_view(actor: User, session: TreatmentSession, *, now: datetime | None = None) -> bool:
    """Audit that someone other than its author read a record; returns whether it was audited.

    The event takes the clinic's chain head, which stays locked until the commit: a reader
    that loads the rest of the page first holds it for the least time.
    """
    if not policy.is_audited_view(actor, session):
        return False
    audit.record("session.view", actor=actor, obj=session, now=now)
    return True
