"""Pure audit-chain rules: every event hash covers the previous hash and the whole payload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from safety.audit.rules import GENESIS_HASH, chain_hash, event_payload
from safety.hashing import canonical_json

CREATED = datetime(2026, 3, 10, 14, 5, 7, 123456, tzinfo=UTC)
PREV = "a3" * 32


def payload(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "seq": 17,
        "created_dt": CREATED,
        "actor_id": 4,
        "action": "session.sign",
        "object_type": "session",
        "object_id": "41",
        "details": {"content_hash": "f" * 64},
    }
    fields.update(changes)
    return event_payload(**fields)


def test_the_chain_hash_is_deterministic_sha256_hex():
    first = chain_hash(PREV, payload())

    assert first == chain_hash(PREV, payload())
    assert len(first) == 64
    assert set(first) <= set("0123456789abcdef")


def test_the_chain_hash_depends_on_the_previous_hash():
    assert chain_hash(GENESIS_HASH, payload()) != chain_hash(PREV, payload())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 18),
        ("created_dt", CREATED + timedelta(microseconds=1)),
        ("actor_id", 5),
        ("actor_id", None),
        ("action", "session.phase_submit"),
        ("object_type", "user"),
        ("object_type", None),
        ("object_id", "42"),
        ("object_id", None),
        ("details", {"content_hash": "e" * 64}),
        ("details", {"content_hash": "f" * 64, "resubmitted": True}),
        ("details", {}),
    ],
)
def test_the_chain_hash_depends_on_every_payload_field(field, value):
    assert chain_hash(PREV, payload(**{field: value})) != chain_hash(PREV, payload())


def test_the_payload_records_the_time_to_the_microsecond_with_its_zone():
    assert payload()["created_dt"] == "2026-03-10T14:05:07.123456+00:00"


def test_the_chain_hash_is_the_same_whatever_order_the_details_were_built_in():
    one = payload(details={"phase": "signout", "entry": 9, "resubmitted": False})
    other = payload(details={"resubmitted": False, "entry": 9, "phase": "signout"})

    assert chain_hash(PREV, one) == chain_hash(PREV, other)


def test_canonical_json_does_not_depend_on_key_order():
    value = {"b": 1, "a": {"y": [3, {"q": 1, "p": 2}], "x": None}}
    reordered = {"a": {"x": None, "y": [3, {"p": 2, "q": 1}]}, "b": 1}

    assert canonical_json(value) == canonical_json(reordered)


def test_canonical_json_keeps_list_order():
    assert canonical_json({"a": [1, 2]}) != canonical_json({"a": [2, 1]})


def test_canonical_json_keeps_types_apart():
    values = [True, 1, "1", 1.5, None, "true", "null"]

    assert len({canonical_json({"v": v}) for v in values}) == len(values)
