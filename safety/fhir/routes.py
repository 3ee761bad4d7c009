"""FHIR R4 read API (bearer tokens) and the FHIR export of the compliance UI.

The API speaks only `application/fhir+json`: every refusal is an OperationOutcome, never an
HTML page or a redirect to the login form. It is read-only; nothing here changes a record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.dbtypes import utcnow
from safety.errors import DomainError, NotFound
from safety.extensions import csrf, db
from safety.fhir import mapping, params, services, tokens
from safety.integrity import checkpoints

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
# Read-only: every view answers GET, and a write method gets a 405 OperationOutcome instead of
# an HTML CSRF page; there is no state change to forge.
csrf.exempt(bp)

FHIR_JSON = "application/fhir+json"
#: When this CapabilityStatement last changed.
CAPABILITY_DATE = datetime(2026, 11, 24, tzinfo=UTC)
REALM = 'Bearer realm="NeedleSafe FHIR"'


class ApiError(Exception):
    """A refusal the API reports as an OperationOutcome."""

    def __init__(self, status: int, code: str, diagnostics: str, headers=None) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics
        self.headers = headers or {}


def fhir_response(body: dict, status: int = 200, headers=None) -> Response:
    """Return a FHIR resource as application/fhir+json, never cached."""
    response = Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        mimetype=FHIR_JSON,
        headers=headers,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return fhir_response(
        mapping.operation_outcome(error.code, error.diagnostics), error.status, error.headers
    )


@bp.before_request
def _stateless():
    """Keep the API stateless: the app marks every session permanent, which would set a cookie."""
    cookie = current_app.config["SESSION_COOKIE_NAME"]
    if request.endpoint != "fhir.export" and cookie not in request.cookies:
        session.pop("_permanent", None)
        session.modified = False


#: Issue codes (FHIR issue-type) and messages for refusals raised outside the API's own views.
_GENERIC = {
    400: ("invalid", "The request could not be read."),
    404: ("not-found", "Not found."),
    405: ("not-supported", "This FHIR API is read-only."),
    429: ("throttled", "Too many requests: wait a minute and try again."),
}


@bp.after_request
def _outcomes_only(response: Response) -> Response:
    """Answer API clients in FHIR even when the app's own guards refused the request."""
    if request.endpoint == "fhir.export" or response.status_code < 400:
        return response
    if response.mimetype == FHIR_JSON:
        return response
    code, message = _GENERIC.get(response.status_code, ("exception", "Something went wrong."))
    outcome = fhir_response(mapping.operation_outcome(code, message), response.status_code)
    for name in ("WWW-Authenticate", "Allow", "Retry-After"):
        if name in response.headers:
            outcome.headers[name] = response.headers[name]
    return outcome


def bearer_required(view):
    """Let a request through only with a live token of a compliance officer (else 401)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            g.api_token = tokens.authenticate(request.headers.get("Authorization"))
        except tokens.TokenRefused as refused:
            db.session.rollback()
            challenge = REALM if refused.is_missing else f'{REALM}, error="invalid_token"'
            raise ApiError(401, "login", refused.message, {"WWW-Authenticate": challenge}) from None
        return view(*args, **kwargs)

    return wrapper


def _software_version() -> str:
    try:
        return version("needlesafe")
    except PackageNotFoundError:
        return "unknown"


def _base_url() -> str:
    return url_for("fhir.metadata", _external=True).removesuffix("/metadata")


@bp.get("/metadata")
def metadata():
    return fhir_response(
        mapping.capability_statement(
            base_url=_base_url(),
            date_published=CAPABILITY_DATE,
            software_version=_software_version(),
            max_count=params.MAX_COUNT,
        )
    )


@bp.get("/Questionnaire/<resource_id>")
@bearer_required
def read_questionnaire(resource_id: str):
    try:
        body = services.read_questionnaire(resource_id)
    except NotFound:
        raise ApiError(404, "not-found", f"No Questionnaire has the id {resource_id!r}.") from None
    db.session.commit()  # the token's last use
    return fhir_response(body)


@bp.get("/QuestionnaireResponse/<resource_id>")
@bearer_required
def read_response(resource_id: str):
    token = g.api_token
    try:
        body = services.read_record(token.user, resource_id, via=token.prefix)
    except NotFound:
        db.session.rollback()
        raise ApiError(
            404, "not-found", f"No QuestionnaireResponse has the id {resource_id!r}."
        ) from None
    db.session.commit()
    return fhir_response(body)


@bp.get("/AdverseEvent/<resource_id>")
@bearer_required
def read_adverse_event(resource_id: str):
    token = g.api_token
    try:
        body = services.read_adverse_event(token.user, resource_id, via=token.prefix)
    except NotFound:
        db.session.rollback()
        raise ApiError(404, "not-found", f"No AdverseEvent has the id {resource_id!r}.") from None
    db.session.commit()
    return fhir_response(body)


@bp.get("/QuestionnaireResponse")
@bearer_required
def search_responses():
    token = g.api_token
    args = request.args.to_dict(flat=False)
    try:
        search = params.parse_search(args)
    except params.SearchError as exc:
        db.session.rollback()
        raise ApiError(400, "invalid", str(exc)) from None
    page = services.search_records(token.user, search, via=token.prefix)
    db.session.commit()
    base = url_for("fhir.search_responses", _external=True)
    kept = [(k, v) for k, values in args.items() if k != "_cursor" for v in values]
    next_url = None
    if page.next_cursor is not None:
        cursor = params.encode_cursor(page.next_cursor)
        next_url = f"{base}?{urlencode([*kept, ('_cursor', cursor)])}"
    self_query = urlencode([(k, v) for k, values in args.items() for v in values])
    entries = [
        mapping.bundle_entry(
            url_for("fhir.read_response", resource_id=resource["id"], _external=True),
            resource,
            search=True,
        )
        for resource in page.resources
    ]
    return fhir_response(
        mapping.searchset_bundle(
            entries,
            total=page.total,
            self_url=f"{base}?{self_query}" if self_query else base,
            next_url=next_url,
            timestamp=utcnow(),
        )
    )


@bp.get("/export")
@role_required(Role.COMPLIANCE)
def export():
    try:
        start, end = services.read_export_dates(request.args.get("from"), request.args.get("to"))
    except DomainError as exc:
        return render_template(
            "error.html", title="The export was not made", message=exc.message
        ), 400
    services.record_export(current_user, start=start, end=end)
    db.session.commit()
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    latest = checkpoints.latest()
    chunks = services.export_chunks(
        current_user,
        start=start,
        end=end,
        base_url=_base_url(),
        checkpoint=latest.body if latest else None,
    )
    response = Response(stream_with_context(chunks), mimetype=FHIR_JSON)
    response.headers["Content-Disposition"] = f'attachment; filename="needlesafe-fhir-{stamp}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route(
    "/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], endpoint="unsupported"
)
def unsupported(unknown: str):
    if request.method in {"GET", "HEAD"}:
        raise ApiError(404, "not-supported", f"This server does not serve {unknown!r}.")
    raise ApiError(
        405,
        "not-supported",
        "This FHIR API is read-only.",
        {"Allow": "GET"},
    )
