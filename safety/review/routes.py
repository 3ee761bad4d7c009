"""The compliance officer's review: dashboard, records, record detail, flags, lot trace, exports.

Filters travel in the query string as ids and dates only; a patient is found by a posted name
search that answers with links carrying the patient's id, so no name reaches an address or a log.
Each page has one function that builds its context, whichever route renders it; use cases run
through `safety.web.run_use_case`, which commits them (and their audit events) or rolls back.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.clinics import services as clinics
from safety.dbtypes import utcnow
from safety.i18n import current_language
from safety.incidents import rules as incident_rules
from safety.languages import N_
from safety.review import charts, dashboard, export, flags, forms, lots, records
from safety.review.queries import Page
from safety.review.recent import Recent
from safety.review.rules import dashboard as dashboard_rules
from safety.review.rules import flags as flag_rules
from safety.review.rules import records as record_rules
from safety.review.rules.lots import LotQuery
from safety.review.rules.records import RecordFilters
from safety.web import Refused, field_errors, run_use_case, translated

bp = Blueprint("review", __name__, url_prefix="/review")


#: The dashboard's charts and tables as drawn, by the figures they show (recent.py).
_DRAWN = Recent(size=16)


def _said(errors: dict[str, str]) -> dict[str, str]:
    """The forms' messages (written in English, marked N_) in the reader's language."""
    return {name: translated(message) for name, message in errors.items()}


@bp.get("/", endpoint="dashboard")
@role_required(Role.COMPLIANCE)
def dashboard_page():
    months, clinic_id, errors = forms.read_dashboard_args(request.args, dashboard.PERIODS)
    keep = current_app.config["DASHBOARD_CACHE_SECONDS"]
    data = dashboard.dashboard(current_user, months=months, clinic_id=clinic_id, keep_seconds=keep)
    # A thousand bars and table cells: drawn once per set of figures, not once per reader.
    measures = _DRAWN.get(
        (data.start, data.end, data.clinic_id, data.figures_as_of, current_language()),
        data.keep_seconds,
        lambda: Markup(
            render_template(
                "review/_measures.html",
                data=data,
                charts=charts,
                dashboard_rules=dashboard_rules,
            )
        ),
    )
    return render_template(
        "review/dashboard.html",
        data=data,
        charts=charts,
        measures=measures,
        periods=dashboard.PERIODS,
        dashboard_rules=dashboard_rules,
        flag_rules=flag_rules,
        incident_counts=data.incident_counts,
        incident_rules=incident_rules,
        errors=_said(errors),
    ), 400 if errors else 200


# --- records ---------------------------------------------------------------------------------


def _render_records(
    filters: RecordFilters,
    errors: dict[str, str],
    *,
    page: Page | None = None,
    message: str | None = None,
):
    """Render the record list; the list and a refused export both answer with it."""
    return render_template(
        "review/records.html",
        filters=filters,
        options=records.filter_options(current_user, patient_id=filters.patient_id),
        page=page,
        errors=_said(errors),
        message=translated(message),
        search=forms.PatientSearchForm(formdata=None),
        record_rules=record_rules,
    ), 400 if errors else 200


@bp.get("/records", endpoint="records")
@role_required(Role.COMPLIANCE)
def records_page():
    filters, errors = forms.read_record_filters(request.args)
    after, before, cursor_message = forms.read_cursor(request.args)
    page = None
    if not errors:
        page = records.find_records(current_user, filters, after=after, before=before)
    return _render_records(filters, errors, page=page, message=cursor_message)


@bp.post("/records/patient")
@role_required(Role.COMPLIANCE)
def patient_search():
    form = forms.PatientSearchForm()
    errors: dict[str, str] = {}
    found: list = []
    if form.validate_on_submit():
        found = records.find_patients(current_user, form.name.data)
        if len(found) == 1:
            return redirect(url_for("review.records", patient=found[0][0]))
    else:
        errors = field_errors(form)
    return render_template(
        "review/patients.html", form=form, found=found, errors=errors
    ), 400 if errors else 200


def _render_record(template: str, session_id: int, **context):
    """Render a record, on screen or for paper; reading it is audited, and that is kept."""
    detail = run_use_case(
        lambda: records.record_detail(current_user, session_id), shown=(), keep_loaded=True
    )
    return render_template(
        template,
        detail=detail,
        history=detail.history,
        record_rules=record_rules,
        flag_rules=flag_rules,
        **context,
    )


@bp.get("/records/<id:session_id>")
@role_required(Role.COMPLIANCE, Role.PRACTITIONER)
def record(session_id: int):
    return _render_record("review/record.html", session_id)


@bp.get("/records/<id:session_id>/print")
@role_required(Role.COMPLIANCE, Role.PRACTITIONER)
def record_print(session_id: int):
    return _render_record("review/record_print.html", session_id, printed_dt=utcnow())


# --- flags -----------------------------------------------------------------------------------


@bp.get("/flags", endpoint="flags")
@role_required(Role.COMPLIANCE, Role.PRACTITIONER)
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
        clinics=[(c.id, c.name) for c in clinics.clinics_to_filter(current_user)],
        errors=_said(errors),
        message=translated(page_message),
        flag_rules=flag_rules,
        now=utcnow(),
    ), 400 if errors else 200


def _back(flag_id: int, session_id: int, back: str | None):
    if back == "record":
        return redirect(url_for("review.record", session_id=session_id) + f"#flag-{flag_id}")
    return redirect(url_for("review.flags"))


def _to_the_queue(refused: Refused):
    """Someone else got there first: say so kindly and show the queue."""
    flash(refused.message, "info")
    return redirect(url_for("review.flags"))


@bp.post("/flags/<id:flag_id>/acknowledge")
@role_required(Role.COMPLIANCE, Role.PRACTITIONER)
def acknowledge_flag(flag_id: int):
    form = forms.AcknowledgeForm()
    if not form.validate_on_submit():
        return render_template(
            "error.html",
            title=_("Something in the form was not right"),
            message=_("Go back, reload the page and try again."),
        ), 400
    outcome = run_use_case(lambda: flags.acknowledge_flag(current_user, flag_id), shown=(409,))
    if isinstance(outcome, Refused):
        return _to_the_queue(outcome)
    flash(_("Flag acknowledged."), "success")
    return _back(outcome.id, outcome.session_id, form.back.data)


@bp.route("/flags/<id:flag_id>/resolve", methods=["GET", "POST"])
@role_required(Role.COMPLIANCE)
def resolve_flag(flag_id: int):
    form = forms.ResolveForm()
    flags.get_flag(current_user, flag_id)  # another's flag is not found, before any form
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        outcome = run_use_case(
            lambda: flags.resolve_flag(current_user, flag_id, form.note.data), shown=(400, 409)
        )
        if not isinstance(outcome, Refused):
            flash(_("Flag resolved."), "success")
            return _back(outcome.id, outcome.session_id, form.back.data)
        if outcome.status == 409:
            return _to_the_queue(outcome)
        errors = outcome.errors
    elif form.is_submitted():
        errors = field_errors(form)
    return render_template(
        "review/flag_resolve.html",
        flag=flags.get_flag(current_user, flag_id),
        form=form,
        errors=_said(errors),
        # Started from a record ("Resolve with a note" links carry ?back=record): go back there.
        back=form.back.data if form.is_submitted() else request.args.get("back"),
        flag_rules=flag_rules,
    ), 400 if errors else 200


# --- lot trace and downloads -----------------------------------------------------------------


def _render_lot_trace(
    query: LotQuery | None,
    errors: dict[str, str],
    *,
    page: Page | None = None,
    reach: lots.Reach | None = None,
    message: str | None = None,
):
    """Render the lot trace; the trace and a refused recall CSV both answer with it."""
    return render_template(
        "review/lot_trace.html",
        query=query,
        args=request.args,
        page=page,
        reach=reach,
        errors=_said(errors),
        message=translated(message),
    ), 400 if errors else 200


@bp.get("/lots")
@role_required(Role.COMPLIANCE)
def lot_trace():
    query, errors = forms.read_lot_query(request.args)
    after, before, cursor_message = forms.read_cursor(request.args)
    page = reach = None
    if query is not None:
        page = lots.lot_trace(current_user, query, after=after, before=before)
        reach = lots.lot_reach(current_user, query)
    return _render_lot_trace(query, errors, page=page, reach=reach, message=cursor_message)


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
@role_required(Role.COMPLIANCE)
def lot_trace_csv():
    query, errors = forms.read_lot_query(request.args)
    if query is None:
        return _render_lot_trace(
            None, errors or {"lot": N_("Enter the lot number printed on the needle pack.")}
        )
    # Committed before the first byte leaves: the export's audit event.
    lines = run_use_case(lambda: lots.lot_trace_csv(current_user, query), shown=())
    return _csv_response(lines, f"lot-trace-{clinics.reader_now(current_user):%Y%m%d-%H%M%S}.csv")


@bp.get("/records.csv")
@role_required(Role.COMPLIANCE)
def export_csv():
    filters, errors = forms.read_record_filters(request.args)
    if errors:
        return _render_records(filters, errors)
    lines = run_use_case(lambda: export.export_csv(current_user, filters), shown=())
    return _csv_response(
        lines, f"needlesafe-records-{clinics.reader_now(current_user):%Y%m%d-%H%M%S}.csv"
    )
