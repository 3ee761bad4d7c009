"""How a request's transaction ends when the request did not end it (safety.transactions).

A request that only read commits, so a PostgreSQL connection keeps the statements psycopg
prepared on it; anything that wrote and did not commit, or that raised, is still rolled back.
The tests run with real commits, so that on PostgreSQL the app's own connections and
transactions are the ones ended.
"""

from __future__ import annotations

from collections import Counter
from contextlib import suppress

import pytest
from conftest import login
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import IntegrityError

from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.clinics.models import Clinic
from safety.errors import NotFound
from safety.extensions import db

pytestmark = pytest.mark.real_commits


@pytest.fixture
def endings(app) -> Counter:
    """How the app's transactions ended: 'commit' and 'rollback', counted at the engine."""
    counted: Counter = Counter()
    listeners = {
        "commit": lambda _connection: counted.update(["commit"]),
        "rollback": lambda _connection: counted.update(["rollback"]),
    }
    for name, listener in listeners.items():
        event.listen(db.engine, name, listener)
    yield counted
    for name, listener in listeners.items():
        event.remove(db.engine, name, listener)


def test_a_page_that_only_reads_ends_its_transaction_with_a_commit(app, client, make_user, endings):
    practitioner = make_user("practitioner")
    db.session.commit()
    login(client, practitioner)
    endings.clear()

    assert client.get("/sessions/").status_code == 200

    assert endings == Counter(commit=1)


def test_postgresql_keeps_the_statements_it_prepared_for_a_page_read_again(app, client, make_user):
    practitioner = make_user("practitioner")
    db.session.commit()
    login(client, practitioner)
    if db.engine.dialect.name != "postgresql":
        assert client.get("/sessions/").status_code == 200
        return  # SQLite prepares each statement in the driver, whatever the ending

    # psycopg prepares a statement on its sixth run on a connection and forgets every one it
    # prepared at a ROLLBACK; the pool hands this single-threaded client the same connection.
    for _ in range(8):
        assert client.get("/sessions/").status_code == 200
    prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))

    assert prepared > 0


def _add_route(app, rule: str, view) -> None:
    """A route of the test's own, on an app that has not answered a request yet."""
    app.add_url_rule(rule, endpoint=rule.strip("/"), view_func=view)


def test_a_request_that_wrote_without_committing_is_rolled_back(app, client, make_clinic, endings):
    clinic_id = make_clinic("Riverside").id
    db.session.commit()

    def write_and_forget():
        db.session.execute(update(Clinic).where(Clinic.id == clinic_id).values(name="Changed"))
        return "written, not committed"

    def flush_and_forget():
        db.session.add(
            User(email="ghost@example.org", name="Ghost", role="compliance", password_hash="-")
        )
        db.session.flush()
        return "flushed, not committed"

    def add_and_forget():
        db.session.get(Clinic, clinic_id).name = "Changed in the session"
        return "changed, not flushed"

    _add_route(app, "/write-and-forget", write_and_forget)
    _add_route(app, "/flush-and-forget", flush_and_forget)
    _add_route(app, "/add-and-forget", add_and_forget)
    endings.clear()

    for url in ("/write-and-forget", "/flush-and-forget", "/add-and-forget"):
        assert client.get(url).status_code == 200

    assert endings["commit"] == 0
    db.session.remove()
    assert db.session.scalar(select(Clinic.name).where(Clinic.id == clinic_id)) == "Riverside"
    assert db.session.scalar(select(User).where(User.email == "ghost@example.org")) is None


def test_audit_events_recorded_by_a_refused_request_are_never_appended(app, client, endings):
    """A use case that records an event and is then refused (a handled error, so the request
    ends without an exception): the event would only be appended at a commit, and none comes."""

    def record_then_refuse():
        db.session.scalar(select(Clinic.id))
        audit.record("test.refused", object_type="clinic", object_id=1)
        raise NotFound("No such thing.")

    _add_route(app, "/record-then-refuse", record_then_refuse)
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    db.session.commit()
    endings.clear()

    assert client.get("/record-then-refuse").status_code == 404

    assert endings["commit"] == 0
    db.session.remove()
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before


def test_a_failed_write_the_request_swallowed_still_answers_and_is_rolled_back(
    app, client, make_clinic, endings
):
    clinic_id = make_clinic("Riverside").id
    db.session.commit()

    def swallow_a_failed_write():
        db.session.add(Clinic(id=clinic_id, name="Twice", timezone="Europe/London"))
        with suppress(IntegrityError):  # a careless route: neither rolled back nor raised
            db.session.flush()
        return "answered"

    _add_route(app, "/swallow", swallow_a_failed_write)
    endings.clear()

    assert client.get("/swallow").get_data(as_text=True) == "answered"

    assert endings["commit"] == 0
    assert client.get("/sessions/").status_code in (200, 302)  # the next request is served


def test_an_app_context_left_by_an_exception_is_rolled_back(app, endings):
    endings.clear()

    with pytest.raises(RuntimeError), app.app_context():
        db.session.scalar(select(Clinic.id))
        raise RuntimeError("failed after reading")

    assert endings == Counter(rollback=1)


def test_a_request_that_raised_after_reading_is_rolled_back(app, client, endings):
    def read_then_fail():
        db.session.scalar(select(Clinic.id))
        raise RuntimeError("failed after reading")

    _add_route(app, "/read-then-fail", read_then_fail)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    endings.clear()

    assert client.get("/read-then-fail").status_code == 500

    assert endings["commit"] == 0
