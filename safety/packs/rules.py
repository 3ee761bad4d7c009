"""Pure rules of needle packs: the lot a recall can always find, and what a scanner typed.

A recall names a device by its UDI: GTIN and lot (21 CFR 880.5580 needles carry one as a GS1
barcode). A lot reaches us typed beside a patient or scanned, so one printed lot arrives as
"hw-2611a", in full width, with a Unicode hyphen or with a zero-width space inside; each
is kept as entered and under one normalised key that the lot trace matches.

A hand scanner types into the focused field what the barcode holds: an optional symbology
prefix (`]d2` GS1 DataMatrix, `]C1` GS1-128, `]Q3` GS1 QR), then GS1 element strings in any
order, variable-length ones ended by GS (ASCII 29) or by the end. Scanners that cannot send a
control character are configured to send a visible substitute instead: `{GS}` or `|` here.
The element strings are read by biip, a maintained GS1 library, not by hand.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import biip
from biip.gtin import Gtin

from safety.languages import N_, Said

#: The longest lot we keep (GS1 AI (10) allows 20 characters; typed lots run longer).
LOT_MAX_LENGTH = 64
#: Group Separator, ASCII 29: ends a variable-length GS1 element string.
GS = "\x1d"
#: What scanners are configured to send for GS when the keyboard cannot type it (README).
GS_SUBSTITUTES = ("{GS}", "|")
#: AIM symbology identifiers of the GS1 symbologies a needle pack carries.
GS1_PREFIXES = ("]d2", "]C1", "]Q3", "]e0", "]J1")
#: Of those, the ones biip does not read (GS1 DotCode): taken off before the message is read.
BIIP_UNKNOWN_PREFIXES = ("]J1",)

#: Dashes Unicode does not put in category Pd but people and keyboards type for one.
_OTHER_DASHES = frozenset("\u2212\u2010\u2011\u2012\u2013\u2014\u2015\ufe63\uff0d")
_SPACES = re.compile(r"\s+")

#: The checklist items that hold the first pack (every template version asks them).
LOT_ITEM = "timeout.needle_lot"
EXPIRY_ITEM = "timeout.needle_expiry"
#: The answer that lists every pack when the two items above do not say it all.
PACKS_KEY = "timeout.packs"
#: Most packs one session records (a practitioner opens a few; the form offers this many rows).
MAX_PACKS = 6
#: Empty pack rows the Time out form offers beyond those already entered.
SPARE_ROWS = 2

EXPIRED_PACK = N_("This pack has expired. Do not use it: open an in-date pack.")
EXPIRY_REQUIRED = N_("Enter the expiry date from the pack.")
EXPIRY_FORMAT = N_("Enter a date as YYYY-MM-DD, for example 2027-03-31.")
LOT_REQUIRED = N_("Enter the lot number from the pack.")
LOT_TOO_LONG = Said(
    N_("A lot number is at most %(max)s characters: check what was entered."), max=LOT_MAX_LENGTH
)
LOT_UNPRINTABLE = N_(
    "The lot has a character that is not printed on a pack (a control or unassigned "
    "character, often from a scanner setting): type the lot again, or scan it again."
)


class PackError(ValueError):
    """A lot or a scan that cannot be kept, with the message to show beside the field."""

    @property
    def message(self) -> str:
        """The message as raised (a `Said` keeps its words for `web.translated`; `str(exc)`
        would give plain English)."""
        return self.args[0]


def _is_dash(char: str) -> bool:
    return char in _OTHER_DASHES or unicodedata.category(char) == "Pd"


@lru_cache(maxsize=1 << 16)
def normalise_lot(text: str) -> str:
    """Return the key a lot is matched by: NFKC, no format characters, one dash, upper case.

    Never refuses (stored lots of any age are normalised with it); `check_lot` refuses.
    Idempotent: normalising a key gives the same key. Cached: a clinic opens many packs of one
    lot, and verify normalises every signed record's lots.
    """
    value = unicodedata.normalize("NFKC", text)
    value = "".join("-" if _is_dash(c) else c for c in value if unicodedata.category(c) != "Cf")
    value = _SPACES.sub(" ", value).strip().upper()
    # Upper case can leave a string NFKC would change again (e.g. "ǆ"); settle it.
    settled = unicodedata.normalize("NFKC", value)
    return settled if settled == value else normalise_lot(settled)


def check_lot(text: str) -> str:
    """Return the lot as entered (trimmed), refusing what no pack prints; raise PackError."""
    value = text.strip()
    if any(unicodedata.category(c) in {"Cc", "Co", "Cs", "Cn"} for c in value):
        raise PackError(LOT_UNPRINTABLE)
    key = normalise_lot(value)
    if not key:
        raise PackError(LOT_REQUIRED)
    if len(value) > LOT_MAX_LENGTH or len(key) > LOT_MAX_LENGTH:
        raise PackError(LOT_TOO_LONG)
    return value


# --- scans -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """What a lot field held: a GS1 scan read into its parts, or plain text kept as the lot."""

    lot: str
    is_gs1: bool = False
    gtin: str | None = None
    expiry: date | None = None
    serial: str | None = None


def _with_gs(text: str) -> str:
    for substitute in GS_SUBSTITUTES:
        text = text.replace(substitute, GS)
    return text


def looks_like_gs1(text: str) -> bool:
    """Return whether a field holds a GS1 element string rather than a typed lot.

    A symbology prefix or a GS says so; so does AI (01) with fourteen digits in front, which
    no typed lot starts with. A plain EAN-13 or a HIBC code (`+...`) is not GS1.
    """
    value = text.strip()
    if value.startswith(GS1_PREFIXES):
        return True
    if GS in _with_gs(value):
        return True
    return re.match(r"01\d{14}(\d\d|$)", value) is not None


def read_scan(text: str) -> Scan:
    """Read what a scanner typed into the lot field; plain text stays the lot. PackError if a
    GS1 scan is malformed or names no lot."""
    value = text.strip()
    if not looks_like_gs1(value):
        return Scan(lot=value)
    if value.startswith(BIIP_UNKNOWN_PREFIXES):
        # GS1 DotCode: biip does not know its symbology identifier, so it reads the message.
        value = value[len("]J1") :]
    try:
        result = biip.parse(_with_gs(value), config=biip.ParseConfig(separator_chars=[GS]))
        error = result.gs1_message_error
    except biip.ParseError as exc:
        # A scan a practitioner makes must never cost them the page (an attacker's review
        # found "]J1…" gave a 500 on Time out): whatever biip refuses is said as unreadable.
        result, error = None, str(exc)
    if result is None or result.gs1_message is None:
        raise PackError(
            Said(
                N_(
                    "This scan looks like a GS1 barcode but could not be read (%(reason)s). "
                    "Scan the pack again, or type the lot and expiry printed on it."
                ),
                reason=_reason(error),
            )
        )
    found: dict[str, biip.gs1_messages.GS1ElementString] = {}
    for element in result.gs1_message.element_strings:
        if element.ai.ai in found and found[element.ai.ai].value != element.value:
            raise PackError(
                Said(
                    N_("The scan holds two different values for (%(ai)s): scan the pack again."),
                    ai=element.ai.ai,
                )
            )
        found[element.ai.ai] = element
    gtin = found.get("01")
    if gtin is not None and gtin.gtin_error:
        raise PackError(
            Said(
                N_(
                    "The pack's GTIN %(gtin)s does not add up (its check digit is wrong): scan "
                    "the pack again, or type the lot and expiry printed on it."
                ),
                gtin=gtin.value,
            )
        )
    if "10" not in found:
        raise PackError(
            N_(
                "The scan has no lot number (GS1 AI 10): scan the barcode that holds the lot, "
                "or type the lot printed on the pack."
            )
        )
    expiry = found.get("17")
    serial = found.get("21")
    return Scan(
        lot=found["10"].value,
        is_gs1=True,
        gtin=gtin.value if gtin is not None else None,
        expiry=expiry.date if expiry is not None else None,
        serial=serial.value if serial is not None else None,
    )


def _reason(error: str | None) -> str:
    """biip's reason, without the control characters it quotes back."""
    text = (error or "unknown content").replace(GS, "<GS>")
    return "".join(c for c in text if unicodedata.category(c) != "Cc")


