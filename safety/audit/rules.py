"""Pure rules of the audit chain: canonical form and hashing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from safety.hashing import canonical_json, hashed_time, sha256_hex

#: prev_hash of the first event.
GENESIS_HASH = "0" * 64


def event_payload(
    *,
    seq: int,
    created_dt: datetime,
    actor_id: int | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    """Return the fields an event hash covers."""
    return {
        "seq": seq,
        "created_dt": hashed_time(created_dt),
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
    }


def chain_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    """Return the hash that links an event to the one before it."""
    return sha256_hex(prev_hash + canonical_json(payload))
