"""FHIR R4 read API (bearer tokens) and FHIR exports."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
