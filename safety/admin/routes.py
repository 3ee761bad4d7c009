"""Administration: users, clinics and checklist template versions (administrators only).

One file of about 590 thin routes' lines: they share the blueprint, the role check and the
user page's context, and each is a form, one service call and a redirect.
"""

from __future__ import annotations

from functools import partial
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from safety.admin import mail, rules, services
from safety.admin.forms import (
    ActionForm,
    ClinicForm,
    MembershipForm,
    RoleForm,
    TemplateImportForm,
    UserCreateForm,
)
from safety.auth import clinics as auth_clinics
from safety.auth import invitations, policy, second_factor
from safety.auth import services as auth
from safety.auth.models import ROLE_LABELS, Role
from safety.auth.policy import role_required
from safety.clinics import services as clinic_services
from safety.clinics.rules import COUNTRIES, DEFAULT_WORKING_DAYS, WEEKDAY_NAMES, country_name
from safety.followup.backends import can_send_texts
from safety.ids import parse_id
from safety.languages import N_
from safety.risks import editor
from safety.risks import services as risks
from safety.risks.rules import load_register, template_from_definition
from safety.risks.translations import untranslated
from safety.web import Refused, field_errors, run_use_case

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: What the page says after a role change, each sentence whole for the translators.
ROLE_CHANGED = {
    Role.PRACTITIONER: N_(
        "%(name)s is now a practitioner at %(clinic)s. They have been signed out and will see "
        "their new pages when they sign in again."
    ),
    Role.COMPLIANCE: N_(
        "%(name)s is now a compliance officer. They have been signed out and will see their "
        "new pages when they sign in again."
    ),
    Role.ADMIN: N_(
        "%(name)s is now an administrator. They have been signed out and will see their new "
        "pages when they sign in again."
    ),
}


@bp.context_processor
def _admin_globals():
    admin = current_user.is_authenticated and policy.is_admin(current_user)
    return {
        "role_labels": ROLE_LABELS,
        "hour_label": rules.hour_label,
        "country_name": country_name,
        #: Times on these pages read in this zone, with the staff pages' `local_time` filter.
        "admin_zone": clinic_services.reading_zone(current_user) if admin else ZoneInfo("UTC"),
    }


@bp.errorhandler(413)
def _too_large(error):
    # Werkzeug refuses a form above its own size limits before any view sees it.
    return render_template(
        "error.html",
        title="That was too large",
        message="Risk sections are imported up to 200 KB. Go back and paste or upload "
        "only the risk section of the document.",
    ), 413


@bp.get("/")
@role_required(Role.ADMIN)
def index():
    return redirect(url_for("admin.users"))


# --- users ---------------------------------------------------------------------------------


@bp.get("/users")
@role_required(Role.ADMIN)
def users():
    return render_template("admin/users.html", rows=services.list_users())


@bp.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def user_new():
    form = UserCreateForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = run_use_case(
            lambda: services.invite_account(
                email=form.email.data or "",
                name=form.name.data or "",
                role=form.role.data or "",
                clinic_id=form.clinic_id,
                actor=current_user,
                language=form.language.data or current_user.language,
            )
        )
        if isinstance(result, Refused):
            errors = result.errors or {"email": result.message}
        else:
            user, secret = result
            _send_invitation(user, secret)
            return redirect(url_for("admin.user", user_id=user.id))
    else:
        errors = field_errors(form)
    return render_template(
        "admin/user_new.html", form=form, errors=errors, clinics=services.clinic_options()
    ), 400 if errors else 200


def _send_invitation(user, secret: str) -> None:
    """Mail the invitation and say whether it went. The development outbox keeps its copy in
    the database, so the route commits what sending wrote."""
    _flash_sent(user, run_use_case(lambda: mail.send(user, secret)) is True)


def _flash_sent(user, sent: bool) -> None:
    if sent:
        hours = current_app.config["INVITATION_HOURS"]
        flash(
            _(
                "Invitation sent to %(email)s. The link works once, for %(hours)s hours; "
                "%(name)s chooses their own password with it.",
                email=user.email,
                hours=hours,
                name=user.name,
            ),
            "success",
        )
    else:
        flash(
            _(
                "The invitation e-mail to %(email)s could not be sent. Check the mail "
                "settings, then use “Send a new invitation” below.",
                email=user.email,
            ),
            "error",
        )


