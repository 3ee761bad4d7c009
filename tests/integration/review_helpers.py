"""Plain helpers of the review's integration tests: the time they run at, and readers of pages
and CSV. The fixtures that build the world are in review_world.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import select

from safety.checklists.models import TreatmentSession
from safety.extensions import db

#: Now, for every test: a Friday afternoon in London, before the clinics close at 19:00.
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
PHASES = ("signin", "timeout", "signout")


def ids_of(page) -> list[int]:
    return [row.id for row in page.rows]


def newest_first(session_ids: list[int]) -> list[int]:
    sessions = db.session.scalars(
        select(TreatmentSession).where(TreatmentSession.id.in_(session_ids))
    ).all()
    return [s.id for s in sorted(sessions, key=lambda s: (s.session_date, s.id), reverse=True)]


def read_csv(lines) -> list[list[str]]:
    """The CSV's rows without its last, which carries the latest signed audit checkpoint; the
    file starts with a byte-order mark, so that Excel reads it as UTF-8."""
    text = "".join(lines)
    assert text.startswith("\ufeff"), text[:20]
    *rows, checkpoint = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    assert checkpoint[0] == "NeedleSafe audit checkpoint", checkpoint
    return rows


def read_records_csv(lines) -> list[list[str]]:
    """The records CSV's rows from its keys row on: the first row names the columns for
    people (checked to be as wide as the keys), the last carries the checkpoint."""
    people, *rows = read_csv(lines)
    assert len(people) == len(rows[0]) and people[0] == "Record", people[:3]
    return rows
