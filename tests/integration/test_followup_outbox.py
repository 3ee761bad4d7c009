"""Follow-ups through the outbox against a real database: scheduled in the signing
transaction, claimed under a lease, sent once, retried with back-off, escalated to a person."""

from __future__ import annotations

import re
import socket
import threading
from datetime import timedelta

import pytest
from conftest import saved
from sqlalchemy import func, select, update

from safety.audit.models import AuditEvent
from safety.auth import services as auth_services
from safety.checklists import services as checklists
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics import services as clinics
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import rules, services
from safety.followup.backends import OutboxBackend, Outgoing
from safety.followup.models import DevMessage, FollowUp, OutboxMessage, PatientResponse
from safety.risks import services as risks

ALL_PHASES = ("signin", "timeout", "signout")
CALM = {
    "soreness": ["2"],
    "trend": ["better"],
    "bleeding": ["none"],
    "bruising": ["none"],
    "chest": ["no"],
}
#: A risk section naming only bleeding: its template has no infection risk.
BLEEDING_ONLY = "## Risks\n\n- Bleeding at the needle sites.\n"
TOKEN = re.compile(r"/f/([A-Za-z0-9_-]+)\n")


# --- helpers -------------------------------------------------------------------------------


class RecordingBackend:
    """A backend that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def practitioner(make_user):
    return make_user()


@pytest.fixture
def signed(make_session, practitioner):
    """Sign a clean checklist for a patient who agreed to email follow-up."""

    def sign(overrides: dict | None = None, patient=None) -> TreatmentSession:
        return make_session(
            practitioner, phases=ALL_PHASES, overrides=overrides, sign=True, patient=patient
        )

    return sign


def add_patient(practitioner, *, email: str | None, phone: str | None, consent: bool = True):
    patient = clinics.add_patient(
        practitioner,
        given_name="Grace",
        family_name="Hopper",
        email=email,
        phone=phone,
        is_followup_consent=consent,
    )
    return saved(patient)


def outbox_of(session_id: int) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
            .where(FollowUp.session_id == session_id)
            .order_by(OutboxMessage.id)
        )
    )


def followups_of(session_id: int) -> list[FollowUp]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(FollowUp).where(FollowUp.session_id == session_id).order_by(FollowUp.id)
        )
    )


def first_check(session_id: int) -> OutboxMessage:
    return next(r for r in outbox_of(session_id) if not r.is_reminder)


def messages() -> list[DevMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(DevMessage).order_by(DevMessage.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def token_of(message: DevMessage) -> str:
    match = TOKEN.search(message.body)
    assert match, message.body
    return match.group(1)


def deliver_first_check(session: TreatmentSession):
    """Run the worker when the 24 h check is due; return that moment and the patient's token."""
    due = first_check(session.id).next_attempt_dt
    assert services.work_once("worker", now=due) == {"sent": 1}
    return due, token_of(messages()[-1])


def answer(token: str, changes: dict, *, now):
    outcome = services.answer(token, {**CALM, **changes}, now=now)
    db.session.commit()
    return outcome


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- scheduling at signing -------------------------------------------------------------------


def test_signing_writes_the_follow_ups_and_their_outbox_rows(signed):
    session = signed()
    plans = rules.plan_at_signing(session.signed_dt, session.clinic.zone, with_day7=True)

    assert [(f.kind, f.channel, f.status) for f in followups_of(session.id)] == [
        ("24h", "email", "scheduled"),
        ("7d", "email", "scheduled"),
    ]
    rows = outbox_of(session.id)
    assert [(r.purpose, r.status, r.is_reminder, r.attempts) for r in rows] == [
        ("patient_reminder", "pending", False, 0),
        ("patient_reminder", "pending", True, 0),
        ("patient_reminder", "pending", False, 0),
    ]
    assert [r.next_attempt_dt for r in rows] == [p.due for p in plans]
    assert [r.followup.kind for r in rows] == ["24h", "24h", "7d"]
    scheduled = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "followup.schedule")
    ).one()
    assert scheduled.object_id == str(session.id)


