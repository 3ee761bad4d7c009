"""Checklist template versions: read-only pages for administrators and compliance."""

from __future__ import annotations

from flask import Blueprint, Response, json, render_template
from flask_login import current_user

from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.clinics import services as clinics
from safety.fhir.services import template_questionnaire
from safety.risks import services
from safety.risks.rules import load_register, template_from_definition

bp = Blueprint("risks", __name__, url_prefix="/templates")


@bp.get("/")
@role_required(Role.ADMIN, Role.COMPLIANCE)
def templates():
    current = services.current_template()
    return render_template(
        "risks/templates.html",
        templates=services.list_templates(),
        current=current,
        zone=clinics.reading_zone(current_user),
    )


@bp.get("/<id:template_id>")
@role_required(Role.ADMIN, Role.COMPLIANCE)
def template(template_id: int):
    version = services.get_template(template_id)
    register = load_register()
    return render_template(
        "risks/template.html",
        version=version,
        template=template_from_definition(version.definition),
        kind_title=register.kind_title,
        followup=register.followup,
        register_version=register.version,
        source=register.source,
        zone=clinics.reading_zone(current_user),
    )


@bp.get("/<id:template_id>/questionnaire.json")
@role_required(Role.ADMIN, Role.COMPLIANCE)
def template_fhir(template_id: int):
    body = template_questionnaire(services.get_template(template_id))
    return Response(json.dumps(body, indent=2), mimetype="application/fhir+json")
