"""The test harness itself: on PostgreSQL a test runs in a transaction that is rolled back, and
a test that reaches past it without the real_commits marker fails instead of passing wrongly.

On SQLite every test commits into a fresh copy of the database, so the same steps just work.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from conftest import SecondConnection
from sqlalchemy import func, select, text

from safety.clinics.models import Clinic
from safety.extensions import db


def _second_connection() -> int:
    with db.engine.connect() as other:
        return other.scalar(select(func.count()).select_from(Clinic))


def _process() -> int:
    return subprocess.run([sys.executable, "-c", "pass"], check=True).returncode


def _thread(app) -> list[BaseException]:
    raised: list[BaseException] = []

    def count() -> None:
        try:
            with app.app_context():
                db.session.scalar(text("SELECT 1"))
        except BaseException as exc:  # reported to the test thread
            raised.append(exc)

    thread = threading.Thread(target=count)
    thread.start()
    thread.join()
    return raised


@pytest.mark.parametrize("reach", [_second_connection, _process], ids=["connection", "process"])
def test_a_rolled_back_test_cannot_reach_past_its_transaction(app, postgres, make_clinic, reach):
    make_clinic()

    if postgres is None:
        reach()
        return
    with pytest.raises(SecondConnection, match="real_commits"):
        reach()


def test_a_rolled_back_test_cannot_use_the_database_from_another_thread(app, postgres):
    raised = _thread(app)

    if postgres is None:
        assert raised == []
    else:
        assert [type(exc) for exc in raised] == [SecondConnection]


@pytest.mark.real_commits
def test_a_real_commit_test_may_open_connections_processes_and_threads(app, make_clinic):
    make_clinic()

    assert _second_connection() == 1
    assert _process() == 0
    assert _thread(app) == []


def test_what_a_test_committed_is_gone_for_the_next_and_ids_start_again(app, make_clinic):
    """Run twice (the parametrized copies below): both see an empty table and id 1."""
    assert db.session.scalar(select(func.count()).select_from(Clinic)) == 0

    assert make_clinic().id == 1


test_what_the_test_before_committed_is_gone_too = (
    test_what_a_test_committed_is_gone_for_the_next_and_ids_start_again
)
