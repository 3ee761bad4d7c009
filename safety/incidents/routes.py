"""Incident pages: the list, reporting (from a session or on its own), the record with its
post-exposure steps, reports outside the clinic and addenda, and the sharps injury log."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from safety import display
from safety.auth import policy
from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.checklists import services as checklists
from safety.clinics import services as clinics
from safety.dbtypes import utcnow
from safety.ids import parse_id
from safety.incidents import alerts, log, rules, services
from safety.incidents.forms import AddendumForm, ExternalReportForm, ReportForm, StepForm
from safety.incidents.models import Incident
from safety.integrity import checkpoints
from safety.languages import N_
from safety.review.rules import export as export_rules
from safety.review.rules.dashboard import period_bounds
from safety.web import Refused, field_errors, read_date_range, run_use_case

bp = Blueprint("incidents", __name__, url_prefix="/incidents")

#: The calendar months the list's per-clinic table counts, the current one included.
COUNTED_MONTHS = 12


def _utc(local: datetime | None, zone) -> datetime | None:
    """A time typed in the clinic's zone, in UTC (None stays None).

    A time at the calendar's very edge (31 December 9999 west of Greenwich, 1 January of the
    year 1 east of it) has no UTC time; it becomes the last or first instant there is, which
    the report's rules refuse as in the future or too long ago, beside the field (a review
    found a server error).
    """
    if local is None:
        return None
    try:
        return local.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return (datetime.max if local.year == datetime.max.year else datetime.min).replace(
            tzinfo=UTC
        )


# --- list --------------------------------------------------------------------------------------


def _read_filters():
    """Read the list's filters from the query string: values, and messages by field."""
    errors: dict[str, str] = {}
    kind = request.args.get("kind") or None
    if kind is not None and kind not in set(rules.Kind):
        errors["kind"] = N_("Choose a kind from the list.")
    clinic_id = parse_id(request.args.get("clinic"))
    if request.args.get("clinic") and clinic_id is None:
        errors["clinic"] = N_("Choose a clinic from the list.")
    since, until = read_date_range(request.args, "since", "until", errors)
    return {"kind": kind, "clinic_id": clinic_id, "since": since, "until": until}, errors


@bp.get("/")
@role_required(Role.PRACTITIONER, Role.COMPLIANCE)
def index():
    return _index_page(*_read_filters())


def _index_page(filters: dict, errors: dict[str, str]):
    """Render the list; the list and a refused export answer with it. Filters that need
    attention list nothing, rather than every incident as if unfiltered."""
    incidents = [] if errors else services.list_incidents(current_user, **filters)
    return render_template(
        "incidents/index.html",
        incidents=incidents,
        clinics=clinics.clinics_to_filter(current_user),
        args=request.args,
        counts=log.counts_by_clinic_and_month(
            current_user, since=period_bounds(utcnow().date(), COUNTED_MONTHS)[0]
        ),
        rules=rules,
        log_kept_since=rules.oldest_kept_year(clinics.reader_now(current_user).date()),
        errors=errors,
        now=utcnow(),
    ), 400 if errors else 200


# --- reporting ---------------------------------------------------------------------------------


def _report_from(form: ReportForm, zone) -> rules.Report:
    def text(field) -> str:
        return (field.data or "").strip()

    used = text(form.is_used_on_patient)
    return rules.Report(
        kind=text(form.kind),
        occurred_dt=_utc(form.occurred_dt.data, zone),
        work_area=text(form.work_area),
        description=text(form.description),
        action_taken=text(form.action_taken),
        device_type=text(form.device_type),
        device_brand=text(form.device_brand),
        device_gtin=text(form.device_gtin),
        device_lot=text(form.device_lot),
        device_purpose=text(form.device_purpose),
        how=text(form.how),
        body_site=text(form.body_site),
        is_used_on_patient={"yes": True, "no": False}.get(used),
        event_type=text(form.event_type),
        grade=text(form.grade),
        injured_name=text(form.injured_name),
        injured_job=text(form.injured_job),
    )


def _prefill(form: ReportForm, session_id: int | None) -> None:
    """Fill a new report from the session it happened in: its lot, the reporter, the time."""
    zone = current_user.clinic.zone
    if form.occurred_dt.data is None:
        form.occurred_dt.data = utcnow().astimezone(zone).replace(tzinfo=None, second=0)
    if not form.injured_name.data:
        form.injured_name.data = current_user.name
    if session_id is not None:
        session = checklists.get_session(current_user, session_id)
        form.session_id.data = str(session.id)
        if session.needle_lot and not form.device_lot.data:
            form.device_lot.data = session.needle_lot
        if form.kind.data == rules.Kind.SHARPS_INJURY:
            form.device_type.data = form.device_type.data or "filiform_needle"
            form.is_used_on_patient.data = form.is_used_on_patient.data or "yes"


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.PRACTITIONER)
def new():
    form = ReportForm()
    errors: dict[str, str] = {}
    message = None
    if request.method == "GET":
        form.kind.data = request.args.get("kind", rules.Kind.SHARPS_INJURY)
        form.event_type.data = request.args.get("event", "")
        session_id = parse_id(request.args.get("session"))
        flag_id = parse_id(request.args.get("flag"))
        if flag_id and (
            found := services.prefill_from_flag(current_user, flag_id, display.flag_message)
        ):
            session_id, fields = found
            form.kind.data = fields["kind"]
            form.event_type.data = fields["event_type"]
            form.description.data = fields["description"]
        _prefill(form, session_id)
    elif not form.validate_on_submit():
        errors, message = field_errors(form), N_("Some answers need attention.")
    elif form.session_id.data and parse_id(form.session_id.data) is None:
        errors = {"session_id": N_("Choose a session of your clinic, or none.")}
        message = services.NOT_REPORTED
    else:
        session_id = parse_id(form.session_id.data)
        result = run_use_case(
            lambda: services.report_incident(
                current_user,
                _report_from(form, current_user.clinic.zone),
                session_id=session_id,
                password=form.password.data or "",
            ),
        )
        if isinstance(result, Refused):
            errors, message = result.errors, result.message
        else:
            flash(_("Incident reported and signed."), "success")
            return redirect(url_for("incidents.record", incident_id=result.id))
    if form.kind.data not in set(rules.Kind):
        form.kind.data = rules.Kind.SHARPS_INJURY
    return render_template(
        "incidents/new.html",
        form=form,
        errors=errors,
        message=message,
        rules=rules,
        sessions=services.recent_sessions(current_user, parse_id(form.session_id.data)),
    ), 400 if errors or message else 200


