"""A record's printed history folds a run of one person's views into one line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from safety.review.rules.history import HistoryLine, action_label, fold_views

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


ACCOUNTS = {"Ada": 1, "Cora": 2, "Dan": 3}


@dataclass(frozen=True)
class Event:
    created_dt: datetime
    actor: str
    action: str
    summary: str = ""
    actor_id: int | None = None


def at(minutes: int, actor: str, action: str, *, actor_id: int | None = None) -> HistoryLine:
    when = START + timedelta(minutes=minutes)
    account = actor_id if actor_id is not None else ACCOUNTS.get(actor)
    return HistoryLine(Event(when, actor, action_label(action), actor_id=account))


def test_a_run_of_one_readers_views_becomes_one_line_with_how_many_and_until_when():
    events = [
        at(0, "Ada", "session.sign"),
        at(5, "Cora", "session.view"),
        at(6, "Cora", "session.view"),
        at(9, "Cora", "session.view"),
        at(10, "Dan", "session.view"),
        at(11, "Cora", "session.view"),
    ]

    lines = fold_views(events)

    assert [(line.event.actor, line.event.action, line.count) for line in lines] == [
        ("Ada", "Signed the checklist", 1),
        ("Cora", "Viewed the record", 3),
        ("Dan", "Viewed the record", 1),
        ("Cora", "Viewed the record", 1),
    ]
    assert lines[1].event.created_dt == START + timedelta(minutes=5)
    assert lines[1].until == START + timedelta(minutes=9)
    assert lines[2].until is None


def test_other_repeated_events_are_never_folded():
    events = [at(0, "Ada", "session.phase_submit"), at(1, "Ada", "session.phase_submit")]

    assert [line.count for line in fold_views(events)] == [1, 1]


def test_a_view_joins_the_run_of_views_already_folded_before_it():
    folded = HistoryLine(at(5, "Cora", "session.view").event, 3, START + timedelta(minutes=9))

    lines = fold_views([at(0, "Ada", "session.sign"), folded, at(12, "Cora", "session.view")])

    assert [(line.event.actor, line.count) for line in lines] == [("Ada", 1), ("Cora", 4)]
    assert lines[1].event.created_dt == START + timedelta(minutes=5)
    assert lines[1].until == START + timedelta(minutes=12)


def test_two_readers_of_the_same_name_are_two_runs_and_the_system_is_never_folded():
    events = [
        at(0, "Cora", "session.view", actor_id=2),
        at(1, "Cora", "session.view", actor_id=9),
        at(2, "System", "session.view", actor_id=None),
        at(3, "System", "session.view", actor_id=None),
    ]

    assert [line.count for line in fold_views(events)] == [1, 1, 1, 1]