def test_a_failure_after_signing_rolls_back_the_follow_ups_with_the_signature(
    make_session, practitioner
):
    session = make_session(practitioner, phases=ALL_PHASES)
    checklists.apply_signature(session, practitioner, now=utcnow())
    assert count(FollowUp) == 2 and count(OutboxMessage) == 3  # written, not yet committed

    db.session.rollback()

    assert count(FollowUp) == 0
    assert count(OutboxMessage) == 0
    assert db.session.get(TreatmentSession, session.id).signed_dt is None


def test_a_template_without_the_infection_risk_plans_no_7_day_check(signed, make_user):
    admin = make_user("admin")
    draft, _ = risks.create_draft_from_text(BLEEDING_ONLY, actor=admin)
    risks.publish(draft.id, actor=admin)
    db.session.commit()

    session = signed()

    assert "bloodborne_infection" not in session.template_version.definition["kinds"]
    assert [f.kind for f in followups_of(session.id)] == ["24h"]
    assert [r.is_reminder for r in outbox_of(session.id)] == [False, True]


@pytest.mark.parametrize(
    "case", ["declined", "no consent", "opted out", "no email", "sms without a phone"]
)
def test_nothing_is_scheduled_for_a_patient_who_cannot_or_will_not_be_contacted(
    case, signed, practitioner, make_patient
):
    overrides = None
    if case == "declined":
        patient = make_patient(practitioner)
        overrides = {"signout.followup": ["declined"]}
    elif case == "no consent":
        patient = make_patient(practitioner, consent=False)
    elif case == "opted out":
        patient = make_patient(practitioner)
        patient.opted_out_dt = utcnow() - timedelta(days=30)
        saved(patient)
    elif case == "no email":
        patient = add_patient(practitioner, email=None, phone="+44 7700 900123")
    else:
        patient = add_patient(practitioner, email="grace@example.org", phone=None)
        overrides = {"signout.followup": ["sms"]}

    session = signed(overrides=overrides, patient=patient)

    assert session.signed_dt is not None
    assert followups_of(session.id) == []
    assert count(OutboxMessage) == 0


def test_a_patient_who_chose_text_messages_is_scheduled_by_sms(signed, practitioner):
    patient = add_patient(practitioner, email=None, phone="+44 7700 900123")
    session = signed(overrides={"signout.followup": ["sms"]}, patient=patient)
    assert {f.channel for f in followups_of(session.id)} == {"sms"}
    assert len(outbox_of(session.id)) == 3


# --- the worker ------------------------------------------------------------------------------


def test_the_worker_sends_nothing_before_a_reminder_is_due(signed):
    session = signed()
    due = first_check(session.id).next_attempt_dt

    assert services.work_once("worker", now=due - timedelta(seconds=1)) == {}

    assert messages() == []
    assert {r.status for r in outbox_of(session.id)} == {"pending"}


def test_a_due_reminder_is_sent_through_the_outbox_backend_and_marked_sent(signed):
    session = signed()
    due = first_check(session.id).next_attempt_dt

    assert services.work_once("worker", now=due) == {"sent": 1}

    [message] = messages()
    assert message.recipient == "ada@example.org"
    assert message.channel == "email"
    assert "Hello Ada" in message.body
    assert re.search(r"http://localhost/f/[A-Za-z0-9_-]{40,}\n", message.body)
    row = first_check(session.id)
    assert (row.status, row.attempts, row.sent_dt, row.lease_until_dt) == ("sent", 1, due, None)
    assert message.outbox_id == row.id
    assert followups_of(session.id)[0].status == "sent"
    # The 48 h reminder and the 7-day check are not due yet.
    assert [r.status for r in outbox_of(session.id)] == ["sent", "pending", "pending"]
    assert db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "reminder.sent", AuditEvent.object_id == str(row.id)
        )
    )


def test_a_due_reminder_is_sent_only_once_however_often_the_worker_runs(signed):
    session = signed()
    due = first_check(session.id).next_attempt_dt
    services.work_once("worker", now=due)
    assert services.work_once("worker", now=due + timedelta(minutes=5)) == {}
    assert services.work_once("other", now=due + timedelta(hours=1)) == {}
    assert len(messages()) == 1


