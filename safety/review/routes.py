"""The compliance officer's review: dashboard, records, record detail, flags, lot trace, exports.

Filters travel in the query string as ids and dates only; a patient is found by a posted name
search that answers with links carrying the patient's id, so no name reaches an address or a log.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from safety.auth.policy import role_required
from safety.dbtypes import utcnow
from safety.errors import DomainError
from safety.extensions import db
from safety.review import charts, dashboard, export, flags, forms, lots, records
from safety.review.rules import dashboard as dashboard_rules
from safety.review.rules import flags as flag_rules
from safety.review.rules import records as record_rules

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.get("/", endpoint="dashboard")
@role_required("compliance")
def dashboard_page():
    months, clinic_id, errors = forms.read_dashboard_args(request.args, dashboard.PERIODS)
    data = dashboard.dashboard(current_user, months=months, clinic_id=clinic_id)
    return render_template(
        "review/dashboard.html",
        data=data,
        periods=dashboard.PERIODS,
        charts=charts,
        dashboard_rules=dashboard_rules,
        flag_rules=flag_rules,
        errors=errors,
    ), 400 if errors else 200


@bp.get("/records", endpoint="records")
@role_required("compliance")
def records_page():
    filters, errors = forms.read_record_filters(request.args)
    after, before, cursor_message = forms.read_cursor(request.args)
    page = None
    if not errors:
        page = records.find_records(current_user, filters, after=after, before=before)
    return render_template(
        "review/records.html",
        filters=filters,
        options=records.filter_options(current_user, patient_id=filters.patient_id),
        page=page,
        errors=errors,
        message=cursor_message,
        search=forms.PatientSearchForm(formdata=None),
        record_rules=record_rules,
    ), 400 if errors else 200


@bp.post("/records/patient")
@role_required("compliance")
def patient_search():
    form = forms.PatientSearchForm()
    errors: dict[str, str] = {}
    found: list = []
    if form.validate_on_submit():
        found = records.find_patients(current_user, form.name.data)
        if len(found) == 1:
            return redirect(url_for("review.records", patient=found[0][0]))
    else:
        errors = {name: messages[0] for name, messages in form.errors.items()}
    return render_template(
        "review/patients.html", form=form, found=found, errors=errors
    ), 400 if errors else 200


@bp.get("/records/<id:session_id>")
@role_required("compliance", "practitioner")
def record(session_id: int):
    detail = records.record_detail(current_user, session_id)
    db.session.commit()  # keep the audited view
    return render_template(
        "review/record.html",
        detail=detail,
        record_rules=record_rules,
        flag_rules=flag_rules,
    )


@bp.get("/records/<id:session_id>/print")
@role_required("compliance", "practitioner")
def record_print(session_id: int):
    detail = records.record_detail(current_user, session_id)
    db.session.commit()
    return render_template(
        "review/record_print.html",
        detail=detail,
        record_rules=record_rules,
        flag_rules=flag_rules,
        printed_dt=utcnow(),
    )


@bp.get("/flags", endpoint="flags")
@role_required("compliance", "practitioner")
def flags_page():
    filters, errors = forms.read_flag_filters(request.args)
    number, page_message = forms.read_page(request.args)
    page = flags.list_flags(current_user, filters, page=number)
    return render_template(
        "review/flags.html",
        filters=filters,
        page=page,
        number=number,
        kinds=flags.flag_kinds(current_user),
        errors=errors,
        message=page_message,
        flag_rules=flag_rules,
        now=utcnow(),
    ), 400 if errors else 200


def _back(flag_id: int, session_id: int, back: str | None):
    if back == "record":
        return redirect(url_for("review.record", session_id=session_id) + f"#flag-{flag_id}")
    return redirect(url_for("review.flags"))


@bp.post("/flags/<id:flag_id>/acknowledge")
@role_required("compliance", "practitioner")
def acknowledge_flag(flag_id: int):
    form = forms.AcknowledgeForm()
    if not form.validate_on_submit():
        return render_template(
            "error.html",
            title="Something in the form was not right",
            message="Go back, reload the page and try again.",
        ), 400
    try:
        flag = flags.acknowledge_flag(current_user, flag_id)
    except DomainError as exc:
        db.session.rollback()
        if exc.status_code != 409:
            raise
        flash(exc.message, "info")
        return redirect(url_for("review.flags"))
    db.session.commit()
    flash("Flag acknowledged.", "success")
    return _back(flag.id, flag.session_id, form.back.data)


@bp.route("/flags/<id:flag_id>/resolve", methods=["GET", "POST"])
@role_required("compliance")
def resolve_flag(flag_id: int):
    form = forms.ResolveForm()
    flag = flags.get_flag(current_user, flag_id)
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            flag = flags.resolve_flag(current_user, flag_id, form.note.data)
        except DomainError as exc:
            db.session.rollback()
            if exc.status_code == 409:
                flash(exc.message, "info")
                return redirect(url_for("review.flags"))
            if exc.status_code != 400:
                raise
            errors = exc.errors
        else:
            db.session.commit()
            flash("Flag resolved.", "success")
            return _back(flag.id, flag.session_id, form.back.data)
    elif form.is_submitted():
        errors = {name: messages[0] for name, messages in form.errors.items()}
    flag = flags.get_flag(current_user, flag_id)
    return render_template(
        "review/flag_resolve.html",
        flag=flag,
        form=form,
        errors=errors,
        back=form.back.data,
        flag_rules=flag_rules,
    ), 400 if errors else 200


@bp.get("/lots")
@role_required("compliance")
def lot_trace():
    query, errors = forms.read_lot_query(request.args)
    after, before, cursor_message = forms.read_cursor(request.args)
    page = None
    if query is not None:
        page = lots.lot_trace(current_user, query, after=after, before=before)
    return render_template(
        "review/lot_trace.html",
        query=query,
        args=request.args,
        page=page,
        errors=errors,
        message=cursor_message,
    ), 400 if errors else 200


def _csv_response(lines, filename: str) -> Response:
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/lots.csv")
@role_required("compliance")
def lot_trace_csv():
    query, errors = forms.read_lot_query(request.args)
    if query is None:
        return render_template(
            "review/lot_trace.html",
            query=None,
            args=request.args,
            page=None,
            errors=errors or {"lot": "Enter the lot number printed on the needle pack."},
            message=None,
        ), 400
    lines = lots.lot_trace_csv(current_user, query)
    db.session.commit()  # the export is audited before the first byte leaves
    return _csv_response(lines, f"lot-trace-{utcnow():%Y%m%d-%H%M%S}.csv")


@bp.get("/records.csv")
@role_required("compliance")
def export_csv():
    filters, errors = forms.read_record_filters(request.args)
    if errors:
        return render_template(
            "review/records.html",
            filters=filters,
            options=records.filter_options(current_user),
            page=None,
            errors=errors,
            message=None,
            search=forms.PatientSearchForm(formdata=None),
            record_rules=record_rules,
        ), 400
    lines = export.export_csv(current_user, filters)
    db.session.commit()
    return _csv_response(lines, f"needlesafe-records-{utcnow():%Y%m%d-%H%M%S}.csv")
