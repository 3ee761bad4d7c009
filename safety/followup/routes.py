"""Patient follow-up: the patient form, follow-up timelines and the development outbox."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "followup",
    __name__,
)
