"""Sending an invitation e-mail, after the transaction that issued its link has committed.

The mail goes out through the same delivery backend as the follow-up messages (SMTP, or the
development outbox at /dev/messages). It is sent after the commit (docs/STYLE.md: mail leaves only
after the commit), so a refused mail never undoes the account; the administrator is told and
can send a new link from the user's page.
"""

from __future__ import annotations

import logging
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app

from safety import i18n
from safety.auth.models import Role, User
from safety.followup.backends import DeliveryError, Outgoing, backend_for
from safety.languages import N_

log = logging.getLogger(__name__)

#: The invitation's sentences, written in English and read in the invitee's language.
HELLO = N_("Hello %(name)s,")
INVITED_AT = N_(
    "You have been invited to NeedleSafe, the infection-control checklists, as %(role)s "
    "at %(clinic)s."
)
INVITED = N_("You have been invited to NeedleSafe, the infection-control checklists, as %(role)s.")
CHOOSE = N_("Choose your password here (the link works once, for %(hours)s hours):")
IGNORE = N_(
    "If you did not expect this, you can ignore this message: nothing happens until the "
    "link is used."
)


def message_text(user: User, link: str, hours: int) -> str:
    """The invitation's words, in the invitee's language: who invited them as what, the
    link, and how long it works."""
    say = i18n.translator(user.language)
    role = say(Role(user.role).noun) if user.role in tuple(Role) else user.role
    if user.clinic is not None:
        invited = say(INVITED_AT) % {"role": role, "clinic": user.clinic.name}
    else:
        invited = say(INVITED) % {"role": role}
    return (
        f"{say(HELLO) % {'name': user.name}}\n\n{invited}\n\n"
        f"{say(CHOOSE) % {'hours': hours}}\n{link}\n\n{say(IGNORE)}\n"
    )


def subject(user: User) -> str:
    return i18n.translator(user.language)(N_("Your NeedleSafe invitation"))


def send(user: User, secret: str) -> bool:
    """Send the invitation now; return False (and log why) if the mail could not be sent."""
    config = current_app.config
    base = config["BASE_URL"].rstrip("/")
    message = Outgoing(
        outbox_id=None,
        channel="email",
        recipient=user.email,
        subject=subject(user),
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
    return True  # the development outbox wrote its copy: the caller commits it