# --- the record --------------------------------------------------------------------------------


def _record_page(
    incident: Incident, *, refused: Refused | None = None, section: str = "", status: int = 200
):
    """Render the record; the view and every refused form on it share this one context."""
    return render_template(
        "incidents/record.html",
        incident=incident,
        steps=services.step_views(incident),
        undelivered=alerts.undelivered_alerts(incident),
        prompts=rules.report_prompts(
            incident.kind, incident.event_type, incident.grade, incident.clinic.country
        ),
        show_identity=policy.can_see_injured_identity(current_user, incident),
        can_follow_up=policy.can_follow_up_incident(current_user, incident),
        rules=rules,
        section=section,
        errors=refused.errors if refused else {},
        message=refused.message if refused else None,
        values=request.form if refused else {},
        now=utcnow(),
    ), status


@bp.get("/<id:incident_id>")
@role_required(Role.PRACTITIONER, Role.COMPLIANCE)
def record(incident_id: int):
    # The view's audit event is committed; what the page shows stays as it was loaded.
    found = run_use_case(
        lambda: services.incident_view(current_user, incident_id), shown=(), keep_loaded=True
    )
    return _record_page(found)


def _refused_or_redirect(incident_id: int, result, section: str, done: str):
    if isinstance(result, Refused):
        found = services.get_incident(current_user, incident_id)
        return _record_page(found, refused=result, section=section, status=result.status)
    flash(_(done), "success")
    return redirect(url_for("incidents.record", incident_id=incident_id) + f"#{section}")


@bp.post("/<id:incident_id>/steps/<step_id>")
@role_required(Role.PRACTITIONER)
def tick_step(incident_id: int, step_id: str):
    form = StepForm()
    if not form.validate_on_submit():
        result = Refused("The step was not ticked.", field_errors(form))
    else:
        zone = current_user.clinic.zone
        result = run_use_case(
            lambda: services.tick_step(
                current_user,
                incident_id,
                step_id,
                done_dt=_utc(form.done_dt.data, zone),
                note=form.note.data or "",
            ),
            shown=(400, 409),
        )
    return _refused_or_redirect(incident_id, result, f"step-{step_id}", N_("Step ticked."))


@bp.post("/<id:incident_id>/reports")
@role_required(Role.PRACTITIONER)
def external_report(incident_id: int):
    form = ExternalReportForm()
    if not form.validate_on_submit():
        result = Refused("The report was not recorded.", field_errors(form))
    else:
        result = run_use_case(
            lambda: services.record_external_report(
                current_user,
                incident_id,
                body=form.body.data or "",
                reported_on=form.reported_on.data,
                reference=form.reference.data or "",
            )
        )
    return _refused_or_redirect(incident_id, result, "reports", N_("Report recorded."))


@bp.post("/<id:incident_id>/addenda")
@role_required(Role.PRACTITIONER)
def add_addendum(incident_id: int):
    form = AddendumForm()
    if not form.validate_on_submit():
        result = Refused("The addendum was not added.", field_errors(form))
    else:
        result = run_use_case(
            lambda: services.add_addendum(
                current_user,
                incident_id,
                reason=form.reason.data or "",
                body=form.body.data or "",
                password=form.password.data or "",
            )
        )
    return _refused_or_redirect(incident_id, result, "addenda", N_("Addendum signed and added."))


def _csv(rows: list[dict[str, str]], columns, filename: str) -> Response:
    """A CSV download: cells safe from spreadsheets, and the latest signed checkpoint last."""
    out = io.StringIO()
    out.write(export_rules.BOM)
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: export_rules.csv_text(v) for k, v in row.items()})
    latest = checkpoints.latest()
    out.write(export_rules.checkpoint_line(latest.body if latest else None))
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/incidents.csv")
@role_required(Role.COMPLIANCE)
def export_csv():
    filters, errors = _read_filters()
    if errors:
        return _index_page(filters, errors)
    rows = run_use_case(lambda: log.incident_export(current_user, **filters), shown=())
    return _csv(
        rows,
        rules.INCIDENT_COLUMNS,
        f"needlesafe-incidents-{clinics.reader_now(current_user):%Y%m%d-%H%M%S}.csv",
    )


# --- the sharps injury log ---------------------------------------------------------------------


@bp.get("/sharps-log.csv")
@role_required(Role.PRACTITIONER, Role.COMPLIANCE)
def sharps_log():
    clinic_id = parse_id(request.args.get("clinic"))
    rows = run_use_case(lambda: log.sharps_log(current_user, clinic_id=clinic_id), shown=())
    columns = ["clinic", *rules.SHARPS_LOG_COLUMNS]
    return _csv(rows, columns, f"sharps-injury-log-{clinics.reader_now(current_user):%Y%m%d}.csv")
