"""Record ids as the database holds them: positive 32-bit integers.

Anything outside that range cannot name a row, and PostgreSQL refuses to compare an INTEGER
key with a larger number, so a guessed or mangled id is "not found" before any query runs.
Every service, URL converter and cursor decoder asks here, never with its own bound.
"""

from __future__ import annotations

#: Largest id a 32-bit INTEGER key holds.
MAX_ID = 2**31 - 1


def is_id(value: int) -> bool:
    """Return whether a number can be the id of a row."""
    return 0 < value <= MAX_ID


def parse_id(text: str | None) -> int | None:
    """Return the id a text spells in plain ASCII digits, or None.

    `isdecimal` alone lets through other scripts' digits, which `int()` reads, and
    superscripts it does not; a bound on the length keeps `int()` from a 4,300-digit refusal.
    """
    if not text or len(text) > 20 or not text.isascii() or not text.isdecimal():
        return None
    value = int(text)
    return value if is_id(value) else None
