"""FHIR search parameters: read strictly, refused with a message the client can act on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from safety.fhir import params


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "lower", "upper"),
    [
        (["ge2026-01-01"], at(2026, 1, 1), None),
        (["gt2026-01-01"], at(2026, 1, 2), None),
        (["le2026-01-31"], None, at(2026, 2, 1)),
        (["lt2026-01-31"], None, at(2026, 1, 31)),
        (["2026-01-15"], at(2026, 1, 15), at(2026, 1, 16)),
        (["eq2026-02"], at(2026, 2, 1), at(2026, 3, 1)),
        (["eq2026-12"], at(2026, 12, 1), at(2027, 1, 1)),
        (["2026"], at(2026, 1, 1), at(2027, 1, 1)),
        (["ge2026-01-01", "le2026-01-31"], at(2026, 1, 1), at(2026, 2, 1)),
        (["ge2026-01-01T10:00:00Z"], at(2026, 1, 1, 10), None),
        (["ge2026-01-01T10:00:00+02:00"], at(2026, 1, 1, 8), None),
        (["le2026-01-01T10:00:00.5Z"], None, at(2026, 1, 1, 10, 0, 0, 600000)),
        (["ge2026-01-01", "ge2026-03-01"], at(2026, 3, 1), None),
    ],
)
def test_authored_values_become_a_range_of_signed_times(values, lower, upper):
    assert params.authored_bounds(values) == (lower, upper)


@pytest.mark.parametrize(
    "value",
    ["ge2026-13-01", "2026-02-30", "ap2026-01-01", "sa2026", "yesterday", "ge", "", "2026-1-1"],
)
def test_a_bad_authored_value_is_refused_with_a_reason(value):
    with pytest.raises(params.SearchError):
        params.authored_bounds([value])


def test_a_subject_is_a_patient_reference_or_a_bare_id():
    assert params.subject_ids(["Patient/12"]) == {12}
    assert params.subject_ids(["12,Patient/13"]) == {12, 13}
    assert params.subject_ids(["Patient/12,Patient/13", "Patient/13"]) == {13}
    assert params.subject_ids([]) is None


@pytest.mark.parametrize("value", ["Practitioner/7", "Patient/", "Patient/abc", "Patient/0", "-1"])
def test_a_subject_that_is_not_a_patient_is_refused(value):
    with pytest.raises(params.SearchError):
        params.subject_ids([value])


def test_the_page_size_defaults_and_is_capped():
    assert params.page_size([]) == params.DEFAULT_COUNT
    assert params.page_size(["10"]) == 10
    assert params.page_size(["0"]) == 0
    assert params.page_size(["100000"]) == params.MAX_COUNT
    for bad in (["ten"], ["-1"], ["1.5"], ["1", "2"]):
        with pytest.raises(params.SearchError):
            params.page_size(bad)


def test_a_cursor_round_trips_and_a_forged_one_is_refused():
    cursor = params.Cursor(datetime(2026, 3, 14, 9, 30, 15, 123456, tzinfo=UTC), 41)

    assert params.decode_cursor(params.encode_cursor(cursor)) == cursor
    for forged in ("abc", "!!!!", params.encode_cursor(cursor)[:-3] + "zzz", ""):
        with pytest.raises(params.SearchError):
            params.decode_cursor(forged)


def test_an_unknown_search_parameter_is_refused_rather_than_ignored():
    with pytest.raises(params.SearchError, match="patient"):
        params.parse_search({"patient": ["12"]})


def test_a_full_search_is_read():
    search = params.parse_search(
        {
            "authored": ["ge2026-01-01", "le2026-01-31"],
            "subject": ["Patient/12"],
            "_count": ["5"],
            "_format": ["json"],
        }
    )

    assert (search.lower, search.upper) == (at(2026, 1, 1), at(2026, 2, 1))
    assert search.subjects == {12}
    assert search.count == 5
    assert not search.is_empty


def test_contradictory_parameters_match_nothing():
    assert params.parse_search({"authored": ["ge2026-02-01", "lt2026-01-01"]}).is_empty
    assert params.parse_search({"subject": ["Patient/1", "Patient/2"]}).is_empty


def test_another_format_than_json_is_refused():
    with pytest.raises(params.SearchError):
        params.parse_search({"_format": ["xml"]})