@bp.post("/users/<id:user_id>/invite")
@role_required(Role.ADMIN)
def user_invite(user_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        return _user_page(
            user_id, errors={"invite": N_("This form has expired. Try again.")}, status=400
        )
    user = auth.get_user(user_id)
    secret = run_use_case(
        lambda: invitations.issue(
            user, actor=current_user, replaces=parse_id(request.form.get("replaces", ""))
        ),
        shown=(400, 403, 409),
    )
    if isinstance(secret, Refused):
        return _user_page(user_id, errors={"invite": secret.message}, status=secret.status)
    if secret is None:  # a second click: the link just sent is the one to use
        said = _("An invitation was just sent to %(email)s: that link is the one to use.")
        flash(said % {"email": user.email}, "success")
    else:
        _send_invitation(user, secret)
    return redirect(url_for("admin.user", user_id=user_id))


def _user_page(user_id: int, *, role_form=None, errors=None, status: int = 200):
    user = auth.get_user(user_id)
    invitation = invitations.latest(user)
    return render_template(
        "admin/user.html",
        user=user,
        # The page says what the policy allows; it never compares ids or roles itself.
        is_own_account=policy.is_own_account(current_user, user),
        can_deactivate=policy.can_deactivate(current_user, user),
        works_at_clinics=policy.is_practitioner(user),
        is_locked=services.user_is_locked(user),
        throttles=auth.active_throttles(user),
        recovery_codes_left=second_factor.recovery_codes_left(user),
        invitation=invitation,
        invitation_accepted=invitations.has_accepted(user),
        invitation_open=invitations.is_open(invitation),
        member_clinics=auth_clinics.clinics_of(user),
        role_form=role_form or RoleForm(formdata=None, role=user.role, clinic=user.clinic_id),
        errors=errors or {},
        clinics=services.clinic_options(),
        history=services.history(object_type="users", object_id=user.id),
    ), status


@bp.get("/users/<id:user_id>")
@role_required(Role.ADMIN)
def user(user_id: int):
    return _user_page(user_id)


def _user_action(user_id: int, action: str, service, done: str):
    """Run a button's service for a user: commit and flash, or show why beside the button."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _user_page(
            user_id, errors={action: _("This form has expired. Try again.")}, status=400
        )
    user = run_use_case(lambda: service(user_id, actor=current_user), shown=(400, 403, 409))
    if isinstance(user, Refused):
        return _user_page(user_id, errors={action: user.message}, status=user.status)
    flash(_(done).format(name=user.name), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<id:user_id>/deactivate")
@role_required(Role.ADMIN)
def user_deactivate(user_id: int):
    return _user_action(
        user_id,
        "deactivate",
        services.deactivate_account,
        N_("{name} is deactivated and has been signed out everywhere."),
    )


@bp.post("/users/<id:user_id>/reactivate")
@role_required(Role.ADMIN)
def user_reactivate(user_id: int):
    return _user_action(
        user_id,
        "reactivate",
        auth.reactivate_user,
        N_("{name} can sign in again with their existing password."),
    )


@bp.post("/users/<id:user_id>/lead")
@role_required(Role.ADMIN)
def user_lead(user_id: int):
    return _user_action(
        user_id,
        "lead",
        partial(auth.set_clinic_lead, is_lead=True),
        N_(
            "{name} now leads their clinic: they see who was injured in sharps injury reports "
            "and are alerted about urgent steps left untouched."
        ),
    )


@bp.post("/users/<id:user_id>/lead/end")
@role_required(Role.ADMIN)
def user_lead_end(user_id: int):
    return _user_action(
        user_id,
        "lead_end",
        partial(auth.set_clinic_lead, is_lead=False),
        N_("{name} no longer leads their clinic."),
    )


@bp.post("/users/<id:user_id>/unlock")
@role_required(Role.ADMIN)
def user_unlock(user_id: int):
    return _user_action(
        user_id,
        "unlock",
        auth.unlock_user,
        N_("{name}'s account is unlocked: they can sign in now."),
    )


@bp.post("/users/<id:user_id>/two-step-reset")
@role_required(Role.ADMIN)
def user_mfa_reset(user_id: int):
    return _user_action(
        user_id,
        "mfa_reset",
        second_factor.reset,
        N_(
            "{name}'s two-step sign-in is reset: they set up their app again at their next sign-in."
        ),
    )


@bp.post("/users/<id:user_id>/clinics")
@role_required(Role.ADMIN)
def user_clinic_add(user_id: int):
    form = MembershipForm()
    if not form.validate_on_submit():
        return _user_page(user_id, errors={"membership": N_("Choose a clinic.")}, status=400)
    result = run_use_case(
        lambda: auth_clinics.add(user_id, form.clinic_id, actor=current_user),
        shown=(400, 409),
    )
    if isinstance(result, Refused):
        message = result.errors.get("membership", result.message)
        return _user_page(user_id, errors={"membership": message}, status=result.status)
    flash(_("%(name)s can now work at that clinic too.", name=result.name), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<id:user_id>/clinics/<id:clinic_id>/remove")
@role_required(Role.ADMIN)
def user_clinic_remove(user_id: int, clinic_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        expired = {"membership": N_("This form has expired. Try again.")}
        return _user_page(user_id, errors=expired, status=400)
    result = run_use_case(
        lambda: auth_clinics.remove(user_id, clinic_id, actor=current_user), shown=(400, 409)
    )
    if isinstance(result, Refused):
        return _user_page(user_id, errors={"membership": result.message}, status=result.status)
    flash(_("%(name)s no longer works at that clinic.", name=result.name), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<id:user_id>/role")
@role_required(Role.ADMIN)
def user_role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        return _user_page(user_id, role_form=form, errors=field_errors(form), status=400)
    user = run_use_case(
        lambda: auth.change_role(
            user_id, role=form.role.data or "", clinic_id=form.clinic_id, actor=current_user
        ),
        shown=(400, 403, 409),
    )
    if isinstance(user, Refused):
        return _user_page(user_id, role_form=form, errors=user.errors, status=user.status)
    clinic = user.clinic.name if user.clinic else ""
    flash(_(ROLE_CHANGED[user.role], name=user.name, clinic=clinic), "success")
    return redirect(url_for("admin.user", user_id=user_id))


# --- clinics -------------------------------------------------------------------------------


@bp.get("/clinics")
@role_required(Role.ADMIN)
def clinics():
    return render_template("admin/clinics.html", rows=services.list_clinics())


def _clinic_values(form: ClinicForm) -> dict:
    """The clinic form's values for the service; a form without a language keeps the
    clinic's (a new clinic's is English)."""
    language = {"language": form.language.data} if form.language.data else {}
    return {
        **language,
        "name": form.name.data or "",
        "timezone": form.zone,
        "workday_start_hour": form.hour(form.workday_start_hour),
        "workday_end_hour": form.hour(form.workday_end_hour),
        "duty_email": form.duty_email.data,
        # Empty, not None: a mobile taken out of the form is removed, not kept.
        "duty_phone": form.duty_phone.data or "",
        "phone": form.phone.data,
        "country": form.country.data,
        "working_days": "".join(form.working_days.data or []),
    }


def _clinic_form_page(form: ClinicForm, errors: dict[str, str], clinic=None):
    return render_template(
        "admin/clinic_form.html",
        form=form,
        errors=errors,
        clinic=clinic,
        common_zones=rules.COMMON_TIME_ZONES,
        countries=[(code, name) for code, (name, _) in COUNTRIES.items()],
        weekdays=WEEKDAY_NAMES,
        can_text=can_send_texts(current_app.config),
        history=services.history(object_type="clinics", object_id=clinic.id) if clinic else [],
    ), 400 if errors else 200


@bp.route("/clinics/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def clinic_new():
    form = ClinicForm(
        data={
            "timezone": "Europe/London",
            "workday_start_hour": "8",
            "workday_end_hour": "19",
            "working_days": list(DEFAULT_WORKING_DAYS),
        }
    )
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        clinic = run_use_case(
            lambda: clinic_services.create_clinic(**_clinic_values(form), actor=current_user)
        )
        if isinstance(clinic, Refused):
            errors = clinic.errors
        else:
            flash(
                _("Clinic %(name)s created. You can now add its practitioners.", name=clinic.name),
                "success",
            )
            return redirect(url_for("admin.clinics"))
    elif form.is_submitted():
        errors = field_errors(form)
    return _clinic_form_page(form, errors)


@bp.route("/clinics/<id:clinic_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def clinic_edit(clinic_id: int):
    clinic = clinic_services.get_clinic(clinic_id)
    form = ClinicForm(
        data={
            "name": clinic.name,
            "timezone": clinic.timezone if clinic.timezone in rules.COMMON_TIME_ZONES else "other",
            "timezone_other": "" if clinic.timezone in rules.COMMON_TIME_ZONES else clinic.timezone,
            "workday_start_hour": str(clinic.workday_start_hour),
            "workday_end_hour": str(clinic.workday_end_hour),
            "duty_email": clinic.duty_email or "",
            "duty_phone": clinic.duty_phone or "",
            "phone": clinic.phone or "",
            "country": clinic.country or "",
            "working_days": list(clinic.working_days),
            "language": clinic.language,
        }
    )
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        changes = run_use_case(
            lambda: clinic_services.update_clinic(
                clinic_id, **_clinic_values(form), actor=current_user
            )
        )
        if isinstance(changes, Refused):
            clinic = clinic_services.get_clinic(clinic_id)
            errors = changes.errors
        else:
            flash(
                _("Clinic %(name)s saved.", name=clinic.name) if changes else _("Nothing changed."),
                "success" if changes else "info",
            )
            return redirect(url_for("admin.clinics"))
    elif form.is_submitted():
        errors = field_errors(form)
    return _clinic_form_page(form, errors, clinic)


# --- templates -----------------------------------------------------------------------------


@bp.get("/templates")
@role_required(Role.ADMIN)
def templates():
    return render_template(
        "admin/templates.html",
        templates=risks.list_templates(),
        current=risks.current_template(),
    )


@bp.route("/templates/import", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def template_import():
    form = TemplateImportForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        upload = form.upload()
        draft = run_use_case(
            lambda: services.import_risk_section(
                text=form.text.data,
                filename=upload[0] if upload else None,
                data=upload[1] if upload else None,
                actor=current_user,
            )
        )
        if isinstance(draft, Refused):
            errors = draft.errors
        else:
            flash(
                _(
                    "Draft version %(version)s created. Review it below, then publish it "
                    "or discard it.",
                    version=draft.version,
                ),
                "success",
            )
            return redirect(url_for("admin.template_review", template_id=draft.id))
    elif form.is_submitted():
        errors = field_errors(form)
    return render_template(
        "admin/template_import.html", form=form, errors=errors
    ), 400 if errors else 200


@bp.get("/templates/<id:template_id>")
@role_required(Role.ADMIN)
def template_review(template_id: int):
    return _review_page(template_id)


def _review_page(template_id: int, *, error: str | None = None, status: int = 200):
    return render_template(
        "admin/template_review.html",
        review=services.review_template(template_id),
        kind_title=load_register().kind_title,
        error=error,
        history=services.history(object_type="template_versions", object_id=template_id),
    ), status


@bp.post("/templates/<id:template_id>/publish")
@role_required(Role.ADMIN)
def template_publish(template_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        return _review_page(template_id, error=_("This form has expired. Try again."), status=400)
    seen = request.form.get("seen")
    template = run_use_case(
        lambda: editor.publish_as_seen(template_id, seen, actor=current_user, via="web"),
        shown=(400, 403, 409),
    )
    if isinstance(template, Refused) and seen is not None and template.status == 409:
        # Back to the confirmation, which lists the draft as it is now.
        flash(template.message, "error")
        return redirect(url_for("admin.template_confirm", template_id=template_id))
    if isinstance(template, Refused):
        return _review_page(template_id, error=template.message, status=template.status)
    flash(
        _(
            "Version %(version)s is published. New sessions use it from now on; "
            "sessions already started keep the version they began with.",
            version=template.version,
        ),
        "success",
    )
    missing = untranslated(template_from_definition(template.definition))
    if missing:
        flash(
            ngettext(
                "%(num)d item lacks a translation: practitioners who read French or Spanish "
                "see it in the template's own words. The template page lists it.",
                "%(num)d items lack a translation: practitioners who read French or Spanish "
                "see them in the template's own words. The template page lists them.",
                len({m.link_id for m in missing}),
            ),
            "info",
        )
    return redirect(url_for("admin.template_review", template_id=template_id))


@bp.post("/templates/<id:template_id>/discard")
@role_required(Role.ADMIN)
def template_discard(template_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        return _review_page(template_id, error=_("This form has expired. Try again."), status=400)
    version = run_use_case(
        lambda: risks.discard_draft(template_id, actor=current_user),
        shown=(400, 403, 409),
    )
    if isinstance(version, Refused):
        return _review_page(template_id, error=version.message, status=version.status)
    flash(
        _("Draft version %(version)s discarded. Nothing else was changed.", version=version),
        "success",
    )
    return redirect(url_for("admin.templates"))


# --- audit trail ---------------------------------------------------------------------------


@bp.get("/activity")
@role_required(Role.ADMIN)
def activity():
    return render_template("admin/activity.html", history=services.history())
