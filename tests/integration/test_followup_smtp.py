"""Delivery over real sockets: email to an aiosmtpd server on localhost (including the server
being down for a while and coming back) and text messages to a local HTTP SMS gateway."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from followup_helpers import CALM, NEAR_LUNG, add_patient
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup import rules
from safety.followup.models import DevMessage, FollowUp, OutboxMessage
from safety.followup.patient import find_link
from safety.followup.worker import work_once

ALL_PHASES = ("signin", "timeout", "signout")
SENDER = "Harbour Physio <reminders@harbour.test>"
PHONE = "+44 7700 900123"
GATEWAY_TOKEN = "gateway-secret-token"
#: Email bodies end lines with CRLF, text messages with LF.
LINK = re.compile(r"http://localhost/f/([A-Za-z0-9_-]+)\r?$", re.MULTILINE)
STOP = re.compile(r"http://localhost/f/([A-Za-z0-9_-]+)/stop\r?$", re.MULTILINE)


# --- a real SMTP server ----------------------------------------------------------------------


class MailServer:
    """An SMTP server on a fixed local port that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = Collector()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server(request, app) -> MailServer:
    """A stopped SMTP server the app sends to; the test starts it."""
    server = MailServer(free_port())
    request.addfinalizer(server.stop)
    send_mail_to(app, server.port, sender=SENDER)
    return server


# --- a local SMS gateway ---------------------------------------------------------------------


