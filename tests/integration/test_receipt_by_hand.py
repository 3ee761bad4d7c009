"""A receipt checks by hand, by docs/RECEIPTS.md alone (DESIGN §5, README "Checking a record
without us").

An auditor checks a receipt with any SHA-256 and Ed25519 tool, not with our code, so the byte
formats the document writes down are a promise. The application makes a real signed record,
checkpoint and receipt; the checking below uses only hashlib, json and `cryptography`, step by
step as the document says, and nothing from safety.audit, safety.integrity or safety.hashing.
If the code and the document drift apart, a test here fails; the document's worked example is
checked by the same steps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOCUMENT = ROOT / "docs" / "RECEIPTS.md"
ALL_PHASES = ("signin", "timeout", "signout")


def one_signed_record_in_each_of_two_clinics(make_user, make_session) -> dict[str, int]:
    """Two clinics (so the checkpoint has three chains), a signed record in each, and more
    events after the first signing (so its event is inside its chain's tree, not at its end)."""
    ids: dict[str, int] = {}
    for clinic in ("a", "b"):
        practitioner = make_user()
        ids[clinic] = make_session(practitioner, phases=ALL_PHASES, sign=True).id
        make_session(practitioner, phases=("signin",))
    return ids


pytestmark = pytest.mark.world.with_args(one_signed_record_in_each_of_two_clinics)


# --- the checking, by the document's steps only ----------------------------------------------


class NotValid(Exception):
    """The receipt does not hold; the message says which step refused it."""


def canonical(value) -> bytes:
    """Section 2: keys sorted, no spaces, text as itself, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def event_hash(event: dict) -> str:
    """Section 3: SHA-256 of the previous hash's 64 hex digits, then the canonical payload."""
    payload = {
        name: event[name]
        for name in ("seq", "created_dt", "actor_id", "action", "object_type", "object_id")
    }
    payload["details"] = event["details"]
    if "chain" in event:
        payload["chain"] = event["chain"]
    return hashlib.sha256(event["prev_hash"].encode() + canonical(payload)).hexdigest()


def event_leaf(hash_hex: str) -> bytes:
    """Section 4: 0x00, then the event hash's 32 bytes."""
    return sha256(b"\x00" + bytes.fromhex(hash_hex))


def head_leaf(head: dict) -> bytes:
    """Section 4: 0x00, then the chain head's canonical JSON."""
    return sha256(b"\x00" + canonical(head))


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def climb(index: int, size: int, leaf: bytes, path: list[str]) -> list[bytes]:
    """Section 5 (RFC 9162 §2.1.3.2): the leaf and each node an audit path leads through, the
    last being the root it leads to."""
    if not 0 <= index < size:
        raise NotValid("no such leaf")
    fn, sn, nodes = index, size - 1, [leaf]
    for sibling in map(bytes.fromhex, path):
        if sn == 0:
            raise NotValid("the path is too long")
        if fn % 2 == 1 or fn == sn:
            nodes.append(node(sibling, nodes[-1]))
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            nodes.append(node(nodes[-1], sibling))
        fn, sn = fn // 2, sn // 2
    if sn != 0:
        raise NotValid("the path is too short")
    return nodes


def raw_public_key(pem: str) -> bytes:
    """The 32 bytes of an Ed25519 public key given as PEM (SubjectPublicKeyInfo)."""
    key = serialization.load_pem_public_key(pem.encode())
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_checkpoint(checkpoint: dict, trusted_key: bytes) -> None:
    """Section 6: the trusted key signed it, its root is its chains' root, its count adds up."""
    if checkpoint["format"] != "needlesafe-checkpoint/1":
        raise NotValid("not a checkpoint")
    if checkpoint["key"] != trusted_key.hex():
        raise NotValid("signed by another key")
    body = {name: value for name, value in checkpoint.items() if name != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(trusted_key).verify(
            base64.b64decode(checkpoint["signature"], validate=True), canonical(body)
        )
    except InvalidSignature:
        raise NotValid("bad signature") from None
    leaves = [head_leaf(head) for head in sorted(checkpoint["chains"], key=lambda h: h["chain"])]
    if merkle_root(leaves).hex() != checkpoint["root"]:
        raise NotValid("root is not the chains' root")
    if sum(head["size"] for head in checkpoint["chains"]) != checkpoint["events"]:
        raise NotValid("event count does not add up")


def merkle_root(leaves: list[bytes]) -> bytes:
    """MTH (RFC 9162 §2.1.1): split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def check_by_hand(receipt: dict, trusted_key: bytes) -> str:
    """Section 7, every step; return what `check-receipt` prints after "Valid: "."""
    if receipt["format"] != "needlesafe-receipt/1":
        raise NotValid("not a receipt")
    checkpoint, event, head = receipt["checkpoint"], receipt["event"], receipt["chain_head"]
    check_checkpoint(checkpoint, trusted_key)
    if event_hash(event) != event["hash"]:
        raise NotValid("the event's fields do not give its hash")
    if event["details"]["content_hash"] != receipt["content_hash"]:
        raise NotValid("the event names another content hash")
    leaf = event_leaf(event["hash"])
    if climb(receipt["index"], head["size"], leaf, receipt["inclusion"])[-1].hex() != head["root"]:
        raise NotValid("the event is not in its chain's tree")
    if head not in checkpoint["chains"]:
        raise NotValid("the checkpoint does not hold that chain head")
    count, leaf = len(checkpoint["chains"]), head_leaf(head)
    top = climb(receipt["chain_index"], count, leaf, receipt["chain_inclusion"])[-1]
    if top.hex() != checkpoint["root"]:
        raise NotValid("the chain head is not in the checkpoint's tree")
    # What the document adds to check-receipt's steps: the event is this record's signing.
    if (event["action"], event["object_type"], event["object_id"]) != (
        "session.sign",
        "treatment_sessions",
        str(receipt["record"]),
    ):
        raise NotValid("the event is not this record's signing")
    if receipt["index"] != event["seq"] - 1:
        raise NotValid("the event is not at its place in its chain")
    if head["chain"] != (f"clinic:{event['chain']}" if "chain" in event else "system"):
        raise NotValid("the event is of another chain")
    return (
        f"record {receipt['record']} with content hash {receipt['content_hash']} was signed in "
        f"event {event['seq']} of chain {head['chain']}, included in checkpoint "
        f"{checkpoint['number']} of {checkpoint['created']}"
    )


# --- a real receipt ----------------------------------------------------------------------------


@pytest.fixture
def proved(app, runner, world, tmp_path) -> tuple[Path, Path]:
    """A checkpoint of the world, clinic a's record's receipt, and the public key (PEM), as
    files written by `flask audit checkpoint`, `prove` and `public-key`."""
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    receipt = tmp_path / "receipt.json"
    made = runner.invoke(args=["audit", "prove", str(world["a"]), "--out", str(receipt)])
    assert made.exit_code == 0, made.output
    public = tmp_path / "audit.pub"
    public.write_text(runner.invoke(args=["audit", "public-key"]).stdout)
    return receipt, public


def valid_by_hand(receipt: Path, public: Path) -> str:
    """What check-receipt would print for the receipt file, found by hand."""
    said = check_by_hand(json.loads(receipt.read_text()), raw_public_key(public.read_text()))
    return f"Valid: {said}."


def check_receipt(runner, receipt: Path, public: Path):
    return runner.invoke(args=["audit", "check-receipt", str(receipt), "--public-key", str(public)])


def test_a_real_receipt_checks_by_hand_as_check_receipt_says(runner, proved, world):
    receipt, public = proved

    said = valid_by_hand(receipt, public)

    checked = check_receipt(runner, receipt, public)
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == said + "\n"
    assert said.startswith(f"Valid: record {world['a']} with content hash ")


def other_hex_digit(text: str, at: int) -> str:
    """The text with one hex digit changed: one byte of what it spells."""
    return text[:at] + ("1" if text[at] == "0" else "0") + text[at + 1 :]


def next_digit(text: str, at: int) -> str:
    return text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: r["event"].update(prev_hash=other_hex_digit(r["event"]["prev_hash"], 7)),
        lambda r: r["event"].update(created_dt=next_digit(r["event"]["created_dt"], 25)),
        lambda r: r["event"].update(actor_id=r["event"]["actor_id"] + 1),
        lambda r: r["event"]["details"].update(content_hash=r["content_hash"][::-1]),
        lambda r: r["inclusion"].__setitem__(1, other_hex_digit(r["inclusion"][1], 40)),
        lambda r: r["chain_inclusion"].__setitem__(0, other_hex_digit(r["chain_inclusion"][0], 0)),
        lambda r: r.update(index=r["index"] - 1),
        lambda r: r["chain_head"].update(root=other_hex_digit(r["chain_head"]["root"], 63)),
        lambda r: r["checkpoint"].update(events=r["checkpoint"]["events"] + 1),
    ],
    ids=[
        "event-prev-hash",
        "event-time",
        "event-actor",
        "event-content-hash",
        "inclusion",
        "chain-inclusion",
        "index",
        "chain-head",
        "checkpoint",
    ],
)
def test_a_receipt_with_one_byte_changed_fails_by_hand_and_in_check_receipt(runner, proved, tamper):
    receipt, public = proved
    tampered = json.loads(receipt.read_text())
    tamper(tampered)
    receipt.write_text(json.dumps(tampered))

    with pytest.raises(NotValid):
        valid_by_hand(receipt, public)
    assert check_receipt(runner, receipt, public).exit_code == 1


def test_a_receipt_relabelled_with_another_record_number_fails_by_hand_and_in_check_receipt(
    runner, proved
):
    """check-receipt once bound no field of the event to `record`, and printed "Valid: record
    99" for a relabelled receipt (found while writing RECEIPTS.md)."""
    receipt, public = proved
    relabelled = json.loads(receipt.read_text())
    relabelled["record"] += 1
    receipt.write_text(json.dumps(relabelled))

    with pytest.raises(NotValid, match="not this record's signing"):
        valid_by_hand(receipt, public)
    refused = check_receipt(runner, receipt, public)
    assert refused.exit_code == 1
    assert f"the event is not the signing of record {relabelled['record']}" in refused.output


# --- the document's worked example -------------------------------------------------------------


def worked_example() -> str:
    text = DOCUMENT.read_text("utf-8")
    return text[text.index("## 9. Worked example") : text.index("## 10.")]


def test_the_documents_worked_example_checks_by_its_own_steps_and_lists_what_they_give():
    example = worked_example()
    receipt = json.loads(re.search(r"```json\n(.*?)```", example, re.S).group(1))
    pem = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", example, re.S)
    steps = re.search(r"```\n(fingerprint .*?)```", example, re.S).group(1)
    key = raw_public_key(pem.group(0))
    checkpoint, event, head = receipt["checkpoint"], receipt["event"], receipt["chain_head"]
    message = canonical({k: v for k, v in checkpoint.items() if k != "signature"})
    payload = {k: v for k, v in event.items() if k not in {"prev_hash", "hash"}}

    said = check_by_hand(receipt, key)

    up_the_chain = climb(
        receipt["index"], head["size"], event_leaf(event["hash"]), receipt["inclusion"]
    )
    up_the_heads = climb(
        receipt["chain_index"],
        len(checkpoint["chains"]),
        head_leaf(head),
        receipt["chain_inclusion"],
    )
    given = {
        hashlib.sha256(key).hexdigest(),
        hashlib.sha256(message).hexdigest(),
        *(head_leaf(h).hex() for h in checkpoint["chains"]),
        event_hash(event),
        *(n.hex() for n in up_the_chain + up_the_heads),
        receipt["content_hash"],  # inside the payload's line
    }
    assert set(re.findall(r"\b[0-9a-f]{64}\b", steps)) == given
    assert f"payload  {canonical(payload).decode()}\n" in steps
    assert f"signed message: {len(message)} bytes" in steps
    assert f"    Valid: {said}.\n" in example