def test_the_message_id_is_derived_from_the_outbox_row_id(signed):
    session = signed()
    row = first_check(session.id)
    backend = RecordingBackend()

    ids = services.claim("worker", now=row.next_attempt_dt)
    services.deliver_batch(ids, backend, worker="worker", now=row.next_attempt_dt)

    [outgoing] = backend.sent
    assert outgoing.outbox_id == row.id
    assert outgoing.message_id == rules.message_id(row.id, "localhost")


def test_the_48_hour_reminder_goes_out_when_the_24_hour_check_is_unanswered(signed):
    session = signed()
    deliver_first_check(session)
    reminder = outbox_of(session.id)[1]

    assert services.work_once("worker", now=reminder.next_attempt_dt) == {"sent": 1}

    assert "a gentle reminder" in messages()[-1].body


def test_the_48_hour_reminder_is_cancelled_when_the_24_hour_check_was_answered(signed):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {}, now=due + timedelta(hours=1))
    reminder = outbox_of(session.id)[1]
    assert reminder.is_reminder

    services.work_once("worker", now=reminder.next_attempt_dt + timedelta(minutes=1))

    assert outbox_of(session.id)[1].status == "cancelled"
    assert len(messages()) == 1


def test_soreness_of_4_or_more_schedules_a_72_hour_check(signed):
    session = signed()
    due, token = deliver_first_check(session)

    answer(token, {"soreness": ["4"]}, now=due + timedelta(hours=1))

    later = [f for f in followups_of(session.id) if f.kind == "72h"]
    assert len(later) == 1
    expected = rules.due_72h(session.signed_dt, session.clinic.zone)
    assert later[0].due_dt == expected
    [row] = [r for r in outbox_of(session.id) if r.followup_id == later[0].id]
    assert (row.status, row.next_attempt_dt) == ("pending", expected)
    assert services.work_once("worker", now=expected) == {"sent": 1}
    assert "Hello Ada" in messages()[-1].body


def test_soreness_not_improving_at_72_hours_goes_to_the_practitioners_review_queue(signed):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {"soreness": ["5"], "trend": ["same"]}, now=due + timedelta(hours=1))
    later = rules.due_72h(session.signed_dt, session.clinic.zone)
    services.work_once("worker", now=later)
    token_72h = token_of(messages()[-1])

    outcome = answer(token_72h, {"soreness": ["3"], "trend": ["same"]}, now=later)

    assert (outcome.level, outcome.followup_kind) == (rules.REVIEW, "72h")
    flag = db.session.scalars(select(Flag).where(Flag.kind == "review")).one()
    assert (flag.severity, flag.status, flag.session_id) == ("medium", "open", session.id)
    assert "72h" in flag.message
    # A review goes to the queue; it does not page the practitioner.
    assert not db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).all()
    # Only the 24 h answer plans a 72 h check.
    assert [f.kind for f in followups_of(session.id)].count("72h") == 1


def test_a_calm_24_hour_answer_schedules_no_72_hour_check(signed):
    session = signed()
    due, token = deliver_first_check(session)
    outcome = answer(token, {}, now=due + timedelta(hours=1))
    assert outcome.level == rules.NONE
    assert [f.kind for f in followups_of(session.id)] == ["24h", "7d"]
    assert count(Flag) == 0


def test_an_emergency_answer_raises_a_critical_flag_and_alerts_the_practitioner(
    signed, practitioner
):
    session = signed()
    due, token = deliver_first_check(session)
    answered = due + timedelta(hours=1)

    outcome = answer(token, {"chest": ["yes"]}, now=answered)

    assert outcome.level == rules.EMERGENCY
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.escalation == "emergency"
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert (flag.severity, flag.status, flag.session_id) == ("critical", "open", session.id)
    assert flag.response_id == response.id
    [alert] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).all()
    assert (alert.flag_id, alert.status, alert.next_attempt_dt) == (flag.id, "pending", answered)

    assert services.work_once("worker", now=answered) == {"sent": 1}

    delivered = messages()[-1]
    assert delivered.outbox_id == alert.id
    assert delivered.recipient == practitioner.email
    assert f"http://localhost/sessions/{session.id}" in delivered.body
    assert "emergency" in delivered.subject.lower()
    whole = f"{delivered.subject}\n{delivered.body}"
    for private in ("Ada", "Lovelace", "ada@example.org"):
        assert private not in whole


