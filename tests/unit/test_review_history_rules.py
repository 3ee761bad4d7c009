"""Pure rules of a record's history: audit events in words, phases named as the template does."""

from __future__ import annotations

from safety.review.rules import history as rules
from safety.risks.rules import load_register

#: The phase titles of the register that ships, as a template built from it names them.
TITLES = {phase["id"]: phase["title"] for phase in load_register().phases}


def test_an_audit_event_reads_as_words_with_its_useful_detail():
    assert rules.action_label("session.phase_submit") == "Saved a phase"
    assert rules.history_summary("session.phase_submit", {"phase": "timeout"}, TITLES) == "Time out"
    assert (
        rules.history_summary(
            "session.phase_submit", {"phase": "signin", "resubmitted": True}, TITLES
        )
        == "Sign in (saved again)"
    )
    assert rules.action_label("something.new") == "something.new"


def test_a_phase_is_named_as_the_records_own_template_names_it():
    titles = {"timeout": "Time-out check"}

    assert rules.history_summary("session.phase_submit", {"phase": "timeout"}, titles) == (
        "Time-out check"
    )
    assert rules.history_summary("session.phase_submit", {"phase": "extra"}, titles) == "extra"


def test_a_flags_words_put_on_the_trail_later_say_so():
    """A backfilled flag.raise is written long after the flag was raised: its line's time is
    the backfill's, so it must not read as the moment the flag went up."""
    raised = {"kind": "count_discrepancy", "severity": "critical"}

    assert rules.history_summary("flag.raise", raised, TITLES) == "Count discrepancy (Critical)"
    assert rules.history_summary("flag.raise", {**raised, "backfilled": True}, TITLES) == (
        "Count discrepancy (Critical), raised earlier: its words put on the audit trail"
    )
