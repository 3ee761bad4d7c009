"""The CSV export of signed records: two header rows (the columns named for people, then their
keys for programs), one row per record, one column per checklist item, and a last row with
the latest signed audit checkpoint, the evidence the file can be held to.

The rows are the record list's (same scope, same filters, `records.record_conditions`),
signed only; the database writes every cell (`csvsql`), so streaming a million records is a
loop of fetch and pass on. The export is audited, with its filters, before the first byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import ColumnElement, Select, String, select, type_coerce

from safety import i18n
from safety.audit import services as audit
from safety.auth.models import User
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.integrity import checkpoints
from safety.review import csvsql
from safety.review.queries import require_compliance
from safety.review.records import cutoffs_for, record_conditions
from safety.review.rules import export as rules
from safety.review.rules.records import RecordFilters
from safety.risks import translations
from safety.risks.models import TemplateVersion

TS = TreatmentSession


def _definitions() -> list[dict[str, Any]]:
    """Every published template version's definition, oldest first: the export's columns come
    from them. A draft is nobody's record yet: an administrator's unpublished edit once added
    its own columns to the compliance evidence and reworded its questions."""
    return list(
        db.session.scalars(
            select(TemplateVersion.definition)
            .where(TemplateVersion.published_dt.is_not(None))
            .order_by(TemplateVersion.version)
        )
    )


def export_columns(definitions: list[dict[str, Any]] | None = None) -> list[str]:
    """Return the CSV header: record metadata, then every linkId of every template version."""
    items = rules.export_items(_definitions() if definitions is None else definitions)
    return [*rules.EXPORT_METADATA, *(k for k, _t in items)]


def export_labels(definitions: list[dict[str, Any]] | None = None) -> list[str]:
    """Return the first header row, for people: the metadata's names and each item's question
    in the reader's language, column for column with `export_columns`."""
    definitions = _definitions() if definitions is None else definitions
    language = i18n.current_language()
    questions, phases = rules.export_labels(definitions), rules.export_phases(definitions)
    link_ids = [link_id for link_id, _type in rules.export_items(definitions)]
    asked = [translations.said(questions[i], language, link_id=i) for i in link_ids]
    # A question two columns share (the same words in two phases) names its phase.
    repeated = {label for label, n in Counter(asked).items() if n > 1}
    # A question is an administrator's text: guarded like an answer, so a question worded as a
    # formula shows as written instead of running in the compliance officer's spreadsheet.
    return [
        *(gettext(label) for label in rules.EXPORT_METADATA_LABELS.values()),
        *(
            rules.csv_text(
                f"{label} ({translations.said(phases[i], language)})"
                if label in repeated
                else label
            )
            for i, label in zip(link_ids, asked, strict=True)
        ),
    ]


def _answer_column(link_id: str, item_type: str) -> ColumnElement[Any]:
    """Return the SQL that formats one answer: yes/no, codes joined with ";", text guarded."""
    how = {"boolean": "bool", "multichoice": "list", "string": "text", "text": "text"}
    return csvsql.Cell(TS.answers, link_id, how.get(item_type, "plain"))


def export_query(
    actor: User,
    filters: RecordFilters,
    *,
    now: datetime | None = None,
    definitions: list[dict[str, Any]] | None = None,
) -> Select:
    """Return the query behind the CSV export: one row per signed record, every cell as text.

    The database formats every cell, so streaming is a loop of fetch and write; `make bench`
    runs this same statement through the database's own CSV output for comparison.
    """
    conditions = [
        *record_conditions(actor, filters, cutoffs_for(filters, now or utcnow())),
        TS.signed_dt.is_not(None),
    ]
    return (
        select(
            TS.id,
            csvsql.Cell(Clinic.name, None, "text"),
            TS.patient_id,
            csvsql.Cell(TS.signer_name, None, "text"),
            TS.signed_by_id,
            type_coerce(TS.session_date, String),
            csvsql.UtcIso(TS.signed_dt),
            TemplateVersion.version,
            TS.content_hash,
            csvsql.FlagsText(TS.id),
            csvsql.Cell(csvsql.PackLots(TS.id), None, "text"),
            csvsql.Cell(csvsql.NotesText(TS.notes), None, "text"),
            csvsql.Cell(csvsql.AddendaText(TS.id), None, "text"),
            *(
                _answer_column(k, t)
                for k, t in rules.export_items(
                    _definitions() if definitions is None else definitions
                )
            ),
        )
        .outerjoin(Clinic, Clinic.id == TS.clinic_id)
        .outerjoin(TemplateVersion, TemplateVersion.id == TS.template_version_id)
        .where(*conditions)
        .order_by(TS.id)
    )


def export_csv(
    actor: User, filters: RecordFilters, *, now: datetime | None = None
) -> Iterator[str]:
    """Audit the export, then return the CSV lines of every signed record the filters match.

    The lines are produced a batch at a time from one streamed statement, so memory stays flat.
    """
    require_compliance(actor)
    now = now or utcnow()
    definitions = _definitions()  # read once: the header rows, the query and its cells
    header = export_columns(definitions)
    query = export_query(actor, filters, now=now, definitions=definitions)
    audit.record(
        "export.csv",
        actor=actor,
        details={"filters": filters.as_args(), "columns": len(header)},
        now=now,
    )

    latest = checkpoints.latest()
    if db.session.connection().dialect.name == "postgresql":
        lines = csvsql.copy_lines(header, query)
    else:
        lines = csvsql.printed_lines(
            header,
            query,
            rules.export_cells_without_separators(rules.export_items(definitions)),
        )
    return _around(
        rules.BOM + csvsql.header_line(export_labels(definitions)),
        lines,
        rules.checkpoint_line(latest.body if latest else None),
    )


def _around(first: str, lines: Iterator[str], last: str) -> Iterator[str]:
    yield first
    yield from lines
    yield last
