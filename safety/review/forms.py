"""Review forms and query-string readers: input shape only (types, lengths, known choices).

Filters arrive in the query string (ids and dates, never a patient's name) and come back as
typed values plus a message per field that could not be read; the services apply them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from safety.ids import parse_id
from safety.languages import N_, Said
from safety.packs.rules import PackError, check_gtin, looks_like_gs1, normalise_lot, read_scan
from safety.review.rules.flags import FLAG_STATUS_FILTERS, SEVERITIES, FlagFilters
from safety.review.rules.lots import LotQuery
from safety.review.rules.records import FLAG_FILTERS, STATES, RecordFilters, decode_cursor
from safety.web import read_date_range

_NUMBER = re.compile(r"^[0-9]{1,10}$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LOT_MAX = 64
#: A prefix shorter than this would match nearly every lot.
LOT_PREFIX_MIN = 2
#: Where a flag form sends the user back to.
BACK_TO = ("flags", "record")
MAX_PAGE = 10_000


def _known_back(value: str | None) -> str:
    """Send an unknown destination to the flags queue rather than refuse the whole form."""
    return value if value in BACK_TO else "flags"


class AcknowledgeForm(FlaskForm):
    """Acknowledge one flag (CSRF token and where to go back)."""

    back = HiddenField(filters=[_known_back])


class ResolveForm(FlaskForm):
    """Resolve one flag with a note saying what was done."""

    note = TextAreaField(
        "What was done about it",
        validators=[
            DataRequired(N_("Write what was done about this flag.")),
            Length(max=2000, message=N_("Keep the note under 2,000 characters.")),
        ],
    )
    back = HiddenField(filters=[_known_back])


class PatientSearchForm(FlaskForm):
    """Find a patient by name; posted, so the name never appears in an address."""

    name = StringField(
        "Patient name",
        validators=[
            DataRequired(N_("Enter part of the patient's name.")),
            Length(min=2, max=100, message=N_("Enter between 2 and 100 characters of the name.")),
        ],
    )


def _text(args: Mapping[str, str], name: str) -> str:
    return (args.get(name) or "").strip()


def _read_id(args: Mapping[str, str], name: str, message: str, errors: dict) -> int | None:
    raw = _text(args, name)
    if not raw:
        return None
    value = parse_id(raw)
    if value is None:
        errors[name] = message
    return value


def _read_choice(
    args: Mapping[str, str], name: str, choices: Collection[str], message: str, errors: dict
) -> str | None:
    raw = _text(args, name)
    if not raw:
        return None
    if raw not in choices:
        errors[name] = message
        return None
    return raw


def read_record_filters(args: Mapping[str, str]) -> tuple[RecordFilters, dict[str, str]]:
    """Read the record filters from the query string; a message for each value that is wrong."""
    errors: dict[str, str] = {}
    clinic = _read_id(args, "clinic", N_("Choose a clinic from the list."), errors)
    practitioner = _read_id(
        args, "practitioner", N_("Choose a practitioner from the list."), errors
    )
    patient = _read_id(args, "patient", N_("Find the patient again with the name search."), errors)
    version = _read_id(args, "version", N_("Choose a checklist version from the list."), errors)
    start, end = read_date_range(args, "from", "to", errors)
    flag = _read_choice(
        args, "flag", FLAG_FILTERS, N_("Choose a flag option from the list."), errors
    )
    state = _read_choice(args, "state", STATES, N_("Choose a state from the list."), errors)
    filters = RecordFilters(
        clinic_id=clinic,
        practitioner_id=practitioner,
        patient_id=patient,
        date_from=start,
        date_to=end,
        template_version_id=version,
        flag=flag,
        state=state,
    )
    return filters, errors


def read_cursor(
    args: Mapping[str, str],
) -> tuple[tuple[date, int] | None, tuple[date, int] | None, str | None]:
    """Read `after` or `before` of a keyset page; a message when the link is not one of ours."""
    after_raw, before_raw = _text(args, "after"), _text(args, "before")
    after = decode_cursor(after_raw) if after_raw else None
    before = decode_cursor(before_raw) if before_raw and not after_raw else None
    if (after_raw and after is None) or (before_raw and not after_raw and before is None):
        return None, None, N_("That page link did not work, so here is the first page.")
    return after, before, None


def read_lot_query(args: Mapping[str, str]) -> tuple[LotQuery | None, dict[str, str]]:
    """Read a lot trace; None (without errors) when nothing was asked yet."""
    errors: dict[str, str] = {}
    lot = _text(args, "lot")
    raw_gtin = _text(args, "gtin")
    match = _text(args, "match") or "exact"
    start, end = read_date_range(args, "from", "to", errors)
    if match not in ("exact", "prefix"):
        errors["match"] = N_("Choose an exact match or a prefix.")
    gtin = None
    if lot and looks_like_gs1(lot):
        # A pack scanned into the search: its lot, and its GTIN unless one was typed.
        try:
            scan = read_scan(lot)
        except PackError as exc:
            errors["lot"] = exc.message
            return None, errors
        lot, gtin = scan.lot, scan.gtin
    if raw_gtin:
        try:
            gtin = check_gtin(raw_gtin)
        except PackError as exc:
            errors["gtin"] = exc.message
    if not lot:
        if any(_text(args, name) for name in ("match", "from", "to", "gtin")):
            errors["lot"] = N_("Enter the lot number printed on the needle pack.")
        return None, errors
    key = normalise_lot(lot)
    if len(lot) > LOT_MAX:
        errors["lot"] = Said(N_("A lot number has at most %(max)s characters."), max=LOT_MAX)
    elif not key:
        errors["lot"] = N_("Enter the lot number printed on the needle pack.")
    elif match == "prefix" and len(key) < LOT_PREFIX_MIN:
        errors["lot"] = Said(
            N_("Enter at least %(min)s characters to search by prefix."), min=LOT_PREFIX_MIN
        )
    if errors:
        return None, errors
    return LotQuery(lot, match == "prefix", start, end, gtin), errors


def read_flag_filters(args: Mapping[str, str]) -> tuple[FlagFilters, dict[str, str]]:
    """Read the flags queue filters."""
    errors: dict[str, str] = {}
    status = _read_choice(
        args, "status", FLAG_STATUS_FILTERS, N_("Choose a status from the list."), errors
    )
    severity = _read_choice(
        args, "severity", SEVERITIES, N_("Choose a severity from the list."), errors
    )
    kind = _text(args, "kind") or None
    if kind is not None and not _KIND.match(kind):
        errors["kind"] = N_("Choose a kind of flag from the list.")
        kind = None
    clinic = _read_id(args, "clinic", N_("Choose a clinic from the list."), errors)
    return FlagFilters(status or "unresolved", severity, kind, clinic), errors


def read_page(args: Mapping[str, str]) -> tuple[int, str | None]:
    """Read a page number; page 1 with a message when it is not one."""
    raw = _text(args, "page")
    if not raw:
        return 1, None
    if not _NUMBER.match(raw) or not 1 <= int(raw) <= MAX_PAGE:
        return 1, N_("That page link did not work, so here is the first page.")
    return int(raw), None


def read_dashboard_args(
    args: Mapping[str, str], periods: tuple[int, ...]
) -> tuple[int, int | None, dict[str, str]]:
    """Read the dashboard's period (months) and clinic."""
    errors: dict[str, str] = {}
    months = 12
    raw = _text(args, "months")
    if raw:
        if _NUMBER.match(raw) and int(raw) in periods:
            months = int(raw)
        else:
            errors["months"] = N_("Choose a period from the list.")
    clinic = _read_id(args, "clinic", N_("Choose a clinic from the list."), errors)
    return months, clinic, errors
