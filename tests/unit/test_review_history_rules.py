"""Pure rules of a record's history: audit events in words, with their useful detail."""

from __future__ import annotations

from safety.review.rules import history as rules


def test_an_audit_event_reads_as_words_with_its_useful_detail():
    assert rules.action_label("session.phase_submit") == "Saved a phase"
    assert rules.history_summary("session.phase_submit", {"phase": "timeout"}) == "Time out"
    assert (
        rules.history_summary("session.phase_submit", {"phase": "signin", "resubmitted": True})
        == "Sign in (saved again)"
    )
    assert rules.action_label("something.new") == "something.new"