# --- the packs of a Time out form -----------------------------------------------------------


def is_expired(expiry: date, session_date: date) -> bool:
    """Return whether a pack is out of date on the session's date.

    Sterility is guaranteed until the expiry date (ISO 17218), so a pack is in date on the
    day it expires and out of date the day after.
    """
    return expiry < session_date


def check_gtin(text: str) -> str:
    """Return a typed GTIN as the 14 digits a UDI carries; PackError if it does not add up."""
    digits = text.strip()
    if not re.fullmatch(r"\d{8}|\d{12,14}", digits):
        raise PackError(N_("A GTIN is 8, 12, 13 or 14 digits (it follows (01) on the pack)."))
    try:
        return Gtin.parse(digits).as_gtin_14()
    except biip.ParseError:
        raise PackError(
            N_("This GTIN does not add up (its check digit is wrong): check the digits after (01).")
        ) from None


@dataclass(frozen=True)
class Pack:
    """One pack as the practitioner entered or scanned it."""

    lot: str
    expiry: date
    gtin: str | None = None
    serial: str | None = None

    @property
    def lot_key(self) -> str:
        return normalise_lot(self.lot)

    def as_answer(self) -> dict[str, str]:
        """The pack as a signed answer (JSON): lot and expiry, and GTIN and serial if known."""
        answer = {"lot": self.lot, "expiry": self.expiry.isoformat()}
        if self.gtin:
            answer["gtin"] = self.gtin
        if self.serial:
            answer["serial"] = self.serial
        return answer


