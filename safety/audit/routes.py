"""Signed addenda to signed records."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from safety.audit import addenda
from safety.audit.forms import AddendumForm
from safety.auth.routes import role_required
from safety.checklists import services as checklists
from safety.checklists.forms import SignForm
from safety.errors import Conflict, DomainError
from safety.extensions import db

bp = Blueprint(
    "audit",
    __name__,
)

#: Prefix of the addendum form's field names and ids, so they never clash with another form
#: on the record page (the signing form also has a password field).
FIELD_PREFIX = "addendum-"


def _prefixed(values: dict) -> dict:
    return {f"{FIELD_PREFIX}{name}": value or "" for name, value in values.items()}


@bp.app_template_global()
def can_add_addendum(record) -> bool:
    """Whether the signed-in user may add an addendum to this record (for the record page)."""
    return addenda.can_add(current_user, record)


@bp.post("/sessions/<int:session_id>/addenda")
@role_required("practitioner")
def add_addendum(session_id: int):
    record = checklists.get_session(current_user, session_id)  # another clinic's: 404
    if not record.is_signed:
        raise Conflict(
            "Only a signed record takes addenda: change the checklist itself until it is signed."
        )
    form = AddendumForm(prefix=FIELD_PREFIX.rstrip("-"))
    message = addenda.NOT_ADDED
    if form.validate_on_submit():
        try:
            addendum = addenda.add_addendum(
                current_user,
                record.id,
                reason=form.reason.data,
                body=form.body.data,
                password=form.password.data,
            )
        except DomainError as exc:
            # A wrong password counts towards the lockout and is audited: keep that, nothing else.
            db.session.commit() if "password" in exc.errors else db.session.rollback()
            if exc.status_code != 400:
                raise
            errors, message = _prefixed(exc.errors), exc.message
        else:
            db.session.commit()
            flash("Addendum signed and added. The original record is unchanged.", "success")
            return redirect(
                url_for(
                    "checklists.session", session_id=record.id, _anchor=f"addendum-{addendum.id}"
                )
            )
    else:
        errors = _prefixed(
            {name: problems[0] for name, problems in form.errors.items() if name != "csrf_token"}
        )
    record = checklists.get_session(current_user, session_id)
    return render_template(
        "checklists/session.html",
        record=record,
        state=checklists.progress(record),
        form=SignForm(),
        blockers=[],
        flags_preview=[],
        errors={},
        addendum_errors=errors,
        addendum_message=message,
        addendum_values=_prefixed({"reason": form.reason.data, "body": form.body.data}),
    ), 400
