"""Signed checkpoints and receipts, checked offline with the public key alone."""

from __future__ import annotations

import copy
import stat
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safety.audit import rules as audit_rules
from safety.integrity import evidence, merkle

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
TRUSTED = evidence.fingerprint(PUBLIC)


def chain_events(count: int, chain: int = 1) -> list[dict]:
    """A little chain of events as the audit layer writes them (clinic 1's by default)."""
    events, prev = [], audit_rules.GENESIS_HASH
    for seq in range(1, count + 1):
        payload = audit_rules.event_payload(
            seq=seq,
            created_dt=datetime(2026, 12, 4, 10, seq, tzinfo=UTC),
            actor_id=7,
            action="session.sign" if seq == 3 else "session.view",
            object_type="treatment_sessions",
            object_id=str(40 + seq),
            details={"content_hash": "c" * 64} if seq == 3 else {},
            chain=chain,
        )
        event_hash = audit_rules.chain_hash(prev, payload)
        events.append({**payload, "prev_hash": prev, "hash": event_hash})
        prev = event_hash
    return events


def event_hash_of(event: dict) -> str:
    payload = {k: v for k, v in event.items() if k not in {"prev_hash", "hash"}}
    return audit_rules.chain_hash(event["prev_hash"], payload)


def checkpoint_for(heads, number=1, previous=None, key=KEY):
    body = evidence.checkpoint_body(
        number=number,
        created="2026-12-04T10:15:00+00:00",
        previous=previous,
        heads=heads,
        key_hex=evidence.public_key_hex(key.public_key()),
    )
    return evidence.sign_checkpoint(body, key)


def head_of(name: str, events: list[dict]) -> evidence.ChainHead:
    leaves = [evidence.event_leaf(e["hash"]) for e in events]
    return evidence.ChainHead(name, len(events), merkle.root(leaves).hex())


EVENTS = chain_events(5)
HEADS = [head_of("clinic:1", EVENTS), head_of("system", chain_events(2, chain=0))]


def receipt() -> dict:
    leaves = [evidence.event_leaf(e["hash"]) for e in EVENTS]
    checkpoint = checkpoint_for(HEADS)
    heads = sorted(HEADS, key=lambda h: h.chain)
    return {
        "format": evidence.RECEIPT_FORMAT,
        "record": 43,
        "content_hash": "c" * 64,
        "event": EVENTS[2],
        "index": 2,
        "inclusion": [p.hex() for p in merkle.inclusion_proof(2, leaves)],
        "chain_head": HEADS[0].as_json(),
        "chain_index": 0,
        "chain_inclusion": [p.hex() for p in merkle.inclusion_proof(0, [h.leaf() for h in heads])],
        "checkpoint": checkpoint,
    }


def test_a_signed_checkpoint_checks_with_the_trusted_key():
    evidence.check_checkpoint(checkpoint_for(HEADS), TRUSTED)


def test_a_checkpoint_signed_by_another_key_is_refused_even_with_a_valid_signature():
    other = Ed25519PrivateKey.generate()

    with pytest.raises(evidence.EvidenceError, match="not the trusted one"):
        evidence.check_checkpoint(checkpoint_for(HEADS, key=other), TRUSTED)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["chains"][0].update(size=4),
        lambda c: c.update(created="2026-12-05T10:15:00+00:00"),
        lambda c: c.update(events=c["events"] + 1),
        lambda c: c.update(number=2),
    ],
)
def test_an_edited_checkpoint_no_longer_checks(edit):
    checkpoint = copy.deepcopy(checkpoint_for(HEADS))
    edit(checkpoint)

    with pytest.raises(evidence.EvidenceError):
        evidence.check_checkpoint(checkpoint, TRUSTED)


def test_each_checkpoint_must_name_the_one_before_it():
    first = checkpoint_for(HEADS)
    second = checkpoint_for(HEADS, number=2, previous=evidence.checkpoint_hash(first))

    evidence.check_sequence([first, second])
    with pytest.raises(evidence.EvidenceError, match="predecessor"):
        evidence.check_sequence([first, checkpoint_for(HEADS, number=2, previous="0" * 64)])
    with pytest.raises(evidence.EvidenceError, match="missing"):
        evidence.check_sequence([first, checkpoint_for(HEADS, number=3)])


def test_a_chain_that_shrinks_between_checkpoints_is_caught():
    first = checkpoint_for(HEADS)
    cut = [head_of("clinic:1", EVENTS[:4]), HEADS[1]]
    second = checkpoint_for(cut, number=2, previous=evidence.checkpoint_hash(first))

    with pytest.raises(evidence.EvidenceError, match="fewer events"):
        evidence.check_sequence([first, second])


def test_a_receipt_proves_its_record_offline():
    said = evidence.check_receipt(receipt(), TRUSTED, event_hash_of)

    assert "record 43" in said and "checkpoint 1" in said


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.update(content_hash="d" * 64),
        lambda r: r["event"]["details"].update(content_hash="d" * 64),
        lambda r: r["event"].update(actor_id=8),
        lambda r: r.update(index=1),
        lambda r: r["inclusion"].reverse(),
        lambda r: r["checkpoint"].update(created="2027-01-01T00:00:00+00:00"),
        lambda r: r.update(format="something-else"),
        lambda r: r.pop("chain_head"),
        # Another record's number, another chain: the event must be this record's signing.
        lambda r: r.update(record=44),
        lambda r: r["chain_head"].update(chain="system"),
    ],
)
def test_a_tampered_receipt_does_not_check(edit):
    tampered = copy.deepcopy(receipt())
    edit(tampered)

    with pytest.raises(evidence.EvidenceError):
        evidence.check_receipt(tampered, TRUSTED, event_hash_of)


def test_a_development_key_is_made_once_readable_by_its_owner_alone(tmp_path):
    path = tmp_path / "keys" / "audit.key"

    made = evidence.load_or_create_private_key(path, create=True)
    again = evidence.load_or_create_private_key(path, create=True)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert evidence.public_key_hex(made.public_key()) == evidence.public_key_hex(again.public_key())


def test_production_refuses_to_invent_a_signing_key(tmp_path):
    with pytest.raises(evidence.EvidenceError, match="AUDIT_SIGNING_KEY_FILE"):
        evidence.load_or_create_private_key(tmp_path / "missing.key", create=False)


def test_a_public_key_reads_from_pem_or_hex(tmp_path):
    pem, raw = tmp_path / "key.pem", tmp_path / "key.hex"
    pem.write_text(evidence.public_key_pem(PUBLIC))
    raw.write_text(evidence.public_key_hex(PUBLIC) + "\n")

    assert evidence.fingerprint(evidence.load_public_key(pem)) == TRUSTED
    assert evidence.fingerprint(evidence.load_public_key(raw)) == TRUSTED