def test_an_emergency_answer_also_alerts_the_clinic_when_it_has_an_alert_address(signed):
    session = signed()
    session.clinic.alert_email = "duty@clinic.test"
    db.session.commit()
    due, token = deliver_first_check(session)

    answer(token, {"bleeding": ["wont_stop"]}, now=due)
    services.work_once("worker", now=due)

    recipients = {m.recipient for m in messages()[1:]}
    assert recipients == {session.practitioner.email, "duty@clinic.test"}


def test_a_deactivated_practitioners_alert_goes_to_the_clinics_address_instead(signed):
    session = signed()
    session.clinic.alert_email = "duty@clinic.test"
    db.session.commit()
    due, token = deliver_first_check(session)
    auth_services.deactivate_user(session.practitioner_id, actor=None)
    db.session.commit()

    answer(token, {"bruising": ["large"]}, now=due)
    services.work_once("worker", now=due)

    assert [m.recipient for m in messages()[1:]] == ["duty@clinic.test"]


def test_an_alert_already_queued_when_the_practitioner_leaves_is_redirected_to_the_clinic(
    signed,
):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {"signs": ["pus"]}, now=due)
    session.clinic.alert_email = "duty@clinic.test"
    auth_services.deactivate_user(session.practitioner_id, actor=None)
    db.session.commit()

    services.work_once("worker", now=due)

    assert [m.recipient for m in messages()[1:]] == ["duty@clinic.test"]


def test_with_no_one_to_write_to_the_same_day_flag_still_waits_in_the_queue(signed):
    session = signed()
    due, token = deliver_first_check(session)
    auth_services.deactivate_user(session.practitioner_id, actor=None)
    db.session.commit()

    answer(token, {"signs": ["pus"]}, now=due)
    services.work_once("worker", now=due)

    assert messages()[1:] == []
    flag = db.session.scalars(select(Flag)).one()
    assert (flag.kind, flag.status) == ("same_day", "open")


def test_a_same_day_answer_alerts_the_practitioner_and_a_review_answer_only_queues(signed):
    urgent = signed()
    due, urgent_token = deliver_first_check(urgent)
    _, calm_token = deliver_first_check(signed())

    assert answer(urgent_token, {"signs": ["pus"]}, now=due).level == rules.SAME_DAY
    assert answer(calm_token, {"soreness": ["8"]}, now=due).level == rules.REVIEW

    flags = {f.kind: f for f in db.session.scalars(select(Flag))}
    assert {k: f.severity for k, f in flags.items()} == {"same_day": "high", "review": "medium"}
    alerts = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).all()
    assert [a.flag_id for a in alerts] == [flags["same_day"].id]


# --- retries and failure ---------------------------------------------------------------------


def test_delivery_backs_off_and_after_the_last_attempt_is_marked_failed_and_flagged(app, signed):
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port())
    session = signed()
    row_id = first_check(session.id).id
    now = first_check(session.id).next_attempt_dt

    for attempt, minutes in enumerate(rules.BACKOFF_MINUTES, start=1):
        assert services.work_once("worker", now=now) == {"retry": 1}
        row = db.session.get(OutboxMessage, row_id)
        assert (row.status, row.attempts, row.lease_until_dt) == ("pending", attempt, None)
        assert row.next_attempt_dt == now + timedelta(minutes=minutes)
        assert "mail server" in row.last_error
        # Nothing is tried again before the back-off has passed.
        assert services.work_once("worker", now=row.next_attempt_dt - timedelta(seconds=1)) == {}
        now = row.next_attempt_dt

    assert services.work_once("worker", now=now) == {"failed": 1}

    row = db.session.get(OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("failed", rules.MAX_ATTEMPTS)
    assert followups_of(session.id)[0].status == "failed"
    flag = db.session.scalars(select(Flag).where(Flag.kind == "reminder_failed")).one()
    assert (flag.session_id, flag.followup_id, flag.status) == (
        session.id,
        row.followup_id,
        "open",
    )
    assert db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "reminder.failed", AuditEvent.object_id == str(row_id)
        )
    )
    assert services.work_once("worker", now=now + timedelta(hours=1)) == {}


