"""The practitioner's session checklist: today's list, start, phases, signing, addenda."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from safety import display
from safety.auth import policy
from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.checklists import addenda, rules, services
from safety.checklists.forms import (
    AddendumForm,
    CancelForm,
    PhaseForm,
    SignForm,
    StartSessionForm,
)
from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.clinics.forms import PatientForm
from safety.dbtypes import utcnow
from safety.errors import Conflict, Forbidden
from safety.followup import escalations
from safety.followup import queries as followups
from safety.ids import parse_id
from safety.packs import rules as pack_rules
from safety.packs import services as packs
from safety.web import Refused, allow_camera_scan, field_errors, run_use_case, translated

bp = Blueprint("checklists", __name__, url_prefix="/sessions")

#: Prefix of the addendum form's field names and ids, so they never clash with another form
#: on the record page (the signing form also has a password field).
ADDENDUM_PREFIX = "addendum"
#: Patients offered on the Today page as one-tap starts, the most recently seen first.
QUICK_START = 6


@bp.get("/")
@role_required(Role.PRACTITIONER)
def today():
    sessions = services.sessions_for_today(current_user)
    return render_template(
        "checklists/today.html",
        quick_start=services.patients_to_start(current_user, limit=QUICK_START),
        start_form=StartSessionForm(formdata=None),
        waiting=escalations.waiting_for(current_user),
        actions=escalations.ACTIONS,
        now=utcnow(),
        sessions=sessions,
        # A signed or cancelled session shows only that: the open ones show where they are.
        progress={s.id: services.progress(s) for s in sessions if not s.is_final},
        # The sessions this practitioner may still fill in, cancel or sign (policy.can_fill).
        fillable={s.id for s in sessions if policy.can_fill(current_user, s)},
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.PRACTITIONER)
def start():
    """The patient picker: each patient is a button that starts their session in one tap.

    A search is posted, not put in the URL, so a patient's name never reaches an access log;
    with JavaScript the list is filtered as the name is typed and nothing is posted.
    """
    form = StartSessionForm()
    error = None
    search = request.form.get("q", "") if request.method == "POST" else ""
    searching = request.method == "POST" and "patient_id" not in request.form
    if searching:
        if not form.validate_on_submit() and "csrf_token" in form.errors:
            error = _("The page had expired: search again.")
    elif form.validate_on_submit():
        result = run_use_case(
            lambda: services.start_session(current_user, patient_id=form.patient_id.data),
            shown=(400, 403, 404),
            keep_loaded=True,  # only its id is read, for the redirect
        )
        if isinstance(result, Refused):
            error = (
                _("Choose one of your clinic's patients.")
                if result.status == 404
                else result.message
            )
        else:
            flash(_("Session started. Begin with Sign in."), "success")
            return redirect(url_for("checklists.record", session_id=result.id))
    elif form.is_submitted():
        error = _("Choose a patient.")
    patients = services.patients_to_start(current_user, search=search)
    return render_template(
        "checklists/start.html",
        form=form,
        # The new patient's form below the list, with its own one-time key.
        patient_form=PatientForm(formdata=None),
        patients=patients,
        search=search,
        searching=searching,
        today=utcnow().astimezone(current_user.clinic.zone).date(),
        error=error,
    ), 400 if error else 200


@bp.get("/<id:session_id>")
@role_required(Role.PRACTITIONER, Role.COMPLIANCE)
def record(session_id: int):
    # The view's audit event is committed; what the page shows stays as it was loaded.
    found = run_use_case(
        lambda: services.record_view(current_user, session_id), shown=(), keep_loaded=True
    )
    state = services.progress(found)
    if policy.can_fill(current_user, found) and state.next_phase:
        return redirect(url_for("checklists.phase", session_id=found.id, phase_id=state.next_phase))
    return _record_page(found)


def _record_page(
    found: TreatmentSession,
    *,
    sign_form: SignForm | None = None,
    sign_refused: Refused | None = None,
    addendum_form: AddendumForm | None = None,
    addendum_refused: Refused | None = None,
    cancel_refused: Refused | None = None,
    cancel_reason: str = "",
    status: int = 200,
):
    """Render the record page; the view and every refused form share this one context."""
    state = services.progress(found)
    unsigned = not found.is_final
    return render_template(
        "checklists/record.html",
        now=utcnow(),
        record=found,
        state=state,
        form=sign_form or SignForm(formdata=None),
        errors=sign_refused.errors if sign_refused else {},
        message=sign_refused.message if sign_refused else None,
        blockers=services.signing_blockers(found, display.checklist_wording()) if unsigned else [],
        flags_preview=rules.flags_for(state.template, state.answers) if unsigned else [],
        followups=followups.timeline(found),
        stop=rules.stopped_by(state.template, state.answers),
        cancel_errors=cancel_refused.errors if cancel_refused else {},
        cancel_reason=cancel_reason,
        can_fill=policy.can_fill(current_user, found),
        can_add_addendum=policy.can_add_addendum(current_user, found),
        addendum_errors=_prefixed(addendum_refused.errors) if addendum_refused else {},
        addendum_message=addendum_refused.message if addendum_refused else None,
        addendum_values=_prefixed(
            {"reason": addendum_form.reason.data, "body": addendum_form.body.data}
            if addendum_form
            else {}
        ),
    ), status


def _prefixed(values: dict) -> dict:
    return {f"{ADDENDUM_PREFIX}-{name}": value or "" for name, value in values.items()}


@bp.route("/<id:session_id>/phase/<phase_id>", methods=["GET", "POST"])
@role_required(Role.PRACTITIONER)
def phase(session_id: int, phase_id: str):
    try:
        found, state = services.open_phase(current_user, session_id, phase_id)
    except Conflict as closed:  # signed or cancelled: the record says so
        flash(translated(closed.message), "info")
        return redirect(url_for("checklists.record", session_id=session_id))
    except Forbidden:
        if request.method == "POST":
            raise  # a colleague's save: refused, as the service said
        return redirect(url_for("checklists.record", session_id=session_id))
    view = _PhaseView.opened(found, state, phase_id)
    form = PhaseForm()
    if not form.validate_on_submit():
        return _phase_page(view, form)
    return _save_phase(view, form)


@dataclass
class _PhaseView:
    """What a phase's page shows: a first view and every refused save fill in this one."""

    found: TreatmentSession
    state: services.Progress
    phase_id: str
    values: dict
    #: The phase's latest entry when the form was opened (0: none yet).
    opened_entry: int
    #: Whether this page offers "Save and sign" (`_signs_on_this_page`).
    signing: bool
    refused: Refused | None = None
    #: The entry saved from another screen since the form was opened, shown beside it.
    changed: PhaseEntry | None = None

    @classmethod
    def opened(cls, found: TreatmentSession, state: services.Progress, phase_id: str):
        saved = state.latest.get(phase_id)
        values = {
            **state.answers,
            **{f"{k}.note": v for k, v in state.notes.items()},
            **pack_rules.form_values(state.answers),
        }
        return cls(
            found,
            state,
            phase_id,
            values,
            opened_entry=saved.id if saved else 0,
            signing=_signs_on_this_page(state, phase_id),
        )


