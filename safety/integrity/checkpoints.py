"""Signed checkpoints of the audit chains: made, kept outside the database, mailed, proved.

`make` signs the head of every chain at once (a Merkle tree over the chains' heads, each head
the root of its chain's tree) and appends the checkpoint to the store; it reads only the
events since the last checkpoint, carrying on from each chain's stored frontier. Verify holds
the database to every checkpoint (`to_hold`, `contradiction`); `prove` gives a receipt that
one signed record is in a checkpoint, checked offline by `evidence.check_receipt`.

Making a checkpoint is not itself audited: an event would make every checkpoint the reason
for the next. The store is its own record.

One module of about 590 lines: making, holding and proving a checkpoint share its body, its
key and its store, and reading one use without the others would mean reading three files.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from safety.audit import rules as audit_rules
from safety.audit.models import AuditChainHead, AuditEvent
from safety.auth.models import Role, User
from safety.checklists.models import TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import NotFound
from safety.extensions import db
from safety.followup.backends import Backend, DeliveryError, Outgoing, backend_for
from safety.hashing import canonical_json, hashed_time
from safety.integrity import evidence, merkle, store
from safety.integrity.chains import Walk, label_for
from safety.integrity.evidence import CLINIC_PREFIX, SYSTEM_NAME, ChainHead, EvidenceError
from safety.integrity.models import ChainFrontier, Checkpoint, CheckpointHead, VerificationRun

log = logging.getLogger(__name__)


def chain_name(chain: int) -> str:
    """How a checkpoint names a chain: `system`, or `clinic:<id>`."""
    return SYSTEM_NAME if chain == audit_rules.SYSTEM_CHAIN else f"{CLINIC_PREFIX}{chain}"


def chain_of(name: str) -> int:
    if name == SYSTEM_NAME:
        return audit_rules.SYSTEM_CHAIN
    number = name.removeprefix(CLINIC_PREFIX)
    if name.startswith(CLINIC_PREFIX) and number.isdecimal():
        return int(number)
    raise EvidenceError(f"a checkpoint names an unknown chain {name!r}")


# --- keys and the store --------------------------------------------------------------------------


def signing_key():
    """The key that signs checkpoints; it must be the trusted one when one is configured."""
    config = current_app.config
    path = config.get("AUDIT_SIGNING_KEY_FILE")
    if not path:
        raise EvidenceError(
            "No audit signing key: set AUDIT_SIGNING_KEY_FILE to the key's path (see README)."
        )
    key = evidence.load_or_create_private_key(Path(path), create=config["AUDIT_CREATE_KEY"])
    trusted = config.get("AUDIT_PUBLIC_KEY_FILE")
    if trusted and evidence.fingerprint(
        evidence.load_public_key(Path(trusted))
    ) != evidence.fingerprint(key.public_key()):
        raise EvidenceError(
            "The audit signing key is not the key AUDIT_PUBLIC_KEY_FILE trusts: checkpoints "
            "it signed would be refused."
        )
    return key


def trusted_fingerprint() -> str | None:
    """The fingerprint of the key checkpoints must be signed with: AUDIT_PUBLIC_KEY_FILE's, or
    else the signing key's; None when neither exists yet."""
    config = current_app.config
    if public := config.get("AUDIT_PUBLIC_KEY_FILE"):
        return evidence.fingerprint(evidence.load_public_key(Path(public)))
    private = config.get("AUDIT_SIGNING_KEY_FILE")
    if private and Path(private).exists():
        key = evidence.load_or_create_private_key(Path(private), create=False)
        return evidence.fingerprint(key.public_key())
    return None


def store_directory() -> Path | None:
    directory = current_app.config.get("AUDIT_CHECKPOINT_DIR")
    return Path(directory) if directory else None


# --- making one ----------------------------------------------------------------------------------


