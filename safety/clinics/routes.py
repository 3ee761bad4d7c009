"""Patients of the practitioner's clinic."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.checklists import services as checklists
from safety.clinics import services as clinics
from safety.clinics.forms import PatientForm, PatientLanguageForm
from safety.clinics.rules import new_form_key
from safety.web import Refused, field_errors, run_use_case

bp = Blueprint("clinics", __name__, url_prefix="/patients")


@bp.get("/")
@role_required(Role.PRACTITIONER)
def patients():
    return render_template("clinics/patients.html", patients=clinics.list_patients(current_user))


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.PRACTITIONER)
def new_patient():
    form = PatientForm()
    refused = None
    if form.validate_on_submit():
        session = run_use_case(
            lambda: checklists.start_session_for_new_patient(
                current_user,
                given_name=form.given_name.data or "",
                family_name=form.family_name.data or "",
                email=form.email.data,
                phone=form.phone.data,
                is_followup_consent=form.is_followup_consent.data,
                language=form.language.data or current_user.language,
                birth_date=form.birth_date.data,
                form_key=form.form_key.data,
            ),
            shown=(400, 409),  # a form already used says so beside the form
        )
        if not isinstance(session, Refused):
            flash(_("Patient added and session started. Begin with Sign in."), "success")
            return redirect(url_for("checklists.record", session_id=session.id))
        refused = session
    elif form.is_submitted():
        refused = Refused("", field_errors(form))
    # Shown again, it is a new form: the next send is a new act, whatever this one sent.
    form.form_key.data = new_form_key()
    return render_template(
        "clinics/new_patient.html",
        form=form,
        errors=refused.errors if refused else {},
        message=refused.message if refused else None,
    ), (refused.status if refused else 200)


@bp.route("/<id:patient_id>/edit", methods=["GET", "POST"])
@role_required(Role.PRACTITIONER)
def edit_patient(patient_id: int):
    """Correct a patient's name, contact details, consent to follow-up or language."""
    patient = clinics.get_patient(current_user, patient_id)
    form = PatientForm(obj=None if request.method == "POST" else patient)
    if request.method != "POST" and patient.birth_date:
        form.birth_date.data = patient.birth_date.isoformat()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = run_use_case(
            lambda: clinics.update_patient(
                current_user,
                patient_id,
                given_name=form.given_name.data or "",
                family_name=form.family_name.data or "",
                email=form.email.data,
                phone=form.phone.data,
                is_followup_consent=form.is_followup_consent.data,
                language=form.language.data or "",
                birth_date=form.birth_date.data,
            )
        )
        if isinstance(result, Refused):
            errors = result.errors
        else:
            flash(_("Details saved.") if result else _("Nothing was changed."), "success")
            return redirect(url_for("clinics.patients"))
    elif form.is_submitted():
        errors = field_errors(form)
    status = 400 if errors else 200
    return render_template(
        "clinics/edit_patient.html", form=form, patient=patient, errors=errors
    ), status


@bp.post("/<id:patient_id>/language")
@role_required(Role.PRACTITIONER)
def patient_language(patient_id: int):
    form = PatientLanguageForm()
    if not form.validate_on_submit():
        flash(_("Choose the language the patient reads."), "error")
        return redirect(url_for("clinics.patients"))
    result = run_use_case(
        lambda: clinics.set_patient_language(current_user, patient_id, form.language.data or "")
    )
    if isinstance(result, Refused):
        flash(result.message, "error")
    else:
        flash(_("Language saved: their next message uses it."), "success")
    return redirect(url_for("clinics.patients"))