def _save_phase(view: _PhaseView, form: PhaseForm):
    """Save the submitted phase and go on, or show the form again with what was typed."""
    found, phase_id = view.found, view.phase_id
    submitted = request.form.to_dict(flat=False)
    # The password of "Save and sign" belongs to the signature, never to the answers.
    password = (submitted.pop("password", [""])[0] or "") if view.signing else ""
    wants_signature = view.signing and submitted.pop("action", [""])[0] == "sign"
    submitted.pop("action", None)
    opened = submitted.pop("opened_entry", [None])[0]
    # The entry the form was opened on ("0": none yet); a client that sends none is not
    # checked (scripts, and forms opened before this check existed).
    base = None if opened is None else (0 if opened == "0" else parse_id(opened) or -1)
    typed = _raw_values(request.form)
    if wants_signature and not password:
        # Refused before anything is saved: the practitioner meant to sign with this tap.
        refused = Refused("", {"password": _("Enter your password to sign.")})
        return _phase_page(replace(view, values=typed, refused=refused), form)
    try:
        result = run_use_case(
            lambda: services.submit_phase(
                current_user, found.id, phase_id, submitted, opened_entry=base
            ),
            # The service appends the new entry to `found.entries`, so the session stays
            # current after the commit and the next phase needs no reload.
            keep_loaded=True,
        )
    except services.PhaseChanged as exc:
        # Saving again now is a deliberate choice over the version shown.
        state = services.progress(services.get_session(current_user, found.id))
        refused = Refused(exc.message, status=409)
        changed = replace(view, state=state, values=typed, refused=refused)
        return _phase_page(replace(changed, opened_entry=exc.saved.id, changed=exc.saved), form)
    except services.AlreadySigned:
        return redirect(url_for("checklists.record", session_id=found.id))
    if isinstance(result, Refused):
        return _phase_page(replace(view, values=typed, refused=result), form)
    following = services.progress(found).next_phase
    stopped = following is None and rules.stopped_by(view.state.template, result.answers)
    # Saved, but not a success to go on from: the record's red notice says the session stopped,
    # and a green "saved" above it read as the opposite.
    flash(
        _("%(phase)s saved.", phase=display.phase_title(view.state.template.phase(phase_id))),
        "info" if stopped else "success",
    )
    if wants_signature and following is None:
        return _sign_after_last_phase(found, password)
    if stopped:
        return redirect(url_for("checklists.record", session_id=found.id))
    if following and following != phase_id:
        return redirect(url_for("checklists.phase", session_id=found.id, phase_id=following))
    return redirect(url_for("checklists.record", session_id=found.id))