def make(*, now: datetime | None = None) -> dict[str, Any] | None:
    """Sign every chain's head now, keep the checkpoint in the store and the database, and
    return it; None when nothing was audited since the last one. The caller commits.

    Two makers at once: the second stops at the checkpoint number the first took (an
    IntegrityError, which the caller rolls back).
    """
    now = now or utcnow()
    key = signing_key()
    directory = store_directory()
    if directory is None:
        raise EvidenceError("No checkpoint store: set AUDIT_CHECKPOINT_DIR (see README).")
    last = store.newest(directory)
    heads = dict(db.session.execute(select(AuditChainHead.id, AuditChainHead.last_seq)).all())
    frontiers = {f.chain_id: f for f in db.session.scalars(select(ChainFrontier))}
    trees: dict[int, merkle.Frontier] = {}
    for chain in sorted(heads.keys() | frontiers.keys()):
        kept = frontiers.get(chain)
        tree = merkle.Frontier.from_json(kept.peaks) if kept else merkle.Frontier()
        size = heads.get(chain)
        if size is None or size < tree.size:
            raise EvidenceError(
                f"{chain_name(chain)} has {size or 0} events but the last checkpoint counted "
                f"{tree.size}: run `flask audit verify`"
            )
        trees[chain] = tree
    moved = {chain for chain, tree in trees.items() if heads[chain] > tree.size}
    _extend(trees, {chain: heads[chain] for chain in moved})
    if not moved and last is not None:
        return None
    number = max(last["number"] if last else 0, _last_number()) + 1
    body = evidence.checkpoint_body(
        number=number,
        created=hashed_time(now),
        previous=evidence.checkpoint_hash(last) if last else None,
        heads=[ChainHead(chain_name(c), t.size, t.root().hex()) for c, t in trees.items()],
        key_hex=evidence.public_key_hex(key.public_key()),
    )
    signed = evidence.sign_checkpoint(body, key)
    db.session.add(
        Checkpoint(
            number=number,
            created_dt=now,
            events=body["events"],
            root=body["root"],
            body=canonical_json(signed),
        )
    )
    db.session.flush()  # the number is ours before anything depends on it
    for chain in sorted(moved):
        tree = trees[chain]
        db.session.add(
            CheckpointHead(number=number, chain_id=chain, size=tree.size, root=tree.root().hex())
        )
        kept = frontiers.get(chain)
        if kept is None:
            db.session.add(ChainFrontier(chain_id=chain, size=tree.size, peaks=tree.to_json()))
        else:
            kept.size, kept.peaks = tree.size, tree.to_json()
    db.session.flush()
    store.append(directory, signed, day=now)
    return signed


def _extend(trees: Mapping[int, merkle.Frontier], sizes: Mapping[int, int]) -> None:
    """Add each chain's events after its tree's size, up to `sizes[chain]`, as leaves.

    One statement for all the chains (a round trip each would cost more than the hashing),
    reading only the hashes as plain rows. (chain, seq) is unique, so as many rows as numbers
    in a chain's range means every number is there, in order.
    """
    if not sizes:
        return
    starts = {chain: trees[chain].size for chain in sizes}
    rows = db.session.connection().execute(
        select(AuditEvent.chain_id, AuditEvent.hash)
        .where(
            or_(
                *(
                    and_(
                        AuditEvent.chain_id == chain,
                        AuditEvent.seq > starts[chain],
                        AuditEvent.seq <= size,
                    )
                    for chain, size in sizes.items()
                )
            )
        )
        .order_by(AuditEvent.chain_id, AuditEvent.seq)
        .execution_options(yield_per=50_000)
    )
    with _no_cycle_collection():
        for part in rows.partitions():
            for chain, events in groupby(part, key=itemgetter(0)):
                trees[chain].extend(evidence.event_leaves(event[1] for event in events))
    for chain, size in sizes.items():
        if trees[chain].size != size:
            raise EvidenceError(
                f"{chain_name(chain)} lacks events between {starts[chain] + 1} and {size}"
            )


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Hold off Python's cycle collector while hashing the new leaves.

    Hashing 10,000 events allocates some 300,000 short-lived bytes objects, none in a cycle
    (reference counting frees them), yet they count towards the collector's thresholds: now and
    then a full collection fired in the middle and walked the whole process's heap, 150 ms in a
    checkpoint that otherwise takes 60 (the slow one run in ten in bench/RESULTS.md). The
    collector runs as usual once the leaves are in."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _last_number() -> int:
    return db.session.scalar(select(func.max(Checkpoint.number))) or 0


def latest() -> Checkpoint | None:
    return db.session.scalar(select(Checkpoint).order_by(Checkpoint.number.desc()).limit(1))


def is_due(now: datetime) -> bool:
    """A checkpoint is due when the last is older than AUDIT_CHECKPOINT_MINUTES (or none)."""
    newest = latest()
    interval = timedelta(minutes=current_app.config["AUDIT_CHECKPOINT_MINUTES"])
    return newest is None or now - newest.created_dt >= interval


