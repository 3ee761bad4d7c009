"""Canonical serialisation and hashing shared by signatures and the audit chain.

Everything a hash covers is written by the helpers here: `canonical_json` for documents and
`hashed_time` for times. `flask audit verify` and the bulk generator write the same bytes by
hand for speed; tests hold them to these.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

#: The canonical encoder, built once (json.dumps builds one per call): sorted keys, no
#: spaces, text as itself rather than \\u escapes.
encode_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def canonical_json(value: Any) -> str:
    """Serialise deterministically, so the same content always hashes the same."""
    return encode_canonical(value)


def hashed_time(value: datetime) -> str:
    """Write a time the way every hash covers it: UTC, ISO 8601, to the microsecond.

    The same text before and after a database round trip, whatever zone it was given in.
    """
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def sha256_hex(text: str) -> str:
    """Return the SHA-256 of a text as 64 hex digits."""
    return hashlib.sha256(text.encode()).hexdigest()
