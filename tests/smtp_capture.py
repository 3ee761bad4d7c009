"""A real SMTP server on localhost for tests: aiosmtpd keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import socket
from email.message import EmailMessage


def free_port() -> int:
    """Return a local port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collector:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)
            for e in self.envelopes
        ]


def send_mail_to(app, port: int, *, sender: str | None = None) -> None:
    """Point the app's reminders at the local server: plain SMTP, no login."""
    app.config.update(
        REMINDER_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_USE_SSL=False,
        MAIL_USERNAME=None,
        MAIL_TIMEOUT=5,
    )
    if sender is not None:
        app.config["MAIL_DEFAULT_SENDER"] = sender
