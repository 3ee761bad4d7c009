"""Sending an invitation e-mail, after the transaction that issued its link has committed.

The mail goes out through the same delivery backend as the follow-up messages (SMTP, or the
development outbox at /dev/messages). It is sent after the commit (STYLE.md: mail leaves only
after the commit), so a refused mail never undoes the account; the administrator is told and
can send a new link from the user's page.
"""

from __future__ import annotations

import logging
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app

from safety.auth.models import Role, User
from safety.extensions import db
from safety.followup.backends import DeliveryError, Outgoing, backend_for

log = logging.getLogger(__name__)

ROLE_WORDS = {
    Role.PRACTITIONER.value: "a practitioner",
    Role.COMPLIANCE.value: "a compliance officer",
    Role.ADMIN.value: "an administrator",
}


def message_text(user: User, link: str, hours: int) -> str:
    """The invitation's words: who invited them as what, the link, and how long it works."""
    where = f" at {user.clinic.name}" if user.clinic is not None else ""
    return (
        f"Hello {user.name},\n\n"
        f"You have been invited to NeedleSafe, the infection-control checklists, as "
        f"{ROLE_WORDS.get(user.role, user.role)}{where}.\n\n"
        f"Choose your password here (the link works once, for {hours} hours):\n{link}\n\n"
        "If you did not expect this, you can ignore this message: nothing happens until the "
        "link is used.\n"
    )


def send(user: User, secret: str) -> bool:
    """Send the invitation now; return False (and log why) if the mail could not be sent."""
    config = current_app.config
    base = config["BASE_URL"].rstrip("/")
    message = Outgoing(
        outbox_id=None,
        channel="email",
        recipient=user.email,
        subject="Your NeedleSafe invitation",
        text=message_text(user, f"{base}/auth/invitation/{secret}", config["INVITATION_HOURS"]),
        message_id=make_msgid("invitation", urlsplit(base).hostname or "localhost"),
    )
    backend = backend_for(config)
    try:
        backend.send(message)
    except DeliveryError as exc:
        log.warning("invitation e-mail to user %s not sent: %s", user.id, exc)
        return False
    finally:
        backend.close()
    db.session.commit()  # the development outbox keeps its copy in the database
    return True
