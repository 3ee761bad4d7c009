"""Pure rules of the lot trace: what was asked, the spellings to look for, the prefix bound.

A recall names a lot printed on the needle packs; the trace finds every session that used it
(or every lot that starts with it) and the recall CSV lists those patients' contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class LotQuery:
    """A needle lot to trace: exactly, or every lot starting with it, within dates."""

    lot: str
    is_prefix: bool = False
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        args = {"lot": self.lot, "match": "prefix" if self.is_prefix else "exact"}
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        return args


def lot_variants(lot: str) -> tuple[str, ...]:
    """Return the spellings of a lot to look for: as typed, and in capitals as printed on packs."""
    return tuple(dict.fromkeys((lot, lot.upper())))


def prefix_upper_bound(prefix: str) -> str | None:
    """Return the smallest string greater than every string that starts with `prefix`.

    `prefix <= value < bound` is then a prefix match that an ordinary index can answer.
    None means there is no bound (the prefix is all maximal code points).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; skip past them
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


#: Columns of the lot trace CSV for a recall notification.
LOT_TRACE_COLUMNS = (
    "record_id",
    "session_date",
    "needle_lot",
    "clinic",
    "practitioner",
    "patient_id",
    "patient_given_name",
    "patient_family_name",
    "patient_email",
    "patient_phone",
    "opted_out",
    "signed",
)
