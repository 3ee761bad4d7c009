"""Pure rules of the CSV exports: which columns, cells safe from spreadsheets, line ends.

The record export has one column per linkId of every template version after the record's
metadata; the database formats the cells (safety.review.csvsql) to the rules written here.
It opens with two header rows: the columns named for people (the question as the newest
version words it, in the reader's language), then their keys (linkIds) for programs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from safety.languages import N_

#: What every CSV download starts with. Excel reads a UTF-8 file without it in the machine's
#: legacy code page ("LucÃ­a" for Lucía); a program reads it with the utf-8-sig codec.
BOM = "\ufeff"


def csv_utc(value: datetime) -> str:
    """A time in a CSV: UTC to the second, "2026-11-16T09:32:00Z", as the records CSV's
    database-formatted `signed_utc` (csvsql.UtcIso) writes it."""
    return f"{value.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


#: A cell starting with one of these is a formula to a spreadsheet; the quote keeps it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """Return text that a spreadsheet shows as written instead of running it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


#: The first cell of the row after the records that carries the latest signed checkpoint.
CHECKPOINT_LABEL = "NeedleSafe audit checkpoint"


def checkpoint_line(signed_checkpoint: str | None) -> str:
    """The CSV's last row: the latest signed checkpoint (canonical JSON, quoted), so the file
    carries the evidence it can be held to (`flask audit verify --checkpoint`), or says that
    there is none yet."""
    value = signed_checkpoint or "none yet"
    return f'{CHECKPOINT_LABEL},"{value.replace(chr(34), chr(34) * 2)}"\r\n'


#: linkIds the export can name inside SQL text (every linkId of the register has this shape).
SAFE_LINK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")


def export_items(definitions: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Return (linkId, type) of the union of the items of template definitions, first seen first."""
    seen: dict[str, str] = {}
    for definition in definitions:
        for phase in definition.get("phases", ()):
            for item in phase.get("items", ()):
                seen.setdefault(item["linkId"], item.get("type", "string"))
    return list(seen.items())


def export_columns(definitions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the union of the item linkIds of template definitions, in first-seen order."""
    return [link_id for link_id, _type in export_items(definitions)]


def export_labels(definitions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return each linkId's question as the newest template version that has it words it."""
    labels: dict[str, str] = {}
    for definition in definitions:
        for phase in definition.get("phases", ()):
            for item in phase.get("items", ()):
                labels[item["linkId"]] = item.get("text") or item["linkId"]
    return labels


def export_phases(definitions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return the title of the phase each linkId is asked in, as the newest version has it:
    two columns asking the same question (pain during needling, asked at Time out in
    version 1 and at Sign out in version 2) are told apart by it."""
    phases: dict[str, str] = {}
    for definition in definitions:
        for phase in definition.get("phases", ()):
            for item in phase.get("items", ()):
                phases[item["linkId"]] = phase.get("title") or phase.get("id", "")
    return phases


#: Record metadata before the answer columns of a CSV export, with what the first header row
#: calls each for people (the second row gives these keys, for programs).
EXPORT_METADATA_LABELS = {
    "record_id": N_("Record"),
    "clinic": N_("Clinic"),
    "patient_id": N_("Patient ID"),
    "practitioner": N_("Practitioner"),
    # Who signed, as an account: two practitioners of one name, or a name changed since, are
    # told apart only so (the evidence review).
    "signed_by_id": N_("Signed by (account ID)"),
    "session_date": N_("Session date"),
    "signed_utc": N_("Signed (UTC)"),
    "template_version": N_("Checklist version"),
    "content_hash": N_("Content hash (SHA-256)"),
    "flags": N_("Flags"),
    "needle_lots": N_("Needle lots"),
    "notes": N_("Notes"),
    "addenda": N_("Addenda"),
}
EXPORT_METADATA = tuple(EXPORT_METADATA_LABELS)

#: Metadata cells the database writes itself (an integer id, a formatted UTC time).
_EXPORT_METADATA_WITHOUT_SEPARATORS = ("record_id", "signed_by_id", "signed_utc")


def export_cells_without_separators(items: Iterable[tuple[str, str]]) -> set[str]:
    """Return the export columns that can never hold a comma, a quote or a line break.

    They are the cells the database writes itself: the record id, the UTC time and yes/no
    for boolean items, whatever a stored answer holds. Every other cell is checked per row.
    """
    return {*_EXPORT_METADATA_WITHOUT_SEPARATORS, *(k for k, t in items if t == "boolean")}


def crlf_lines(text: str, inside_quotes: bool) -> tuple[str, bool]:
    """End CSV lines with CRLF, leaving line feeds inside quoted cells alone.

    A cell's own quotes are doubled, so whether a point lies inside quotes is the parity of
    the quotes before it. Return the text and whether it ends inside quotes.
    """
    if '"' not in text:
        return (text if inside_quotes else text.replace("\n", "\r\n")), inside_quotes
    parts = text.split('"')
    for i in range(1 if inside_quotes else 0, len(parts), 2):
        parts[i] = parts[i].replace("\n", "\r\n")
    return '"'.join(parts), inside_quotes ^ (len(parts) % 2 == 0)
