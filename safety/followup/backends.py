"""Delivery backends: SMTP (standard library), a development outbox, a generic SMS gateway."""

from __future__ import annotations

import contextlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from sqlalchemy import select

from safety.extensions import db
from safety.followup.models import DevMessage


class DeliveryError(Exception):
    """The message could not be handed over; the worker retries later."""


@dataclass(frozen=True)
class Outgoing:
    outbox_id: int
    channel: str  # email or sms
    recipient: str
    subject: str
    text: str
    message_id: str
    #: The clinic the message is about: its audit event goes on that clinic's chain.
    clinic_id: int | None = None


class Backend(Protocol):
    def send(self, message: Outgoing) -> None: ...

    def close(self) -> None: ...


class SmtpBackend:
    """Send email over one SMTP connection, reopened when the server drops it."""

    def __init__(self, config) -> None:
        self.host = config["MAIL_SERVER"]
        self.port = int(config["MAIL_PORT"])
        self.use_tls = config["MAIL_USE_TLS"]
        self.use_ssl = config["MAIL_USE_SSL"]
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.sender = config["MAIL_DEFAULT_SENDER"]
        self.timeout = float(config.get("MAIL_TIMEOUT", 10))
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is None:
            try:
                if self.use_ssl:
                    conn = smtplib.SMTP_SSL(
                        self.host,
                        self.port,
                        timeout=self.timeout,
                        context=ssl.create_default_context(),
                    )
                else:
                    conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                    if self.use_tls:
                        conn.starttls(context=ssl.create_default_context())
                if self.username:
                    conn.login(self.username, self.password or "")
            except (OSError, smtplib.SMTPException) as exc:
                raise DeliveryError(f"cannot reach the mail server: {exc}") from exc
            self._connection = conn
        return self._connection

    def send(self, message: Outgoing) -> None:
        if message.channel != "email":
            raise DeliveryError("the smtp backend sends email only")
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = message.message_id
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.text)
        try:
            self._connect().send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise DeliveryError(f"the mail server did not accept the message: {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._connection.quit()
            self._connection = None


class OutboxBackend:
    """Development: keep each message in the database, readable at /dev/messages."""

    def send(self, message: Outgoing) -> None:
        db.session.add(
            DevMessage(
                outbox_id=message.outbox_id,
                channel=message.channel,
                recipient=message.recipient,
                subject=message.subject,
                body=message.text,
            )
        )

    def close(self) -> None:
        pass


def kept_messages(limit: int = 100) -> list[DevMessage]:
    """Return the newest messages the `outbox` backend kept, newest first."""
    return list(db.session.scalars(select(DevMessage).order_by(DevMessage.id.desc()).limit(limit)))


class SmsHttpBackend:
    """POST each text message as JSON to a generic SMS gateway."""

    def __init__(self, config) -> None:
        self.url = config["SMS_GATEWAY_URL"]
        self.token = config.get("SMS_GATEWAY_TOKEN")
        self.timeout = float(config.get("MAIL_TIMEOUT", 10))
        if not self.url:
            raise DeliveryError("SMS_GATEWAY_URL is not set")

    def send(self, message: Outgoing) -> None:
        body = json.dumps(
            {"to": message.recipient, "text": message.text, "id": message.message_id}
        ).encode()
        request = urllib.request.Request(self.url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Idempotency-Key", message.message_id)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"the SMS gateway answered {response.status}")
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"cannot reach the SMS gateway: {exc}") from exc

    def close(self) -> None:
        pass


class RoutingBackend:
    """Email through the configured email backend, texts through the SMS gateway."""

    def __init__(self, email: Backend, sms: Backend | None) -> None:
        self.email, self.sms = email, sms

    def send(self, message: Outgoing) -> None:
        if message.channel == "sms":
            if self.sms is None:
                raise DeliveryError("no SMS gateway is configured")
            self.sms.send(message)
        else:
            self.email.send(message)

    def close(self) -> None:
        self.email.close()
        if self.sms is not None:
            self.sms.close()


def can_send_texts(config) -> bool:
    """Whether a text message can go out: through the SMS gateway, or kept in the outbox
    backend for development (where /dev/messages shows it)."""
    return config["REMINDER_BACKEND"] == "outbox" or bool(config.get("SMS_GATEWAY_URL"))


def backend_for(config) -> Backend:
    """Build the backend REMINDER_BACKEND names (smtp, outbox or sms-http)."""
    name = config["REMINDER_BACKEND"]
    if name == "outbox":
        return OutboxBackend()
    sms = SmsHttpBackend(config) if config.get("SMS_GATEWAY_URL") else None
    if name == "smtp":
        return RoutingBackend(SmtpBackend(config), sms)
    if name == "sms-http":
        return RoutingBackend(SmtpBackend(config), SmsHttpBackend(config))
    raise ValueError(f"unknown REMINDER_BACKEND {name!r}: use smtp, outbox or sms-http")
