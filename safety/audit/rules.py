"""Pure rules of the audit chains: which chain, canonical form and hashing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from safety.hashing import canonical_json, hashed_time, sha256_hex

#: prev_hash of the first event of every chain.
GENESIS_HASH = "0" * 64
#: The chain of events that belong to no clinic, and of every event written before each
#: clinic had its own chain (their hashes stay as they were signed: see migration 0009).
SYSTEM_CHAIN = 0


def event_payload(
    *,
    seq: int,
    created_dt: datetime,
    actor_id: int | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    details: dict[str, Any],
    chain: int = SYSTEM_CHAIN,
) -> dict[str, Any]:
    """Return the fields an event hash covers.

    A clinic's event names its chain, so it cannot be moved to another chain unnoticed; the
    system chain's events do not, so the events hashed before there were chains still verify.
    """
    payload = {
        "seq": seq,
        "created_dt": hashed_time(created_dt),
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
    }
    if chain != SYSTEM_CHAIN:
        payload["chain"] = chain
    return payload


def chain_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    """Return the hash that links an event to the one before it."""
    return sha256_hex(prev_hash + canonical_json(payload))


def event_hash(event: dict[str, Any]) -> str:
    """Recompute an event's hash from its fields as a receipt carries them (no database)."""
    created = datetime.fromisoformat(event["created_dt"])
    return chain_hash(
        event["prev_hash"],
        event_payload(
            seq=event["seq"],
            created_dt=created,
            actor_id=event["actor_id"],
            action=event["action"],
            object_type=event["object_type"],
            object_id=event["object_id"],
            details=event["details"],
            chain=event.get("chain", SYSTEM_CHAIN),
        ),
    )