def _phase_page(view: _PhaseView, form: PhaseForm):
    """Render a phase; a first view and every refused save share this one context."""
    found, state, phase_id, refused = view.found, view.state, view.phase_id, view.refused
    phase = state.template.phase(phase_id)
    pack_rows = pack_rules.pack_rows(view.values)
    if phase_id == "timeout":
        allow_camera_scan()  # the lot fields' "Scan with camera"
    return render_template(
        "checklists/phase.html",
        record=found,
        state=state,
        can_fill=policy.can_fill(current_user, found),
        phase=phase,
        form=form,
        labels=display.error_labels(rules.field_labels(phase, [1, *pack_rows])),
        values=view.values,
        errors=refused.errors if refused else {},
        message=refused.message if refused else None,
        expired_pack=_(rules.EXPIRED_PACK),
        pack_rows=pack_rows,
        pack_rows_open=pack_rules.more_packs_open(view.values, refused.errors if refused else {}),
        recent_packs=packs.recent_packs(current_user, session_date=found.session_date)
        if phase_id == "timeout"
        else [],
        gs_substitutes=pack_rules.GS_SUBSTITUTES,
        opened_entry=view.opened_entry,
        changed=view.changed,
        signing=view.signing,
    ), (refused.status if refused else 200)


def _signs_on_this_page(state: services.Progress, phase_id: str) -> bool:
    """Whether this phase's page offers "Save and sign": the last phase, once every other one
    is saved, so a clean session is signed without a page of its own (issue 17)."""
    phase_ids = state.template.phase_ids
    return phase_id == phase_ids[-1] and all(p in state.latest for p in phase_ids[:-1])