def test_a_practitioner_alert_that_cannot_be_delivered_is_flagged_too(app, signed):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {"chest": ["yes"]}, now=due)
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port())
    alert = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).one()
    alert_id, now = alert.id, due

    for _ in range(rules.MAX_ATTEMPTS):
        services.work_once("worker", now=now)
        now = db.session.get(OutboxMessage, alert_id).next_attempt_dt

    db.session.expire_all()
    assert db.session.get(OutboxMessage, alert_id).status == "failed"
    failed = db.session.scalars(select(Flag).where(Flag.kind == "reminder_failed")).one()
    assert (failed.session_id, failed.followup_id) == (session.id, None)


# --- leases: a worker killed mid-send, two workers at once ----------------------------------


def test_a_row_claimed_by_a_worker_that_died_is_sent_by_another_once_the_lease_ends(app, signed):
    session = signed()
    row = first_check(session.id)
    due, row_id = row.next_attempt_dt, row.id
    lease = timedelta(seconds=app.config["REMINDER_LEASE_SECONDS"])

    assert services.claim("worker-a", now=due) == [row_id]
    # worker-a is killed here: it never sends and never releases the row.

    assert services.claim("worker-b", now=due + lease - timedelta(seconds=1)) == []
    assert services.work_once("worker-b", now=due + lease - timedelta(seconds=1)) == {}
    assert messages() == []

    later = due + lease + timedelta(seconds=1)
    assert services.claim("worker-b", now=later) == [row_id]
    assert services.deliver_batch([row_id], OutboxBackend(), worker="worker-b", now=later) == {
        "sent": 1
    }

    # worker-a coming back to life with its stale claim sends nothing.
    assert services.deliver_batch([row_id], OutboxBackend(), worker="worker-a", now=later) == {
        "skipped": 1
    }
    assert [m.outbox_id for m in messages()] == [row_id]
    assert db.session.get(OutboxMessage, row_id).status == "sent"


def test_two_workers_at_once_never_claim_the_same_row(app, signed):
    session = signed()
    followup_id = followups_of(session.id)[0].id
    moment = session.signed_dt + timedelta(hours=1)  # before the signed reminders are due
    db.session.add_all(
        OutboxMessage(purpose="patient_reminder", followup_id=followup_id, next_attempt_dt=moment)
        for _ in range(40)
    )
    db.session.commit()
    due_ids = set(
        db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.next_attempt_dt == moment))
    )
    assert len(due_ids) == 40

    claimed: dict[str, list[int]] = {"worker-a": [], "worker-b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(name: str) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                for _ in range(200):
                    got = services.claim(name, now=moment + timedelta(seconds=1), limit=3)
                    claimed[name].extend(got)
                    if not got and not db.session.scalar(
                        select(func.count()).where(
                            OutboxMessage.next_attempt_dt == moment,
                            OutboxMessage.leased_by.is_(None),
                        )
                    ):
                        break
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(t.is_alive() for t in threads)
    assert errors == []
    a, b = claimed["worker-a"], claimed["worker-b"]
    assert set(a) & set(b) == set()
    assert len(a) + len(b) == len(set(a) | set(b)) == 40
    assert set(a) | set(b) == due_ids
    db.session.expire_all()
    leased = dict(
        db.session.execute(
            select(OutboxMessage.id, OutboxMessage.leased_by).where(OutboxMessage.id.in_(due_ids))
        ).all()
    )
    assert leased == {**dict.fromkeys(a, "worker-a"), **dict.fromkeys(b, "worker-b")}


def test_a_reminder_for_a_patient_who_opted_out_after_it_was_claimed_is_cancelled_not_sent(
    signed,
):
    session = signed()
    row = first_check(session.id)
    due, row_id = row.next_attempt_dt, row.id
    assert services.claim("worker", now=due) == [row_id]
    db.session.execute(
        update(Patient).where(Patient.id == session.patient_id).values(opted_out_dt=due)
    )
    db.session.commit()

    assert services.deliver_batch([row_id], OutboxBackend(), worker="worker", now=due) == {
        "cancelled": 1
    }
    assert messages() == []
    assert db.session.get(OutboxMessage, row_id).status == "cancelled"