def pack_field(position: int, part: str) -> str:
    """Return the form field of one part of a pack; the first pack's lot and expiry are the
    checklist items themselves."""
    if position == 1 and part == "lot":
        return LOT_ITEM
    if position == 1 and part == "expiry":
        return EXPIRY_ITEM
    return f"timeout.pack{position}.{part}"


@dataclass(frozen=True)
class PacksInput:
    """The packs a Time out form entered, the first pack's items as the checklist should read
    them (a scan replaced by its lot, an empty expiry filled from it), and the problems."""

    packs: list[Pack]
    fields: dict[str, list[str]]
    errors: dict[str, str]

    def answer(self) -> list[dict[str, str]] | None:
        """The `timeout.packs` answer, or None when the first pack's items say it all."""
        if len(self.packs) == 1 and not (self.packs[0].gtin or self.packs[0].serial):
            return None
        return [p.as_answer() for p in self.packs]


def _text(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or ()
    return (values[0] if values else "") or ""


def read_packs(form: Mapping[str, Sequence[str]], *, session_date: date) -> PacksInput:
    """Read every pack row of a Time out form: scans parsed, lots checked, expiries checked
    against the session date. The first pack is required; an empty further row is skipped."""
    packs: list[Pack] = []
    fields: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for position in range(1, MAX_PACKS + 1):
        lot_field, expiry_field = pack_field(position, "lot"), pack_field(position, "expiry")
        raw_lot, raw_expiry = _text(form, lot_field).strip(), _text(form, expiry_field).strip()
        raw_gtin = _text(form, pack_field(position, "gtin")).strip()
        raw_serial = _text(form, pack_field(position, "serial")).strip()
        if position > 1 and not (raw_lot or raw_expiry or raw_gtin):
            continue
        try:
            scan = read_scan(raw_lot)
        except PackError as exc:
            errors[lot_field] = exc.message
            continue
        expiry = _read_expiry(raw_expiry, scan, expiry_field, errors)
        gtin = scan.gtin
        if raw_gtin and not scan.is_gs1:
            try:
                gtin = check_gtin(raw_gtin)
            except PackError as exc:
                errors[pack_field(position, "gtin")] = exc.message
        serial = scan.serial if scan.is_gs1 else (raw_serial[:20] or None)
        if position == 1:
            fields[LOT_ITEM] = [scan.lot]
            fields[EXPIRY_ITEM] = [expiry.isoformat() if expiry else raw_expiry]
        if not scan.lot:
            if position > 1:  # the first pack's missing lot is the checklist item's to say
                errors[lot_field] = LOT_REQUIRED
            continue
        try:
            lot = check_lot(scan.lot)
        except PackError as exc:
            errors[lot_field] = exc.message
            continue
        if expiry is None:
            if position > 1 and expiry_field not in errors:
                errors[expiry_field] = EXPIRY_REQUIRED
            continue
        if position > 1 and is_expired(expiry, session_date):
            errors[expiry_field] = EXPIRED_PACK
            continue
        packs.append(Pack(lot=lot, expiry=expiry, gtin=gtin, serial=serial))
    return PacksInput(packs, fields, errors)


def _read_expiry(raw: str, scan: Scan, field: str, errors: dict[str, str]) -> date | None:
    typed = None
    if raw:
        try:
            typed = date.fromisoformat(raw)
        except ValueError:
            errors[field] = EXPIRY_FORMAT
            return None
    if scan.expiry is not None and typed is not None and typed != scan.expiry:
        errors[field] = Said(
            N_(
                "The expiry entered (%(typed)s) is not the one in the scan (%(scanned)s): check "
                "the date printed on the pack."
            ),
            typed=typed.isoformat(),
            scanned=scan.expiry.isoformat(),
        )
        return None
    return typed or scan.expiry


def form_values(answers: Mapping[str, Any]) -> dict[str, str]:
    """Return the pack fields of a saved Time out, so the form shows every pack again."""
    values: dict[str, str] = {}
    for position, pack in enumerate(answers.get(PACKS_KEY) or (), start=1):
        for part in ("lot", "expiry", "gtin", "serial"):
            if pack.get(part):
                values[pack_field(position, part)] = pack[part]
    return values


def pack_rows(values: Mapping[str, Any]) -> list[int]:
    """Return the positions of the further pack rows to show: those filled, then spare ones."""
    filled = [
        n
        for n in range(2, MAX_PACKS + 1)
        if any(values.get(pack_field(n, part)) for part in ("lot", "expiry", "gtin"))
    ]
    last = max(filled, default=1)
    return list(range(2, min(MAX_PACKS, last + SPARE_ROWS) + 1))


def more_packs_open(values: Mapping[str, Any], errors: Mapping[str, Any]) -> bool:
    """Whether the folded "more packs" rows start open: when any of them holds a value or a
    refusal, so nothing entered or to correct is hidden behind the fold."""
    further = {
        pack_field(n, part) for n in range(2, MAX_PACKS + 1) for part in ("lot", "expiry", "gtin")
    }
    return any(values.get(name) for name in further) or any(name in further for name in errors)


def packs_of(answers: Mapping[str, Any]) -> list[dict[str, str]]:
    """Return the packs a set of answers records, for records from before `timeout.packs`
    too: then the first pack is the lot and expiry items."""
    if answers.get(PACKS_KEY):
        return list(answers[PACKS_KEY])
    if answers.get(LOT_ITEM):
        pack = {"lot": answers[LOT_ITEM]}
        if answers.get(EXPIRY_ITEM):
            pack["expiry"] = answers[EXPIRY_ITEM]
        return [pack]
    return []
