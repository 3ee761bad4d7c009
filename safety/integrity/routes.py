"""The compliance desk's "Verify now": ask the worker to verify the audit trail, and watch it.

The page refreshes itself every few seconds while a verification waits or runs (a Refresh
header: no script needed), and shows each run's result in the desk's time zone.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.clinics import services as clinics
from safety.integrity import requests as verification
from safety.web import run_use_case

bp = Blueprint("integrity", __name__, url_prefix="/review/verification")


@bp.get("/", endpoint="verification")
@role_required(Role.COMPLIANCE)
def verification_page():
    pending = verification.open_request()
    refresh_seconds = current_app.config["VERIFY_PAGE_REFRESH_SECONDS"]
    page = make_response(
        render_template(
            "integrity/verification.html",
            pending=pending,
            requests=verification.recent(),
            zone=clinics.reading_zone(current_user),
            refresh_seconds=refresh_seconds,
        )
    )
    if pending is not None:
        page.headers["Refresh"] = str(refresh_seconds)
    return page


@bp.post("/", endpoint="verify_now")
@role_required(Role.COMPLIANCE)
def verify_now():
    _request, asked = run_use_case(lambda: verification.request_verification(current_user))
    if asked:
        flash(_("Verification asked for: the worker starts it within a few seconds."), "success")
    else:
        flash(
            _("A verification is already under way: its result shows here when it is done."), "info"
        )
    return redirect(url_for("integrity.verification"))
