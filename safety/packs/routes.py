"""Read a scan for the Time out page's script, so a scanned pack fills its fields at once.

Without JavaScript the same reading happens when the phase is saved; this only lets the
page show the lot and expiry (and refuse an expired pack) before anything is saved.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext

from safety.auth.models import Role
from safety.auth.policy import role_required
from safety.packs import rules
from safety.web import translated

bp = Blueprint("packs", __name__, url_prefix="/packs")

#: Longer than any GS1 barcode a pack carries (a DataMatrix holds at most a few hundred).
SCAN_MAX = 500


@bp.post("/scan")
@role_required(Role.PRACTITIONER)
def scan():
    text = request.form.get("scan", "")
    if len(text) > SCAN_MAX:
        return jsonify(error=gettext("This scan is too long to be a needle pack's barcode.")), 400
    try:
        found = rules.read_scan(text)
        if found.lot:
            rules.check_lot(found.lot)
    except rules.PackError as exc:
        return jsonify(error=translated(exc.message)), 400
    return jsonify(
        is_gs1=found.is_gs1,
        lot=found.lot,
        expiry=found.expiry.isoformat() if found.expiry else None,
        gtin=found.gtin,
        serial=found.serial,
    )
