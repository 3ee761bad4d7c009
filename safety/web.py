"""Plumbing every route shares: the id converter and running one use case per request.

Routes validate a form, call one service, commit and redirect (docs/STYLE.md). What they would
otherwise each write by hand — commit or roll back, keep a refusal's audit record, turn a
`DomainError` into the form's messages — is written once here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from flask import g
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import IntegerConverter

from safety import i18n
from safety.errors import Conflict, DomainError, RecordedRefusal
from safety.extensions import db
from safety.ids import MAX_ID
from safety.languages import N_, Listed, Said, Words
from safety.risks import translations as checklist_words

T = TypeVar("T")
log = logging.getLogger(__name__)


class IdConverter(IntegerConverter):
    """`<id:name>` in a URL: a row id, so anything else is a plain 404 before the view runs."""

    def __init__(self, url_map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def allow_camera_scan() -> None:
    """Let this request's page scan needle packs with the tablet's camera (DESIGN §9).

    The response then says `Permissions-Policy: camera=(self)` and adds 'wasm-unsafe-eval'
    to its script-src, which lets the vendored barcode decoder compile its WebAssembly (it
    allows no eval of JavaScript). Every other page keeps the camera off and the stricter
    policy (`safety._configure_security`).
    """
    g.camera_scan = True


@dataclass(frozen=True)
class Refused:
    """Why a use case was refused, for the form that asked: a message and errors by field."""

    message: str
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 400


def translated(message: str) -> str:
    """Return a message written in English in the reader's language, where there is one."""
    if isinstance(message, Said):
        return gettext(message.msgid, **{k: _said(v) for k, v in message.values.items()})
    if isinstance(message, Words | Listed):
        return _said(message)
    return gettext(message) if message else message


def _said(value: object) -> object:
    """A `Said`'s value in the reader's language: a marked message or a template's words
    said again, a number or a code as it is."""
    if isinstance(value, Said):
        return translated(value)
    if isinstance(value, Words):
        return checklist_words.said(value, i18n.current_language(), link_id=value.link_id)
    if isinstance(value, Listed):
        return value.separator.join(str(_said(part)) for part in value.parts)
    return value


def field_errors(form) -> dict[str, str]:
    """Return the first shape error of each field of a submitted form, by field name."""
    return {
        name: translated(messages[0])
        for name, messages in form.errors.items()
        if name != "csrf_token"
    }


#: What a request is told when the database refused it because another got there first.
AT_THE_SAME_TIME = N_(
    "Someone else changed this at the same moment, so nothing was saved. Reload the page to "
    "see where it stands, and try again if it is still needed."
)


def run_use_case(
    call: Callable[[], T], *, shown: Collection[int] = (400,), keep_loaded: bool = False
) -> T | Refused:
    """Run one use case and commit it, or return why it was refused.

    A refusal rolls the transaction back, except a `RecordedRefusal`, whose record of the
    attempt is committed. Its messages come back in the reader's language (the services
    write them in English, marked with `languages.N_`). Refusals with a status in `shown`
    come back for the form to show beside its fields; any other (not found, forbidden,
    conflict) is raised again for the error page. `keep_loaded` is for a read that also
    writes (an audited view): the page shows what the use case loaded, which its own commit
    did not change, so the commit keeps it instead of expiring it and reloading it row by
    row while the page renders.
    """
    try:
        try:
            result = call()
            commit(keep_loaded=keep_loaded)
        except IntegrityError as exc:
            # Two requests at once both passed a service's check before either wrote (the
            # same email twice, a template copied twice, a publish beside an edit): the
            # database's constraint or trigger refused the second. That is a conflict to
            # explain, never a 500 (an attacker's review found four such pages).
            db.session.rollback()
            # The constraint's name, never its values (they may be a patient's details).
            diagnosis = getattr(exc.orig, "diag", None)
            log.warning(
                "use case refused by the database: %s %s",
                type(exc.orig).__name__,
                getattr(diagnosis, "constraint_name", None) or str(exc.orig).split(":")[-1],
            )
            raise Conflict(AT_THE_SAME_TIME) from None
    except DomainError as exc:
        if isinstance(exc, RecordedRefusal):
            db.session.commit()
        else:
            db.session.rollback()
        if exc.status_code not in shown:
            raise
        return Refused(
            translated(exc.message),
            {name: translated(error) for name, error in exc.errors.items()},
            exc.status_code,
        )
    return result


def commit(*, keep_loaded: bool = False) -> None:
    """Commit the request's transaction; with `keep_loaded`, what it loaded stays loaded."""
    session = db.session()
    expire, session.expire_on_commit = (
        session.expire_on_commit,
        not keep_loaded and (session.expire_on_commit),
    )
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


# --- dates in a query string -------------------------------------------------------------------

#: A calendar date as a date field sends it (and as people type it): 2026-03-31.
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DATE_MESSAGE = N_("Enter a date as YYYY-MM-DD, for example 2026-03-31.")


def read_date(args: Mapping[str, str], name: str, errors: dict) -> date | None:
    """Read a filter's date, or note why it cannot be read (a 30 February, "20261130")."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if _ISO_DATE.match(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    errors[name] = DATE_MESSAGE
    return None


def read_date_range(
    args: Mapping[str, str], start: str, end: str, errors: dict
) -> tuple[date | None, date | None]:
    """Read a from-to pair of dates; an end before the start is refused, not left to match
    nothing."""
    first, last = read_date(args, start, errors), read_date(args, end, errors)
    if first and last and first > last:
        errors[end] = N_("The end date is before the start date: choose a later end date.")
        last = None
    return first, last
