"""The patient's follow-up form (no account: a link token), opt-out, and the development outbox."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from safety import i18n
from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.clinics.models import zone_for
from safety.errors import NotFound
from safety.extensions import limiter
from safety.followup import escalations, patient, rules, texts
from safety.followup.backends import kept_messages
from safety.followup.forms import HandlingForm, PatientForm
from safety.web import Refused, run_use_case

bp = Blueprint("followup", __name__)


def _patient_limit() -> str:
    return current_app.config["PATIENT_FORM_RATE_LIMIT"]


def _speak(language: str | None) -> texts.PatientTexts:
    """Answer a patient's page in the language they switched to (`?lang=`), else in theirs.

    Never the browser's when the patient's is known: a shared or borrowed phone must not turn
    a patient's advice into a language they do not read.
    """
    i18n.use_language(i18n.requested_language() or language)
    return texts.for_language(i18n.current_language())


def _gone():
    # The same page for every unusable link: it never says whether a patient exists, so
    # it speaks the language asked for, or the browser's.
    said = _speak(None)
    return render_template(
        "followup/gone.html",
        texts=said,
        title=said.pages["gone_title"],
        message=said.pages["gone_text"],
    ), 404


@bp.after_request
def _no_referrer(response):
    # The token is in the path: never let it leak to another site through the Referer.
    if request.endpoint and request.endpoint.startswith("followup.patient"):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _closed(token: str):
    """The page for a real link that takes no answer: when it was answered, or that it
    expired, with the clinic's number; anything else is the page that says nothing."""
    try:
        closed = patient.closed_link(token)
    except NotFound:
        return _gone()
    context = closed.context
    said = _speak(context["language"])
    answered = (
        closed.answered_dt.astimezone(zone_for(context["clinic_zone"]))
        if (closed.answered_dt)
        else None
    )
    return render_template(
        "followup/closed.html",
        closed=closed,
        answered=said.day_month(answered) if answered else "",
        rules=rules,
        texts=said,
        **context,
    ), 410 if closed.reason == "expired" else 200


@bp.route("/f/<token>", methods=["GET", "POST"])
@limiter.limit(_patient_limit)
def patient_form(token: str):
    try:
        context = patient.link_context(token)
    except NotFound:
        return _closed(token)
    said = _speak(context["language"])
    form = PatientForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        outcome = run_use_case(
            lambda: patient.answer(token, request.form.to_dict(flat=False), language=said.language),
            shown=(400, 404),
        )
        if not isinstance(outcome, Refused):
            return render_template(
                "followup/advice.html", outcome=outcome, rules=rules, texts=said, **context
            )
        if outcome.status == 404:
            return _closed(token)
        errors = outcome.errors
    return render_template(
        "followup/form.html",
        form=form,
        errors=errors,
        values=request.form,
        rules=rules,
        texts=said,
        **context,
    ), 400 if errors else 200


@bp.route("/f/<token>/stop", methods=["GET", "POST"])
@limiter.limit(_patient_limit)
def patient_stop(token: str):
    form = PatientForm()
    if form.validate_on_submit():
        link = _stop_link(token)
        if link is None:
            return _gone()
        said = _speak(link.followup.session.patient.language)
        if isinstance(run_use_case(lambda: patient.opt_out(token), shown=(404,)), Refused):
            return _gone()
        return render_template("followup/stopped.html", texts=said)
    link = _stop_link(token)
    if link is None:
        return _gone()
    said = _speak(link.followup.session.patient.language)
    return render_template("followup/stop.html", form=form, texts=said)


def _stop_link(token: str):
    """The link a stop page is for, or None (the page that says nothing)."""
    try:
        return patient.find_link(token, for_answer=False)
    except NotFound:
        return None


@bp.post("/escalations/<id:flag_id>/handled")
@role_required(Role.PRACTITIONER)
def record_handling(flag_id: int):
    form = HandlingForm()
    if not form.validate_on_submit():
        flash(_("Say what you did: called, advised or referred."), "error")
        return redirect(url_for("checklists.today"))
    result = run_use_case(
        lambda: escalations.record_handling(
            current_user, flag_id, action=form.action.data or "", note=form.note.data or ""
        )
    )
    if isinstance(result, Refused):
        flash(" ".join(result.errors.values()) or result.message, "error")
    else:
        flash(_("Recorded. The answer has left your list; it stays on the record."), "success")
    return redirect(url_for("checklists.today"))


@bp.post("/escalations/<id:flag_id>/no-reply")
@role_required(Role.PRACTITIONER)
def record_no_reply(flag_id: int):
    # Its only field is the CSRF token, which the app checks on every POST before this runs.
    result = run_use_case(lambda: escalations.record_no_reply(current_user, flag_id))
    if isinstance(result, Refused):
        flash(" ".join(result.errors.values()) or result.message, "error")
    else:
        said = _("Recorded a call with no reply. The patient stays on your list: try again.")
        flash(said, "success")
    return redirect(url_for("checklists.today", _anchor=f"answer-{flag_id}"))


#: Where the development messages page answers: the machine the app runs on.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


@bp.get("/dev/messages")
def dev_messages():
    """Development only, and only to the machine itself: the messages the `outbox` backend
    kept, with their links. Those links set a new account's password and open patients'
    forms, so a demo served to a network must not hand them to whoever asks (an attacker's
    review took over an invited administrator's account through this page)."""
    config = current_app.config
    if not config.get("DEMO_MODE") or config["REMINDER_BACKEND"] != "outbox":
        abort(404)
    # A proxy or tunnel on the same machine (nginx, ngrok, ssh -R) makes every visitor look
    # local; it says so in X-Forwarded-For, so such a request is not the machine's own.
    if request.remote_addr not in LOOPBACK or "X-Forwarded-For" in request.headers:
        abort(404)
    return render_template("followup/dev_messages.html", messages=kept_messages())