def _sign_after_last_phase(found: TreatmentSession, password: str):
    """Sign straight after the last phase is saved, unless there is something to read first.

    A checklist that would raise flags, or cannot be signed yet, goes to the record page, which
    lists them above its own signing form: signing never skips what compliance will see.
    """
    state = services.progress(found)
    if services.signing_blockers(found) or rules.flags_for(state.template, state.answers):
        flash(_("Read what signing will raise before you sign."), "info")
        return redirect(url_for("checklists.record", session_id=found.id))
    try:
        result = run_use_case(
            lambda: services.sign_session(
                current_user, found.id, password, words=display.checklist_wording()
            ),
            keep_loaded=True,
        )
    except services.AlreadySigned:
        return _already_signed(found)
    if isinstance(result, Refused):
        found = services.get_session(current_user, found.id)
        return _record_page(
            found, sign_form=SignForm(formdata=None), sign_refused=result, status=400
        )
    flash(_("Checklist signed. The record can no longer be changed."), "success")
    return redirect(url_for("checklists.record", session_id=found.id))


def _raw_values(form) -> dict:
    """Keep what was typed, so a refused phase comes back filled in."""
    values = {}
    for key in form:
        items = form.getlist(key)
        values[key] = items if len(items) > 1 or key == "signin.regions" else items[0]
    return values


@bp.post("/<id:session_id>/sign")
@role_required(Role.PRACTITIONER)
def sign(session_id: int):
    form = SignForm()
    found = services.get_session(current_user, session_id)
    if found.is_signed and policy.is_author(current_user, found):
        return _already_signed(found)
    if not form.validate_on_submit():
        refused = Refused("", {"password": _("Enter your password to sign.")})
        return _record_page(found, sign_form=form, sign_refused=refused, status=400)
    try:
        result = run_use_case(
            lambda: services.sign_session(
                current_user, found.id, form.password.data, words=display.checklist_wording()
            ),
            keep_loaded=True,  # nothing more is read before the redirect
        )
    except services.AlreadySigned:
        return _already_signed(found)
    if isinstance(result, Refused):
        found = services.get_session(current_user, session_id)
        return _record_page(found, sign_form=form, sign_refused=result, status=400)
    flash(_("Checklist signed. The record can no longer be changed."), "success")
    return redirect(url_for("checklists.record", session_id=found.id))


def _already_signed(found: TreatmentSession):
    """Send a second tap on "Sign" to the record its first tap signed, never to an error page."""
    flash(_("This checklist is already signed and can no longer be changed."), "success")
    return redirect(url_for("checklists.record", session_id=found.id))


@bp.post("/<id:session_id>/cancel")
@role_required(Role.PRACTITIONER)
def cancel(session_id: int):
    form = CancelForm()
    found = services.get_session(current_user, session_id)
    if not form.validate_on_submit():
        refused = Refused("", field_errors(form))
        return _record_page(found, cancel_refused=refused, status=400)
    result = run_use_case(
        lambda: services.cancel_session(current_user, found.id, form.reason.data or "")
    )
    if isinstance(result, Refused):
        found = services.get_session(current_user, session_id)
        return _record_page(
            found, cancel_refused=result, cancel_reason=form.reason.data or "", status=400
        )
    flash(_("Session cancelled. It stays on the record with your reason."), "success")
    return redirect(url_for("checklists.today"))


@bp.post("/<id:session_id>/addenda")
@role_required(Role.PRACTITIONER)
def add_addendum(session_id: int):
    found = services.get_session(current_user, session_id)  # another clinic's: 404
    if not found.is_signed:
        raise Conflict(
            "Only a signed record takes addenda: change the checklist itself until it is signed."
        )
    form = AddendumForm(prefix=ADDENDUM_PREFIX)
    if not form.validate_on_submit():
        refused = Refused(addenda.NOT_ADDED, field_errors(form))
        return _record_page(found, addendum_form=form, addendum_refused=refused, status=400)
    result = run_use_case(
        lambda: addenda.add_addendum(
            current_user,
            found.id,
            reason=form.reason.data,
            body=form.body.data,
            password=form.password.data,
        )
    )
    if isinstance(result, Refused):
        found = services.get_session(current_user, session_id)
        return _record_page(found, addendum_form=form, addendum_refused=result, status=400)
    flash(_("Addendum signed and added. The original record is unchanged."), "success")
    return redirect(
        url_for("checklists.record", session_id=found.id, _anchor=f"addendum-{result.id}")
    )
