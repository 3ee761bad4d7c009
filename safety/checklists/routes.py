"""The practitioner's session checklist: today's list, start, phases, signing."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from safety.auth.routes import role_required
from safety.checklists import rules, services
from safety.checklists.forms import PhaseForm, SignForm, StartSessionForm
from safety.clinics import services as clinics
from safety.errors import DomainError
from safety.extensions import db
from safety.followup import services as followups

bp = Blueprint("checklists", __name__, url_prefix="/sessions")


@bp.get("/")
@role_required("practitioner")
def today():
    sessions = services.sessions_for_today(current_user)
    return render_template(
        "checklists/today.html",
        escalations=followups.open_escalations(current_user),
        sessions=sessions,
        progress={s.id: services.progress(s) for s in sessions},
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required("practitioner")
def start():
    form = StartSessionForm()
    error = None
    if form.validate_on_submit():
        try:
            session = services.start_session(current_user, patient_id=form.patient_id.data)
        except DomainError as exc:
            db.session.rollback()
            error = (
                "Choose one of your clinic's patients." if exc.status_code == 404 else exc.message
            )
        else:
            db.session.commit()
            flash("Session started. Begin with Sign in.", "success")
            return redirect(url_for("checklists.session", session_id=session.id))
    elif form.is_submitted():
        error = "Choose a patient."
    patients = db.session.scalars(clinics.visible_patients(current_user).limit(500)).all()
    return render_template(
        "checklists/start.html", form=form, patients=patients, error=error
    ), 400 if error else 200


@bp.get("/<int:session_id>")
@role_required("practitioner", "compliance")
def session(session_id: int):
    record = services.record_view(current_user, session_id)
    db.session.commit()
    state = services.progress(record)
    if not record.is_signed and record.practitioner_id == current_user.id and state.next_phase:
        return redirect(
            url_for("checklists.phase", session_id=record.id, phase_id=state.next_phase)
        )
    return render_template(
        "checklists/session.html",
        record=record,
        state=state,
        form=SignForm(),
        blockers=[] if record.is_signed else services.signing_blockers(record),
        flags_preview=[] if record.is_signed else rules.flags_for(state.template, state.answers),
        followups=followups.timeline(record),
        errors={},
    )


@bp.route("/<int:session_id>/phase/<phase_id>", methods=["GET", "POST"])
@role_required("practitioner")
def phase(session_id: int, phase_id: str):
    record = services.get_session(current_user, session_id)
    state = services.progress(record)
    if phase_id not in state.template.phase_ids:
        return render_template("error.html", title="Not found", message="No such phase."), 404
    if record.is_signed:
        flash("This checklist is signed and can no longer be changed.", "info")
        return redirect(url_for("checklists.session", session_id=record.id))
    if record.practitioner_id != current_user.id:
        if request.method == "POST":
            return render_template(
                "error.html",
                title="Not your session",
                message="Only the practitioner who started this session can fill it in.",
            ), 403
        return redirect(url_for("checklists.session", session_id=record.id))
    form = PhaseForm()
    errors: dict[str, str] = {}
    message = None
    values = {**state.answers, **{f"{k}.note": v for k, v in state.notes.items()}}
    if form.validate_on_submit():
        try:
            services.submit_phase(
                current_user, record.id, phase_id, request.form.to_dict(flat=False)
            )
        except DomainError as exc:
            db.session.rollback()
            if exc.status_code != 400:
                raise
            errors, message = exc.errors, exc.message
            values = _raw_values(request.form)
        else:
            db.session.commit()
            following = services.progress(services.get_session(current_user, record.id)).next_phase
            title = state.template.phase(phase_id).title
            flash(f"{title} saved.", "success")
            if following and following != phase_id:
                return redirect(
                    url_for("checklists.phase", session_id=record.id, phase_id=following)
                )
            return redirect(url_for("checklists.session", session_id=record.id))
    return render_template(
        "checklists/phase.html",
        record=record,
        state=state,
        phase=state.template.phase(phase_id),
        form=form,
        values=values,
        errors=errors,
        message=message,
    ), 400 if errors or message else 200


def _raw_values(form) -> dict:
    """Keep what was typed, so a refused phase comes back filled in."""
    values = {}
    for key in form:
        items = form.getlist(key)
        values[key] = items if len(items) > 1 or key == "signin.regions" else items[0]
    return values


@bp.post("/<int:session_id>/sign")
@role_required("practitioner")
def sign(session_id: int):
    form = SignForm()
    record = services.get_session(current_user, session_id)
    errors: dict[str, str] = {}
    message = None
    if form.validate_on_submit():
        try:
            services.sign_session(current_user, record.id, form.password.data)
        except DomainError as exc:
            db.session.commit() if "password" in exc.errors else db.session.rollback()
            if exc.status_code != 400:
                raise
            errors, message = exc.errors, exc.message
        else:
            db.session.commit()
            flash("Checklist signed. The record can no longer be changed.", "success")
            return redirect(url_for("checklists.session", session_id=record.id))
    else:
        errors = {"password": "Enter your password to sign."}
    record = services.get_session(current_user, session_id)
    state = services.progress(record)
    return render_template(
        "checklists/session.html",
        record=record,
        state=state,
        form=form,
        blockers=services.signing_blockers(record) if not record.is_signed else [],
        flags_preview=rules.flags_for(state.template, state.answers),
        followups=followups.timeline(record),
        errors=errors,
        message=message,
    ), 400
