"""Pure rules of the CSV exports: cells safe from spreadsheets, the columns, line ends."""

from __future__ import annotations

import pytest

from safety.review.rules import export as rules

# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx"])
def test_text_a_spreadsheet_would_run_as_a_formula_stays_text(text):
    assert rules.csv_text(text) == "'" + text


def test_ordinary_text_is_left_as_written():
    assert rules.csv_text("Ada Lovelace") == "Ada Lovelace"


def test_the_export_has_one_column_per_linkid_of_every_template_version():
    v1 = {"phases": [{"items": [{"linkId": "a", "type": "boolean"}, {"linkId": "b"}]}]}
    v2 = {"phases": [{"items": [{"linkId": "b"}, {"linkId": "c", "type": "text"}]}]}

    assert rules.export_columns([v1, v2]) == ["a", "b", "c"]
    assert rules.export_items([v1, v2]) == [("a", "boolean"), ("b", "string"), ("c", "text")]


def test_only_cells_the_database_writes_itself_skip_the_separator_check():
    items = [("signin.consent", "boolean"), ("timeout.needle_lot", "text"), ("n", "integer")]

    unchecked = rules.export_cells_without_separators(items)

    # yes/no, the id and the UTC time are formatted in SQL; stored text and numbers are not.
    assert unchecked == {"record_id", "signed_by_id", "signed_utc", "signin.consent"}


def test_only_plain_linkids_may_be_named_in_sql():
    assert rules.SAFE_LINK_ID.match("signout.bleeding")
    assert not rules.SAFE_LINK_ID.match("x'); DROP TABLE flags; --")
    assert not rules.SAFE_LINK_ID.match('a"b')


@pytest.mark.parametrize(
    ("text", "inside", "expected"),
    [
        ("1,a\n2,b\n", False, ("1,a\r\n2,b\r\n", False)),
        ('1,"a\nb"\n2,""""\n', False, ('1,"a\nb"\r\n2,""""\r\n', False)),
        ('1,"a\n', False, ('1,"a\n', True)),
        ('b",c\n2\n', True, ('b",c\r\n2\r\n', False)),
        ("more\n", True, ("more\n", True)),
    ],
)
def test_copied_csv_lines_end_with_crlf_outside_quoted_cells(text, inside, expected):
    assert rules.crlf_lines(text, inside) == expected
