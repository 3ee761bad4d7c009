"""FHIR search parameters of the read API: what a client may ask for, read strictly.

Pure: the parameters are read into a `Search` (or refused with a message for the client)
before any query runs; the cursor a page hands out is opaque and checked when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from safety.ids import is_id

#: Page size when the client gives none, and the largest page served.
DEFAULT_COUNT = 50
MAX_COUNT = 200
SEARCH_PARAMS = ("authored", "subject", "_count", "_cursor", "_format")
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")
_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_SUBJECT = re.compile(r"(?:Patient/)?([1-9]\d{0,9})")


class SearchError(ValueError):
    """A search parameter the API cannot honour; its message is for the client."""


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (signed time, id) in the stable order."""

    signed_dt: datetime
    id: int


@dataclass(frozen=True)
class Search:
    """A parsed QuestionnaireResponse search: signed in [lower, upper), subjects, page size."""

    lower: datetime | None = None
    upper: datetime | None = None
    #: Patient ids the record must be about (any of), or None for every patient.
    subjects: frozenset[int] | None = None
    count: int = DEFAULT_COUNT
    cursor: Cursor | None = None

    @property
    def is_empty(self) -> bool:
        """Whether the parameters contradict each other, so nothing can match."""
        return (
            self.lower is not None and self.upper is not None and self.lower >= self.upper
        ) or self.subjects == frozenset()


def date_range(text: str) -> tuple[datetime, datetime]:
    """Return the UTC range [start, end) a FHIR date or dateTime search value stands for."""
    match = _DATE.fullmatch(text)
    if not match:
        raise SearchError(
            f"'{text}' is not a FHIR date: use YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDThh:mm:ss with Z or an offset."
        )
    parts = match.groupdict()
    try:
        year = int(parts["year"])
        if parts["month"] is None:
            start = datetime(year, 1, 1, tzinfo=UTC)
            return start, datetime(year + 1, 1, 1, tzinfo=UTC)
        month = int(parts["month"])
        if parts["day"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return start, after
        day = date(year, month, int(parts["day"]))
        if parts["hour"] is None:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        stamp = f"{day.isoformat()}T{parts['hour']}:{parts['minute']}:{parts['second'] or '00'}"
        stamp += (parts["fraction"] or "") + (parts["zone"] or "Z").replace("Z", "+00:00")
        start = datetime.fromisoformat(stamp).astimezone(UTC)
        if parts["fraction"]:
            width = timedelta(microseconds=10 ** (7 - len(parts["fraction"])))
        elif parts["second"] is not None:
            width = timedelta(seconds=1)
        else:
            width = timedelta(minutes=1)
        return start, start + width
    except (ValueError, OverflowError):
        raise SearchError(f"'{text}' is not a real date or time.") from None


def authored_bounds(values: Iterable[str]) -> tuple[datetime | None, datetime | None]:
    """Combine `authored` parameters (AND) into one range [lower, upper) of signed times."""
    lower: datetime | None = None
    upper: datetime | None = None
    for raw in values:
        value = raw.strip()
        prefix = value[:2] if value[:2].isalpha() else "eq"
        if value[:2].isalpha() and prefix not in _DATE_PREFIXES:
            raise SearchError(
                f"authored prefix '{prefix}' is not supported: use eq, ge, gt, le or lt."
            )
        start, end = date_range(value[2:] if value[:2].isalpha() else value)
        low, high = {
            "eq": (start, end),
            "ge": (start, None),
            "gt": (end, None),
            "le": (None, end),
            "lt": (None, start),
        }[prefix]
        if low is not None:
            lower = low if lower is None else max(lower, low)
        if high is not None:
            upper = high if upper is None else min(upper, high)
    return lower, upper


def subject_ids(values: Iterable[str]) -> frozenset[int] | None:
    """Read `subject` parameters: Patient/<id> (or a bare id), comma-separated for any of."""
    result: frozenset[int] | None = None
    for raw in values:
        ids = set()
        for part in raw.split(","):
            match = _SUBJECT.fullmatch(part.strip())
            if not match or not is_id(int(match.group(1))):
                raise SearchError(f"subject '{part.strip()}' is not a reference like Patient/12.")
            ids.add(int(match.group(1)))
        result = frozenset(ids) if result is None else result & ids
    return result


def page_size(values: Sequence[str]) -> int:
    """Read `_count`: a whole number; larger than the maximum is served as the maximum."""
    if not values:
        return DEFAULT_COUNT
    if len(values) > 1:
        raise SearchError("Give _count once.")
    raw = values[0].strip()
    if not raw.isdecimal() or len(raw) > 9:
        raise SearchError(f"_count '{values[0]}' is not a whole number.")
    return min(int(raw), MAX_COUNT)


def encode_cursor(cursor: Cursor) -> str:
    """Return an opaque, URL-safe token for where the next page starts."""
    text = f"{cursor.signed_dt.astimezone(UTC).isoformat(timespec='microseconds')}|{cursor.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """Read a token made by `encode_cursor`; anything else is a bad request."""
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        stamp, _, ident = text.partition("|")
        signed_dt = datetime.fromisoformat(stamp)
        number = int(ident)
        if signed_dt.tzinfo is None or not is_id(number):
            raise ValueError(token)
        # Near year 1 or 9999 an offset moves the time out of range: OverflowError.
        return Cursor(signed_dt.astimezone(UTC), number)
    except (ValueError, OverflowError, UnicodeError, binascii.Error):
        raise SearchError("_cursor is not one this server made: follow the next link.") from None


def parse_search(args: Mapping[str, Sequence[str]]) -> Search:
    """Read the query string of a QuestionnaireResponse search (unknown parameters refused)."""
    unknown = sorted(name for name in args if name not in SEARCH_PARAMS)
    if unknown:
        raise SearchError(
            f"Unsupported search parameter {', '.join(unknown)}: this server supports "
            + ", ".join(SEARCH_PARAMS)
            + "."
        )
    formats = {f.strip().lower() for f in args.get("_format", ())}
    if formats - JSON_FORMATS:
        raise SearchError("This server speaks JSON only: leave out _format or use _format=json.")
    lower, upper = authored_bounds(args.get("authored", ()))
    cursors = args.get("_cursor", ())
    if len(cursors) > 1:
        raise SearchError("Give _cursor once.")
    return Search(
        lower=lower,
        upper=upper,
        subjects=subject_ids(args.get("subject", ())),
        count=page_size(args.get("_count", ())),
        cursor=decode_cursor(cursors[0]) if cursors else None,
    )