def make_if_due(*, now: datetime) -> dict[str, Any] | None:
    """The reminder worker's checkpoint: made when due and when there is something new;
    commits. Another worker making the same one at the same moment is not an error."""
    if not current_app.config.get("AUDIT_SIGNING_KEY_FILE") or not is_due(now):
        return None
    try:
        made = make(now=now)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return made


# --- holding the database to them ----------------------------------------------------------------


def to_hold(handed_in: Sequence[Mapping[str, Any]] = ()) -> list[Mapping[str, Any]]:
    """Every checkpoint in the store and those handed in, checked and oldest first.

    Raises EvidenceError for the first that is not signed by the trusted key, a store whose
    checkpoints do not follow one another, and a checkpoint handed in that differs from the
    store's of the same number (one of the two copies was replaced).
    """
    directory = store_directory()
    # The database's record of the checkpoints is read before the store: a checkpoint is in
    # the store before the database commits it, so one made between the two reads is in both.
    made = _made() if directory is not None else None
    stored = store.read_all(directory) if directory else []
    if not stored and not handed_in:
        # A store emptied under a database that made checkpoints is itself the finding.
        problem = _store_against_database(made, [], handed_in) if made is not None else None
        if problem:
            raise EvidenceError(problem)
        return []
    trusted = trusted_fingerprint()
    if trusted is None:
        raise EvidenceError(
            "there are checkpoints to check but no trusted key: set AUDIT_PUBLIC_KEY_FILE"
        )
    for checkpoint in stored:
        evidence.check_checkpoint(checkpoint, trusted)
    evidence.check_sequence(stored)
    if made is not None and (problem := _store_against_database(made, stored, handed_in)):
        raise EvidenceError(problem)
    by_number = {c["number"]: c for c in stored}
    held = list(stored)
    for checkpoint in handed_in:
        evidence.check_checkpoint(checkpoint, trusted)
        kept = by_number.get(checkpoint["number"])
        if kept is None:
            held.append(checkpoint)
        elif canonical_json(dict(kept)) != canonical_json(dict(checkpoint)):
            raise EvidenceError(
                f"checkpoint {checkpoint['number']} handed in differs from the store's copy: "
                "one of the two was replaced"
            )
    return sorted(held, key=lambda c: c["number"])


def _made() -> tuple[list[int], list[ChainFrontier]]:
    """The checkpoints the database says it made, and each chain's kept frontier."""
    numbers = db.session.scalars(select(Checkpoint.number).order_by(Checkpoint.number)).all()
    kept = db.session.scalars(select(ChainFrontier).order_by(ChainFrontier.chain_id)).all()
    return list(numbers), list(kept)


