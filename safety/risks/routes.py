"""Checklist template versions: read-only pages for administrators and compliance."""

from __future__ import annotations

from flask import Blueprint, Response, json, render_template

from safety.auth.routes import role_required
from safety.fhir.mapping import questionnaire
from safety.risks import services
from safety.risks.rules import load_register, template_from_definition

bp = Blueprint("risks", __name__, url_prefix="/templates")


@bp.get("/")
@role_required("admin", "compliance")
def templates():
    current = services.current_template()
    return render_template(
        "risks/templates.html", templates=services.list_templates(), current=current
    )


@bp.get("/<int:template_id>")
@role_required("admin", "compliance")
def template(template_id: int):
    version = services.get_template(template_id)
    register = load_register()
    return render_template(
        "risks/template.html",
        version=version,
        template=template_from_definition(version.definition),
        kind_title=register.kind_title,
    )


@bp.get("/<int:template_id>/questionnaire.json")
@role_required("admin", "compliance")
def template_fhir(template_id: int):
    version = services.get_template(template_id)
    body = questionnaire(
        version.definition,
        version=version.version,
        kind_titles={k: v["title"] for k, v in load_register().kinds.items()},
        published_dt=version.published_dt,
        resource_id=str(version.id),
    )
    return Response(json.dumps(body, indent=2), mimetype="application/fhir+json")
