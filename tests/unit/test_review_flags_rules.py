"""Pure rules of flags: one CSV cell of a record's flags, a flag's age in words, the labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from safety.review.rules import flags as rules

# --- flags and history -----------------------------------------------------------------------


def test_a_records_flags_read_most_serious_first_in_one_cell():
    summary = rules.flags_summary([("medium", "large_bruise"), ("critical", "count_discrepancy")])

    assert summary == "critical:count_discrepancy; medium:large_bruise"


def test_a_flags_age_is_said_in_the_largest_unit_that_makes_sense():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    assert rules.age_text(now - timedelta(seconds=20), now) == "just now"
    assert rules.age_text(now - timedelta(minutes=42), now) == "42 min"
    assert rules.age_text(now - timedelta(hours=30), now) == "30 h"
    assert rules.age_text(now - timedelta(days=9), now) == "9 days"


def test_the_severities_read_most_serious_first_with_their_labels():
    assert list(rules.SEVERITY_LABELS.items()) == [
        ("critical", "Critical"),
        ("high", "High"),
        ("medium", "Medium"),
        ("low", "Low"),
    ]
    assert rules.severity_rank("critical") < rules.severity_rank("low")
    assert rules.severity_rank("unknown") == len(rules.SEVERITIES)


# --- what heads the queue because it went to the duty address ---------------------------------

SENT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "status", "acknowledged", "heads"),
    [
        ("emergency", "open", None, True),  # nobody acknowledged it in time
        ("emergency", "acknowledged", SENT + timedelta(hours=1), False),  # seen since
        ("no_answer", "open", None, True),
        # Acknowledged before it was sent on: only its practitioner's leaving sends that.
        ("no_answer", "acknowledged", SENT - timedelta(hours=1), True),
        # Sent on in time, then seen by the practitioner: they are on it, and did not leave.
        ("no_answer", "acknowledged", SENT + timedelta(hours=1), False),
        ("no_answer", "resolved", SENT - timedelta(hours=1), False),
    ],
)
def test_a_flag_heads_the_queue_while_it_waits_at_the_duty_address(
    kind, status, acknowledged, heads
):
    assert rules.waits_at_the_duty_address(kind, status, SENT, acknowledged) is heads
    assert rules.waits_at_the_duty_address(kind, status, None, acknowledged) is False
