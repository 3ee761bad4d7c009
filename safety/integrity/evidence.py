"""Signed checkpoints and receipts: the evidence that leaves the database.

A hash chain proves nothing to someone who can rewrite the database: they recompute it. A
checkpoint is the Merkle tree head of every audit chain at one moment, signed with an Ed25519
key kept outside the database; copies of it go where an insider cannot reach them (the
append-only checkpoint store, the compliance officers' e-mail, every export). A receipt shows
that one signed record is in a checkpoint, and is checked offline with the public key alone.

No Flask or SQLAlchemy here: `flask audit check-receipt` and a regulator's script use the same
functions. Formats are canonical JSON (`hashing.canonical_json`), so a checkpoint hashes and
verifies the same wherever it is read.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from safety.hashing import canonical_json, hashed_time
from safety.integrity import merkle

CHECKPOINT_FORMAT = "needlesafe-checkpoint/1"
RECEIPT_FORMAT = "needlesafe-receipt/1"
#: How a checkpoint names a chain: `system`, or `clinic:<id>`.
SYSTEM_NAME = "system"
CLINIC_PREFIX = "clinic:"
#: The event a receipt proves: a record's signing (audit action and object type).
SIGNING_ACTION = "session.sign"
SIGNED_OBJECT = "treatment_sessions"


class EvidenceError(ValueError):
    """A checkpoint or receipt that does not hold; the message says which part and why."""


# --- keys ----------------------------------------------------------------------------------------


def load_or_create_private_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """Read the signing key, or (development only) make one, readable by its owner alone."""
    if not path.exists():
        if not create:
            raise EvidenceError(
                f"The audit signing key {path} does not exist: set AUDIT_SIGNING_KEY_FILE to "
                "the key's path (it belongs outside the database host's backups)."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        return key
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path} is not an Ed25519 private key.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a trusted public key: PEM, or the 64 hex digits a checkpoint carries."""
    data = path.read_bytes().strip()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise EvidenceError(f"{path} is not an Ed25519 public key.")
        return key
    return public_key_from_hex(data.decode("ascii", "replace"))


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError:
        raise EvidenceError("The public key is not 32 bytes of hex.") from None


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key: what an operator compares by eye or pins in config."""
    return sha256(bytes.fromhex(public_key_hex(key))).hexdigest()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    """One audit chain at the moment of a checkpoint: how many events, and their tree's root."""

    chain: str
    size: int
    root: str

    def leaf(self) -> bytes:
        """The leaf this head is in the checkpoint's tree of chain heads."""
        return merkle.hash_leaf(canonical_json(self.as_json()).encode())

    def as_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "size": self.size, "root": self.root}


def event_leaf(event_hash: str) -> bytes:
    """An audit event is in its chain's tree by its chain hash, which covers all its fields."""
    return merkle.hash_leaf(bytes.fromhex(event_hash))


def event_leaves(event_hashes: Iterable[str]) -> Iterator[bytes]:
    """`event_leaf` of each, for the many events a checkpoint adds at once."""
    leaf_hash, prefix, unhex = sha256, merkle.LEAF_PREFIX, bytes.fromhex
    for event_hash in event_hashes:
        yield leaf_hash(prefix + unhex(event_hash)).digest()


def heads_root(heads: Sequence[ChainHead]) -> bytes:
    return merkle.root([head.leaf() for head in heads])


def checkpoint_body(
    *, number: int, created: str, previous: str | None, heads: Sequence[ChainHead], key_hex: str
) -> dict[str, Any]:
    """Return what a checkpoint signs: its place, its time, the chains, and the key."""
    ordered = sorted(heads, key=lambda h: h.chain)
    return {
        "format": CHECKPOINT_FORMAT,
        "number": number,
        "created": created,
        "previous": previous,
        "events": sum(h.size for h in ordered),
        "chains": [h.as_json() for h in ordered],
        "root": heads_root(ordered).hex(),
        "key": key_hex,
    }


