"""Signed addenda: a correction is added beside a signed record, never over it.

The service is driven directly (the routes have their own tests); the database triggers are
tried with raw SQL, so what refuses a change is the database itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import PASSWORD
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from safety.audit.models import AuditEvent
from safety.auth import policy
from safety.auth import services as auth
from safety.checklists import addenda
from safety.checklists.models import Addendum, TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db

ALL_PHASES = ("signin", "timeout", "signout")
REASON = "Needle lot transcribed wrongly from the pack."
BODY = "The needle lot was LOT-2611B, not LOT-2611A."


@pytest.fixture
def practitioner(make_user):
    return make_user()


@pytest.fixture
def signed(practitioner, make_session):
    return make_session(practitioner, phases=ALL_PHASES, sign=True)


def add(actor, record, **changes):
    values = {"reason": REASON, "body": BODY, "password": PASSWORD, **changes}
    return addenda.add_addendum(actor, record.id, **values)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_addendum_is_signed_and_bound_to_the_record_hash(practitioner, signed):
    addendum = add(practitioner, signed)
    db.session.commit()

    assert addendum.reason == REASON
    assert addendum.body == BODY
    assert addendum.signer_name == practitioner.name
    assert addendum.signature_meaning == addenda.ADDENDUM_MEANING
    assert len(addendum.content_hash) == 64
    assert addenda.addendum_hash(addendum) == addendum.content_hash


def test_the_addendum_hash_survives_a_database_round_trip(practitioner, signed):
    addendum_id = add(practitioner, signed).id
    db.session.commit()
    db.session.expire_all()

    stored = db.session.get(Addendum, addendum_id)

    assert addenda.addendum_hash(stored) == stored.content_hash


def test_the_addendum_hash_changes_when_its_text_or_the_record_hash_does(practitioner, signed):
    addendum = add(practitioner, signed)
    db.session.commit()
    columns = ("session_id", "author_id", "reason", "body", "signer_name", "signature_meaning")

    def copy(**changes) -> Addendum:  # transient: never flushed, so no trigger is involved
        values = {name: getattr(addendum, name) for name in columns}
        return Addendum(**{**values, "signed_dt": addendum.signed_dt, **changes})

    record_hash = signed.content_hash
    assert addenda.addendum_hash(copy(), record_hash) == addendum.content_hash
    assert addenda.addendum_hash(copy(), "0" * 64) != addendum.content_hash
    assert addenda.addendum_hash(copy(body="Something else."), record_hash) != addendum.content_hash
    assert addenda.addendum_hash(copy(signer_name="Someone"), record_hash) != addendum.content_hash
    later = addendum.signed_dt + timedelta(microseconds=1)
    assert addenda.addendum_hash(copy(signed_dt=later), record_hash) != addendum.content_hash


def test_the_addendum_is_audited_in_the_same_transaction(practitioner, signed):
    addendum = add(practitioner, signed)

    (event,) = events("session.addendum")
    assert event.actor_id == practitioner.id
    assert (event.object_type, event.object_id) == ("treatment_sessions", str(signed.id))
    assert event.details == {"addendum": addendum.id, "content_hash": addendum.content_hash}
    db.session.rollback()
    assert count(Addendum) == 0
    assert events("session.addendum") == []


def test_the_original_record_is_left_exactly_as_signed(practitioner, signed):
    before = (signed.answers, signed.notes, signed.content_hash, signed.signed_dt)

    add(practitioner, signed)
    db.session.commit()
    db.session.expire_all()

    record = db.session.get(TreatmentSession, signed.id)
    assert (record.answers, record.notes, record.content_hash, record.signed_dt) == before


def test_addenda_are_kept_in_the_order_they_were_signed(practitioner, signed):
    now = utcnow()
    add(practitioner, signed, reason="First", now=now)
    add(practitioner, signed, reason="Second", now=now + timedelta(minutes=5))
    db.session.commit()

    assert [a.reason for a in addenda.addenda_for(signed.id)] == ["First", "Second"]


def test_another_practitioner_of_the_clinic_may_add_an_addendum(signed, make_user):
    colleague = make_user(clinic=signed.clinic)

    addendum = add(colleague, signed)

    assert addendum.author_id == colleague.id
    assert addendum.signer_name == colleague.name


def test_a_wrong_password_adds_nothing_and_counts_towards_the_lockout(practitioner, signed):
    with pytest.raises(DomainError) as refused:
        add(practitioner, signed, password="not my password at all")
    db.session.commit()  # as the route does: keep the failure count and the audit event

    assert "password" in refused.value.errors
    assert count(Addendum) == 0
    assert db.session.get(type(practitioner), practitioner.id).failed_login_count == 1
    (event,) = events("session.addendum_failed")
    assert event.details == {"reason": "bad_password"}


def test_a_locked_account_cannot_sign_an_addendum_even_with_the_right_password(
    app, practitioner, signed
):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        with pytest.raises(DomainError):
            add(practitioner, signed, password="not my password at all")

    with pytest.raises(DomainError) as refused:
        add(practitioner, signed)

    assert refused.value.errors["password"] == auth.LOCKED
    assert count(Addendum) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"body": ""}, "body"),
        ({"reason": "x" * (addenda.REASON_MAX_LENGTH + 1)}, "reason"),
        ({"body": "x" * (addenda.BODY_MAX_LENGTH + 1)}, "body"),
        ({"password": ""}, "password"),
    ],
)
def test_a_missing_or_overlong_field_is_refused_before_the_password_is_checked(
    practitioner, signed, changes, field
):
    with pytest.raises(DomainError) as refused:
        add(practitioner, signed, **{**changes, "password": changes.get("password", "wrong!")})

    assert field in refused.value.errors
    assert count(Addendum) == 0
    assert practitioner.failed_login_count == 0


def test_an_unsigned_record_takes_no_addendum(practitioner, make_session):
    unsigned = make_session(practitioner, phases=("signin",))

    with pytest.raises(Conflict):
        add(practitioner, unsigned)


def test_another_clinics_record_is_not_found(signed, make_user):
    stranger = make_user()

    with pytest.raises(NotFound):
        add(stranger, signed)


@pytest.mark.parametrize("role", ["compliance", "admin"])
def test_only_practitioners_add_addenda(signed, make_user, role):
    with pytest.raises(Forbidden):
        add(make_user(role), signed)


def test_can_add_is_true_only_for_practitioners_of_the_records_clinic(signed, make_user):
    assert policy.can_add_addendum(make_user(clinic=signed.clinic), signed)
    assert not policy.can_add_addendum(make_user(), signed)
    assert not policy.can_add_addendum(make_user("compliance"), signed)


# --- the database refuses changes -----------------------------------------------------------


@pytest.fixture
def stored(practitioner, signed) -> int:
    addendum = add(practitioner, signed)
    db.session.commit()
    return addendum.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE addenda SET body = 'rewritten' WHERE id = :id",
        "UPDATE addenda SET content_hash = 'x' WHERE id = :id",
        "DELETE FROM addenda WHERE id = :id",
    ],
    ids=["body", "hash", "delete"],
)
def test_the_database_refuses_to_update_or_delete_an_addendum(stored, statement):
    with pytest.raises(DatabaseError, match="immutable"):
        db.session.execute(text(statement), {"id": stored})
    db.session.rollback()

    assert db.session.scalar(select(Addendum.body).where(Addendum.id == stored)) == BODY
