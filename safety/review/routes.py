"""A first look for compliance: signed records, read-only."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from safety.auth.routes import role_required
from safety.checklists import services as checklists

bp = Blueprint("review", __name__, url_prefix="/review")

PAGE_SIZE = 50


@bp.get("/records")
@role_required("compliance")
def records():
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before < 2**31:
        before = None
    rows = checklists.signed_records(current_user, limit=PAGE_SIZE + 1, before_id=before)
    next_before = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return render_template("review/records.html", records=rows[:PAGE_SIZE], next_before=next_before)