def sign_checkpoint(body: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    signature = key.sign(canonical_json(dict(body)).encode())
    return {**body, "signature": base64.b64encode(signature).decode()}


def checkpoint_hash(checkpoint: Mapping[str, Any]) -> str:
    """The hash the next checkpoint names as `previous`: over the whole signed checkpoint."""
    return sha256(canonical_json(dict(checkpoint)).encode()).hexdigest()


def heads_of(checkpoint: Mapping[str, Any]) -> list[ChainHead]:
    return [ChainHead(c["chain"], int(c["size"]), c["root"]) for c in checkpoint["chains"]]


def check_checkpoint(checkpoint: Mapping[str, Any], trusted: str) -> None:
    """Raise EvidenceError unless a checkpoint is well formed and signed by the trusted key.

    `trusted` is the fingerprint of the key the deployment trusts: a checkpoint signed by any
    other key, even a valid signature, is refused.
    """
    try:
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise EvidenceError("this is not a NeedleSafe checkpoint")
        body = {k: v for k, v in checkpoint.items() if k != "signature"}
        key = public_key_from_hex(checkpoint["key"])
        if fingerprint(key) != trusted:
            raise EvidenceError(
                f"checkpoint {checkpoint.get('number')} is signed by a key that is not the "
                f"trusted one (fingerprint {fingerprint(key)[:16]}…)"
            )
        key.verify(
            base64.b64decode(checkpoint["signature"], validate=True), canonical_json(body).encode()
        )
        heads = heads_of(checkpoint)
        if heads_root(sorted(heads, key=lambda h: h.chain)).hex() != checkpoint["root"]:
            raise EvidenceError(
                f"checkpoint {checkpoint['number']}: its root does not match its chains"
            )
        if sum(h.size for h in heads) != checkpoint["events"]:
            raise EvidenceError(
                f"checkpoint {checkpoint['number']}: its event count does not add up"
            )
    except InvalidSignature:
        raise EvidenceError(
            f"checkpoint {checkpoint.get('number')}: the signature does not match its content"
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, EvidenceError):
            raise
        raise EvidenceError(f"checkpoint {checkpoint.get('number')} is malformed ({exc})") from None


def check_sequence(checkpoints: Sequence[Mapping[str, Any]]) -> None:
    """Raise EvidenceError unless each checkpoint follows the one before: numbered one more,
    naming its hash, and no chain shorter than it was (consistency is checked against the
    database's trees by verify)."""
    for before, after in zip(checkpoints, checkpoints[1:], strict=False):
        if after["number"] != before["number"] + 1:
            raise EvidenceError(
                f"checkpoint {after['number']} follows checkpoint {before['number']}: "
                "one is missing from the store"
            )
        if after["previous"] != checkpoint_hash(before):
            raise EvidenceError(
                f"checkpoint {after['number']} does not name checkpoint {before['number']} "
                "as its predecessor"
            )
        sizes = {h.chain: h.size for h in heads_of(before)}
        for head in heads_of(after):
            if head.size < sizes.get(head.chain, 0):
                raise EvidenceError(
                    f"checkpoint {after['number']}: chain {head.chain} has fewer events than "
                    f"checkpoint {before['number']} counted"
                )


# --- receipts ------------------------------------------------------------------------------------


def _written_as_hashed(text: Any) -> bool:
    """Whether a time is written exactly as `hashed_time` writes it."""
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return when.tzinfo is not None and hashed_time(when) == text


def check_receipt(receipt: Mapping[str, Any], trusted: str, event_hash_of) -> str:
    """Check a receipt offline; return what it proves, or raise EvidenceError saying why not.

    `event_hash_of(event)` recomputes an event's chain hash from its fields (audit.rules), so
    the receipt proves the signing event's content, not just a hash it names.
    """
    try:
        if receipt.get("format") != RECEIPT_FORMAT:
            raise EvidenceError("this is not a NeedleSafe receipt")
        checkpoint = receipt["checkpoint"]
        check_checkpoint(checkpoint, trusted)
        event = receipt["event"]
        # The hash covers the time as NeedleSafe wrote it: read as an instant and written
        # again, "Z" for "+00:00", or a time with no zone read in this machine's, passed here
        # while a check by hand of the same text failed (RECEIPTS.md §10).
        if not _written_as_hashed(event["created_dt"]):
            raise EvidenceError(
                "the signing event's time is not written as its hash covers it "
                "(UTC, to the microsecond, with +00:00)"
            )
        recomputed = event_hash_of(event)
        if recomputed != event["hash"]:
            raise EvidenceError("the signing event's fields do not give its hash")
        # The event is the signing of this very record, at the place in its chain the proof
        # starts from: a receipt relabelled with another record number, or an addendum's
        # event (which names a content hash too), once read as valid (a review).
        if (event["action"], event["object_type"], event["object_id"]) != (
            SIGNING_ACTION,
            SIGNED_OBJECT,
            str(receipt["record"]),
        ):
            raise EvidenceError(f"the event is not the signing of record {receipt['record']}")
        if receipt["index"] != event["seq"] - 1:
            raise EvidenceError("the proof does not start from the signing event's place")
        chain = f"{CLINIC_PREFIX}{event['chain']}" if "chain" in event else SYSTEM_NAME
        if receipt["chain_head"]["chain"] != chain:
            raise EvidenceError("the chain head is not the signing event's chain")
        if event["details"].get("content_hash") != receipt["content_hash"]:
            raise EvidenceError("the signing event names another content hash")
        head = ChainHead(**receipt["chain_head"])
        if not merkle.verify_inclusion(
            receipt["index"],
            head.size,
            event_leaf(event["hash"]),
            [bytes.fromhex(h) for h in receipt["inclusion"]],
            bytes.fromhex(head.root),
        ):
            raise EvidenceError("the event is not in its chain's tree at that size")
        if head.as_json() not in checkpoint["chains"]:
            raise EvidenceError("the checkpoint does not hold that chain head")
        heads = sorted(heads_of(checkpoint), key=lambda h: h.chain)
        if not merkle.verify_inclusion(
            receipt["chain_index"],
            len(heads),
            head.leaf(),
            [bytes.fromhex(h) for h in receipt["chain_inclusion"]],
            bytes.fromhex(checkpoint["root"]),
        ):
            raise EvidenceError("the chain head is not in the checkpoint's tree")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, EvidenceError):
            raise
        raise EvidenceError(f"the receipt is malformed ({exc})") from None
    return (
        f"record {receipt['record']} with content hash {receipt['content_hash']} was signed in "
        f"event {event['seq']} of chain {head.chain}, included in checkpoint "
        f"{checkpoint['number']} of {checkpoint['created']}"
    )
