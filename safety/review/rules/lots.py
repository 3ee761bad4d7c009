"""Pure rules of the lot trace: what was asked, the key to look for, the prefix bound.

A recall names a device by its UDI, GTIN and lot, printed on the needle packs; the trace finds
every session that used the lot (or every lot that starts with it, or the lot of one GTIN)
and the recall CSV lists those patients' contacts. Lots are matched by their normalised key
(`safety.packs.rules.normalise_lot`), so a lot found on the pack in capitals finds the one a
practitioner typed in small letters, full width, with another dash or a zero-width space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from safety.packs.rules import normalise_lot


@dataclass(frozen=True)
class LotQuery:
    """A needle lot to trace: exactly, or every lot starting with it, of one GTIN or any,
    within dates."""

    lot: str
    is_prefix: bool = False
    date_from: date | None = None
    date_to: date | None = None
    gtin: str | None = None

    @property
    def key(self) -> str:
        """The normalised lot every pack is matched by."""
        return normalise_lot(self.lot)

    def as_args(self) -> dict[str, str]:
        args = {"lot": self.lot, "match": "prefix" if self.is_prefix else "exact"}
        if self.gtin:
            args["gtin"] = self.gtin
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        return args


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
    "gtin",
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