def _store_against_database(
    made: tuple[list[int], list[ChainFrontier]],
    stored: Sequence[Mapping[str, Any]],
    handed_in: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """Hold the store (and any checkpoints handed in) and the database's own records of it to
    each other.

    A checkpoint the database made but neither holds means the store was cut or replaced
    (the next checkpoint would take the missing number again and close the gap). A chain's
    kept frontier that no stored checkpoint signed stops every later checkpoint, quietly but
    for a log line (an insider's review did both and verify said intact)."""
    numbers, frontiers = made
    in_store = {c["number"] for c in (*stored, *handed_in)}
    if missing := [n for n in numbers if n not in in_store]:
        return (
            f"checkpoint {missing[0]} is in the database but not in the checkpoint store: the "
            "store was cut or replaced (restore it from its backup, or hand in the copy of "
            "that checkpoint you kept with --checkpoint)"
        )
    signed = {
        (chain_of(h.chain), h.size, h.root)
        for c in (*stored, *handed_in)
        for h in evidence.heads_of(c)
    }
    for kept in frontiers:
        tree = merkle.Frontier.from_json(kept.peaks)
        if not tree.size and not kept.size:
            continue
        if tree.size != kept.size or (kept.chain_id, tree.size, tree.root().hex()) not in signed:
            return (
                f"the database's record of what the checkpoints signed for "
                f"{chain_name(kept.chain_id)} was altered: no checkpoint in the store signed "
                "it, and no checkpoint can be made until it is put right"
            )
    return None


def wanted_sizes(held: Sequence[Mapping[str, Any]]) -> dict[int, set[int]]:
    """The sizes, per chain, whose Merkle roots the checkpoints hold."""
    wanted: dict[int, set[int]] = {}
    for checkpoint in held:
        for head in evidence.heads_of(checkpoint):
            if head.size:
                wanted.setdefault(chain_of(head.chain), set()).add(head.size)
    return wanted


def contradiction(
    held: Sequence[Mapping[str, Any]], walked: Walk, labels: Mapping[int, str]
) -> str | None:
    """Name the first checkpoint the walked chains no longer match, and how."""
    label = label_for(labels)
    for checkpoint in held:
        said = f"checkpoint {checkpoint['number']} of {checkpoint['created']}"
        for head in evidence.heads_of(checkpoint):
            chain = chain_of(head.chain)
            found = walked.chains.get(chain)
            count = found.count if found else 0
            if count < head.size:
                return (
                    f"{said}: {label(chain)} has {count} events but the checkpoint counted "
                    f"{head.size}: events were removed"
                )
            if head.size and found.roots.get(head.size) != head.root:
                return (
                    f"{said}: the first {head.size} events of {label(chain)} are not the ones "
                    "it signed: they were rewritten, re-chained or rebuilt"
                )
    return None


# --- receipts ------------------------------------------------------------------------------------


def signing_event(record_id: int) -> AuditEvent | None:
    return db.session.scalar(
        select(AuditEvent)
        .where(
            # The event a receipt proves, as check_receipt holds it (one definition for both).
            AuditEvent.action == evidence.SIGNING_ACTION,
            AuditEvent.object_type == evidence.SIGNED_OBJECT,
            AuditEvent.object_id == str(record_id),
        )
        .order_by(AuditEvent.id)
        .limit(1)
    )


def covering(chain: int, seq: int) -> Checkpoint | None:
    """The first checkpoint that holds event `seq` of a chain."""
    return db.session.scalar(
        select(Checkpoint)
        .join(CheckpointHead, CheckpointHead.number == Checkpoint.number)
        .where(CheckpointHead.chain_id == chain, CheckpointHead.size >= seq)
        .order_by(Checkpoint.number)
        .limit(1)
    )


def receipt_status(record: TreatmentSession) -> Checkpoint | None:
    """The checkpoint that holds a signed record's signing event, or None (not yet)."""
    event = signing_event(record.id) if record.is_signed else None
    return covering(event.chain_id, event.seq) if event is not None else None


def prove(record_id: int) -> dict[str, Any]:
    """Return a receipt that a signed record is in a checkpoint (see evidence.check_receipt)."""
    record = db.session.get(TreatmentSession, record_id)
    event = signing_event(record_id) if record is not None and record.is_signed else None
    if event is None:
        raise NotFound(f"There is no signed record {record_id}.")
    held = covering(event.chain_id, event.seq)
    if held is None:
        minutes = current_app.config["AUDIT_CHECKPOINT_MINUTES"]
        raise NotFound(
            f"Record {record_id} is not in a checkpoint yet: the worker makes one every "
            f"{minutes} minutes, or run `flask audit checkpoint`."
        )
    checkpoint = json.loads(held.body)
    heads = sorted(evidence.heads_of(checkpoint), key=lambda h: h.chain)
    name = chain_name(event.chain_id)
    chain_index = next(i for i, h in enumerate(heads) if h.chain == name)
    head = heads[chain_index]
    leaves = [
        evidence.event_leaf(h)
        for h in db.session.scalars(
            select(AuditEvent.hash)
            .where(AuditEvent.chain_id == event.chain_id, AuditEvent.seq <= head.size)
            .order_by(AuditEvent.seq)
        )
    ]
    fields = {
        "seq": event.seq,
        "created_dt": hashed_time(event.created_dt),
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
    if event.chain_id != audit_rules.SYSTEM_CHAIN:
        fields["chain"] = event.chain_id
    return {
        "format": evidence.RECEIPT_FORMAT,
        "record": record_id,
        "content_hash": record.content_hash,
        "event": fields,
        "index": event.seq - 1,
        "inclusion": [p.hex() for p in merkle.inclusion_proof(event.seq - 1, leaves)],
        "chain_head": head.as_json(),
        "chain_index": chain_index,
        "chain_inclusion": [
            p.hex() for p in merkle.inclusion_proof(chain_index, [h.leaf() for h in heads])
        ],
        "checkpoint": checkpoint,
    }


def check_receipt(receipt: Mapping[str, Any], trusted: str) -> str:
    """Check a receipt offline with the trusted key's fingerprint alone."""
    return evidence.check_receipt(receipt, trusted, audit_rules.event_hash)


# --- the day's last checkpoint, by e-mail --------------------------------------------------------


def mail_the_days_last(backend: Backend, *, now: datetime) -> int:
    """E-mail yesterday's (or the last earlier day's) last checkpoint to every compliance
    officer, once; returns how many messages went. The checkpoint holds no patient data: chain
    names, counts, roots and a signature. The caller commits."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    last = db.session.scalar(
        select(Checkpoint)
        .where(Checkpoint.created_dt < today)
        .order_by(Checkpoint.number.desc())
        .limit(1)
    )
    if last is None or last.mailed_dt is not None:
        return 0
    officers = db.session.scalars(
        select(User).where(User.role == Role.COMPLIANCE, User.is_enabled).order_by(User.id)
    ).all()
    subject = f"NeedleSafe audit checkpoint {last.number} of {last.created_dt:%d %b %Y}"
    text = (
        f"This is the last signed checkpoint of the NeedleSafe audit trail made on "
        f"{last.created_dt:%d %B %Y} (UTC). Keep this e-mail: it is a copy of the evidence "
        "that nobody with access to the database can rewrite.\n\n"
        "To check the database against it at any time, save the line below to a file and run\n"
        "  flask audit verify --checkpoint FILE\n\n"
        f"{last.body}\n"
    )
    for officer in officers:
        backend.send(
            Outgoing(None, "email", officer.email, subject, text, f"checkpoint-{last.number}")
        )
    last.mailed_dt = now
    return len(officers)


def oldest_uncovered() -> datetime | None:
    """When the oldest event no checkpoint holds yet happened: per chain, the event after the
    newest stored checkpoint's count for it (one index lookup each).

    Counted from the store, not from the database's own record of it: an insider who raised
    that record's counts stopped every checkpoint, and the dashboard still said all was
    signed (found by an insider's review)."""
    directory = store_directory()
    newest = store.newest(directory) if directory is not None else None
    if newest is not None:
        covered_by = {chain_of(h.chain): h.size for h in evidence.heads_of(newest)}
        heads = db.session.execute(select(AuditChainHead.id, AuditChainHead.last_seq)).all()
        after = [
            (AuditEvent.chain_id == chain) & (AuditEvent.seq == covered_by.get(chain, 0) + 1)
            for chain, last_seq in heads
            if last_seq > covered_by.get(chain, 0)
        ]
        if not after:
            return None
        return db.session.scalar(select(func.min(AuditEvent.created_dt)).where(or_(*after)))
    covered = func.coalesce(ChainFrontier.size, 0)
    return db.session.scalar(
        select(func.min(AuditEvent.created_dt))
        .select_from(AuditChainHead)
        .outerjoin(ChainFrontier, ChainFrontier.chain_id == AuditChainHead.id)
        .join(
            AuditEvent,
            (AuditEvent.chain_id == AuditChainHead.id) & (AuditEvent.seq == covered + 1),
        )
        .where(AuditChainHead.last_seq > covered)
    )


def tend(*, now: datetime | None = None) -> dict[str, int]:
    """The worker's evidence round (`flask reminders work` runs it after each pass): sign a
    checkpoint when one is due, and mail the day's last to the compliance officers. A failure
    is logged and tried again next round: it must never stop the reminders."""
    now = now or utcnow()
    done: dict[str, int] = {}
    backend = backend_for(current_app.config)
    try:
        if (made := make_if_due(now=now)) is not None:
            done["checkpoint"] = made["number"]
        if mailed := mail_the_days_last(backend, now=now):
            done["checkpoint_mailed"] = mailed
        db.session.commit()
    except (EvidenceError, DeliveryError, OSError) as exc:
        db.session.rollback()
        log.error("audit checkpoint: %s", exc)
        done["checkpoint_failed"] = 1
    finally:
        backend.close()
    return done


def health(
    run: VerificationRun | None, *, altered: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """What the dashboard says about the evidence: the last checkpoint, the last verification
    (`run`, from `verify.last_run`, and `altered`, from `verify.run_problem`: verify imports
    this module, so the caller reads them), and whether either calls for a red banner."""
    now = now or utcnow()
    newest = latest()
    interval = timedelta(minutes=current_app.config["AUDIT_CHECKPOINT_MINUTES"])
    waiting = oldest_uncovered()
    return {
        "checkpoint": newest,
        "run": run,
        "broken": run is not None and (not run.is_intact or altered is not None),
        "altered": altered,
        # Checkpoints are made only when something was audited: a quiet weekend is not stale,
        # an event nobody has signed for two intervals is.
        "stale": waiting is not None and now - waiting > 2 * interval,
        "uncovered_since": waiting,
        "interval_minutes": int(interval.total_seconds() // 60),
    }