class Gateway(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((dict(self.headers), self.path, body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_gateway(request, app) -> ThreadingHTTPServer:
    """A local HTTP gateway recording each POST; answers the queued statuses, then 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    server.received, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()

    def close() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    request.addfinalizer(close)
    host, port = server.server_address[:2]
    app.config.update(
        REMINDER_BACKEND="sms-http",
        SMS_GATEWAY_URL=f"http://{host}:{port}/messages",
        SMS_GATEWAY_TOKEN=GATEWAY_TOKEN,
        MAIL_TIMEOUT=5,
    )
    return server


# --- sessions --------------------------------------------------------------------------------


@pytest.fixture
def practitioner(make_user):
    return make_user()


@pytest.fixture
def signed(make_session, practitioner):
    def sign(**kwargs):
        return make_session(practitioner, phases=ALL_PHASES, sign=True, **kwargs)

    return sign


def first_check(session_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalars(
        select(OutboxMessage)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.session_id == session_id, OutboxMessage.is_reminder.is_(False))
        .order_by(OutboxMessage.id)
    ).first()


def row(row_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, row_id)


# --- email -----------------------------------------------------------------------------------


def test_a_due_reminder_arrives_as_a_real_email(mail_server, signed):
    mail_server.start()
    session = signed()
    reminder = first_check(session.id)

    assert work_once("worker", now=reminder.next_attempt_dt) == {"sent": 1}

    [envelope] = mail_server.handler.envelopes
    assert envelope.rcpt_tos == ["ada@example.org"]
    assert envelope.mail_from == "reminders@harbour.test"
    [message] = mail_server.handler.messages()
    assert message["Message-ID"] == rules.message_id(reminder.id, "localhost")
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.org"
    assert session.clinic.name in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert "Hello Ada" in body
    token = LINK.search(body).group(1)
    assert STOP.search(body).group(1) == token
    link = find_link(token, now=utcnow())
    assert link.followup_id == reminder.followup_id
    assert row(reminder.id).status == "sent"


def test_each_reminder_is_its_own_email_with_its_own_message_id(mail_server, signed):
    mail_server.start()
    session = signed()
    week_later = session.signed_dt + timedelta(days=8)

    assert work_once("worker", now=week_later) == {"sent": 3}

    ids = [m["Message-ID"] for m in mail_server.handler.messages()]
    rows = db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
    assert ids == [rules.message_id(i, "localhost") for i in rows]


def test_reminders_wait_while_the_mail_server_is_down_and_all_arrive_once_it_is_back(
    mail_server, signed
):
    first, second = signed(), signed()
    first_row, second_row = first_check(first.id), first_check(second.id)
    ids = sorted([first_row.id, second_row.id])
    now = max(first_row.next_attempt_dt, second_row.next_attempt_dt)

    # The server is down: the first attempt fails, the other row is released untouched.
    assert work_once("worker", now=now) == {"retry": 1, "released": 1}

    tried, untried = row(ids[0]), row(ids[1])
    assert (tried.status, tried.attempts, tried.sent_dt) == ("pending", 1, None)
    assert tried.next_attempt_dt == now + timedelta(minutes=1)
    assert "mail server" in tried.last_error
    assert (untried.status, untried.attempts, untried.lease_until_dt) == ("pending", 0, None)
    assert mail_server.handler.envelopes == []

    mail_server.start()
    assert work_once("worker", now=now + timedelta(minutes=2)) == {"sent": 2}

    received = [m["Message-ID"] for m in mail_server.handler.messages()]
    assert sorted(received) == sorted(rules.message_id(i, "localhost") for i in ids)
    assert [(row(i).status, row(i).attempts) for i in ids] == [("sent", 2), ("sent", 1)]
    assert work_once("worker", now=now + timedelta(hours=1)) == {}
    assert len(mail_server.handler.envelopes) == 2


def test_a_server_that_goes_down_between_runs_delays_the_next_reminder_without_losing_it(
    mail_server, signed
):
    mail_server.start()
    session = signed()
    check = first_check(session.id)
    work_once("worker", now=check.next_attempt_dt)
    mail_server.stop()
    reminder_id = check.id + 1
    due = row(reminder_id).next_attempt_dt

    assert work_once("worker", now=due) == {"retry": 1}
    assert row(reminder_id).status == "pending"

    mail_server.start()
    assert work_once("worker", now=due + timedelta(minutes=1)) == {"sent": 1}
    assert [m["Message-ID"] for m in mail_server.handler.messages()] == [
        rules.message_id(check.id, "localhost"),
        rules.message_id(reminder_id, "localhost"),
    ]
    assert "a gentle reminder" in mail_server.handler.messages()[1].get_content()


# --- text messages ---------------------------------------------------------------------------


@pytest.fixture
def sms_patient(practitioner):
    return add_patient(practitioner, email=None, phone=PHONE)


def test_a_patient_who_chose_text_messages_gets_a_text_with_the_link(
    sms_gateway, signed, sms_patient
):
    session = signed(patient=sms_patient, overrides={"signout.followup": ["sms"]})
    reminder = first_check(session.id)

    assert work_once("worker", now=reminder.next_attempt_dt) == {"sent": 1}

    [(headers, path, body)] = sms_gateway.received
    assert path == "/messages"
    assert headers["Authorization"] == f"Bearer {GATEWAY_TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert body["to"] == PHONE
    assert body["id"] == rules.message_id(reminder.id, "localhost")
    assert "Hello Grace" in body["text"]
    token = LINK.search(body["text"]).group(1)
    assert find_link(token, now=utcnow()).followup_id == reminder.followup_id
    assert "Hopper" not in body["text"]
    assert db.session.scalars(select(DevMessage)).all() == []
    assert row(reminder.id).status == "sent"


def test_a_text_the_gateway_refuses_with_a_500_is_retried(sms_gateway, signed, sms_patient):
    session = signed(patient=sms_patient, overrides={"signout.followup": ["sms"]})
    reminder = first_check(session.id)
    due = reminder.next_attempt_dt
    sms_gateway.statuses.append(500)

    assert work_once("worker", now=due) == {"retry": 1}

    refused = row(reminder.id)
    assert (refused.status, refused.attempts) == ("pending", 1)
    assert refused.next_attempt_dt == due + timedelta(minutes=1)

    assert work_once("worker", now=due + timedelta(minutes=1)) == {"sent": 1}

    assert len(sms_gateway.received) == 2
    keys = {headers["Idempotency-Key"] for headers, _, _ in sms_gateway.received}
    assert keys == {rules.message_id(reminder.id, "localhost")}
    assert (row(reminder.id).status, row(reminder.id).attempts) == ("sent", 2)


def test_an_emergency_answer_is_texted_to_the_clinics_on_call_mobile_through_the_gateway(
    mail_server, sms_gateway, signed
):
    """The duty address's mail and the on-call text both go out over real sockets; the text
    carries the clinic and the record's link, nothing about the patient."""
    mail_server.start()
    session = signed(overrides=NEAR_LUNG)
    session.clinic.duty_phone = "+44 7700 900999"
    db.session.commit()
    reminder = first_check(session.id)
    assert work_once("worker", now=reminder.next_attempt_dt) == {"sent": 1}
    token = LINK.search(mail_server.handler.messages()[0].get_body(("plain",)).get_content())
    answered = reminder.next_attempt_dt + timedelta(hours=1)
    followup_patient.answer(token.group(1), {**CALM, "chest": ["yes"]}, now=answered)
    db.session.commit()

    # The practitioner's alert, the duty address's and the on-call text.
    assert work_once("worker", now=answered) == {"sent": 3}

    [(headers, _, body)] = sms_gateway.received
    assert body["to"] == "+44 7700 900999"
    assert session.clinic.name in body["text"]
    assert f"http://localhost/sessions/{session.id}" in body["text"]
    for private in ("Ada", "Lovelace", "ada@example.org", "chest"):
        assert private not in body["text"]
    assert {e.rcpt_tos[0] for e in mail_server.handler.envelopes[1:]} == {
        session.practitioner.email,
        session.clinic.duty_email,
    }
