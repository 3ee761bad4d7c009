"""Needle packs through the routes with CSRF on: a scan typed into the lot field, several packs
in one Time out, the scan reader the page's script calls, and the lot trace reading a scan."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import CLEAN_PHASES, login, post_form
from htmlpage import elements
from sqlalchemy import select

from safety.checklists.models import PhaseEntry
from safety.extensions import db
from safety.packs.models import SessionPack

GTIN = "09501101020917"
SCAN = f"]d201{GTIN}17751231{{GS}}10HW-2611A|21S0042"


@pytest.fixture
def practitioner(make_user, make_clinic):
    return make_user("practitioner", clinic=make_clinic(), name="Grace Hopper")


@pytest.fixture
def started(client, practitioner, make_session) -> int:
    session_id = make_session(practitioner, phases=("signin",)).id
    assert login(client, practitioner).status_code == 302
    return session_id


def timeout(client, session_id: int, **changes):
    form = {k: v[0] for k, v in CLEAN_PHASES["timeout"].items()}
    form.update({k.replace("__", "."): v for k, v in changes.items()})
    return post_form(client, f"/sessions/{session_id}/phase/timeout", form)


def packs_of(session_id: int) -> list[tuple]:
    return [
        (p.position, p.gtin, p.lot, p.lot_key, p.expiry, p.serial)
        for p in db.session.scalars(
            select(SessionPack).where(SessionPack.session_id == session_id).order_by(SessionPack.id)
        )
    ]


def test_a_pack_scanned_into_the_lot_field_saves_its_lot_expiry_gtin_and_serial(client, started):
    response = timeout(client, started, timeout__needle_lot=SCAN, timeout__needle_expiry="")

    assert response.status_code == 302
    entry = db.session.scalar(select(PhaseEntry).where(PhaseEntry.phase == "timeout"))
    assert entry.answers["timeout.needle_lot"] == "HW-2611A"
    assert entry.answers["timeout.needle_expiry"] == "2075-12-31"
    assert entry.answers["timeout.packs"] == [
        {"lot": "HW-2611A", "expiry": "2075-12-31", "gtin": GTIN, "serial": "S0042"}
    ]
    assert packs_of(started) == [(1, GTIN, "HW-2611A", "HW-2611A", date(2075, 12, 31), "S0042")]


def test_several_packs_are_saved_in_order_each_under_its_normalised_lot(client, started):
    response = timeout(
        client,
        started,
        timeout__needle_lot="hw-2611a",
        timeout__pack2__lot="ＳＪ－４０８１２",
        timeout__pack2__expiry="2076-01-31",
        timeout__pack3__lot="",
    )

    assert response.status_code == 302
    assert [(p[0], p[2], p[3]) for p in packs_of(started)] == [
        (1, "hw-2611a", "HW-2611A"),
        (2, "ＳＪ－４０８１２", "SJ-40812"),
    ]
    record = client.get(f"/sessions/{started}/phase/timeout").get_data(as_text=True)
    assert 'value="ＳＪ－４０８１２"' in record  # the saved second pack is shown again


def test_a_refused_time_out_shows_every_pack_again_and_saves_none(client, started):
    response = timeout(
        client,
        started,
        timeout__pack2__lot="B2",
        timeout__pack2__expiry="2001-01-01",
        timeout__pack3__lot="C3",
        timeout__pack3__expiry="2030-01-01",
    )

    assert response.status_code == 400
    found = elements(response)
    assert found["timeout.pack2.expiry-error"].text.startswith("This pack has expired")
    assert found["timeout.pack3.lot"].attrs["value"] == "C3"
    assert "timeout.pack5.lot" in found  # two spare rows after the last one filled
    assert "open" in found["more-packs"].attrs  # the refused row is not folded away
    assert packs_of(started) == []


def test_the_further_pack_rows_are_folded_on_a_fresh_time_out_and_open_once_one_is_saved(
    client, started
):
    fresh = elements(client.get(f"/sessions/{started}/phase/timeout"))
    assert fresh["more-packs"].tag == "details" and "open" not in fresh["more-packs"].attrs
    assert "timeout.pack2.lot" in fresh  # folded, not removed: it works without JavaScript

    timeout(client, started, timeout__pack2__lot="SJ-40812", timeout__pack2__expiry="2076-01-31")

    again = elements(client.get(f"/sessions/{started}/phase/timeout"))
    assert "open" in again["more-packs"].attrs


def test_the_time_out_page_offers_the_clinics_recent_packs_still_in_date(
    client, practitioner, make_session
):
    earlier = make_session(practitioner, phases=("signin", "timeout"))
    assert earlier.needle_lot == "LOT-2611A"
    session_id = make_session(practitioner, phases=("signin",)).id
    assert login(client, practitioner).status_code == 302

    page = client.get(f"/sessions/{session_id}/phase/timeout").get_data(as_text=True)

    assert 'data-lot="LOT-2611A"' in page
    assert 'data-expiry="2099-12-31"' in page
    # It offers a lot, never the pack opened before: "Same pack as last session" read as an
    # invitation to use an opened pack again.
    assert "A new pack from the same box?" in page
    assert "Each needle comes from a new sterile pack, opened in front of the patient" in page
    assert "Same pack" not in page


def test_the_scan_reader_answers_the_pages_script_with_the_packs_parts(client, started):
    response = post_form(client, "/packs/scan", {"scan": SCAN})

    assert response.status_code == 200
    assert response.json == {
        "is_gs1": True,
        "lot": "HW-2611A",
        "expiry": "2075-12-31",
        "gtin": GTIN,
        "serial": "S0042",
    }


def test_the_scan_reader_explains_a_scan_it_cannot_read(client, started):
    response = post_form(client, "/packs/scan", {"scan": f"]d201{GTIN[:-1]}8{{GS}}10A"})

    assert response.status_code == 400
    assert "check digit" in response.json["error"]


@pytest.mark.parametrize("scan", ["]J1zzz", "]J110", "]d2\x00\x00"])
def test_a_scan_no_reader_knows_is_explained_on_every_page_that_reads_one(
    client, started, make_user, app, scan
):
    """A DotCode scan ("]J1…") once gave a 500 on Time out, the scan reader and the lot trace."""
    assert post_form(client, "/packs/scan", {"scan": scan}).status_code == 400
    saved = timeout(client, started, timeout__needle_lot=scan, timeout__needle_expiry="")
    assert saved.status_code == 400
    officer = make_user("compliance")
    reviewer = app.test_client()
    login(reviewer, officer)
    assert reviewer.get("/review/lots", query_string={"lot": scan}).status_code in (200, 400)
    assert reviewer.get("/review/lots.csv", query_string={"lot": scan}).status_code in (200, 400)


def test_the_scan_reader_needs_a_csrf_token_and_a_practitioner(client, started, make_user, app):
    assert client.post("/packs/scan", data={"scan": SCAN}).status_code == 400
    officer = make_user("compliance")
    other = app.test_client()
    login(other, officer)
    assert post_form(other, "/packs/scan", {"scan": SCAN}).status_code == 403


def test_the_lot_trace_reads_a_scanned_pack_as_its_gtin_and_lot(client, started, make_user, app):
    timeout(client, started, timeout__needle_lot=SCAN, timeout__needle_expiry="")
    officer = make_user("compliance")
    reviewer = app.test_client()
    login(reviewer, officer)

    page = reviewer.get("/review/lots", query_string={"lot": f"01{GTIN}10hw-2611a"})

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"for lot “HW-2611A” of GTIN {GTIN}" in text
    assert f"#{started}" in text
    reach = " ".join(elements(page)["lot-reach"].text.split())
    assert reach.startswith("Patients to contact1, at Clinic")
    assert "Used byGrace Hopper" in reach


def test_only_the_time_out_page_may_use_the_camera_and_compile_the_vendored_decoder(
    client, started
):
    def policies(url):
        response = client.get(url)
        assert response.status_code == 200
        csp = dict(
            part.strip().split(None, 1)
            for part in response.headers["Content-Security-Policy"].split(";")
        )
        return response, csp, response.headers["Permissions-Policy"]

    time_out, csp, permissions = policies(f"/sessions/{started}/phase/timeout")
    assert csp["script-src"] == "'self' 'wasm-unsafe-eval'"  # WebAssembly, never eval
    assert permissions == "camera=(self), microphone=(), geolocation=()"
    # The Scan button is a template for the script: nothing of it shows without JavaScript.
    page = time_out.get_data(as_text=True)
    template = page[page.index('<template id="camera-scan"') : page.index("</template>")]
    assert page.count("scan-camera") == template.count("scan-camera") == 1
    for other in (f"/sessions/{started}/phase/signin", "/sessions/"):
        _, csp, permissions = policies(other)
        assert csp["script-src"] == "'self'"
        assert permissions.startswith("camera=()")


def test_the_vendored_decoder_is_served_by_the_app_with_its_licence(client, started):
    base = "/static/vendor/zxing-wasm-3.1.8"

    def served(name):
        with client.get(f"{base}/{name}") as response:
            return response.status_code, response.content_type, response.get_data()

    status, kind, wasm = served("zxing_reader.wasm")
    assert (status, kind, wasm[:4]) == (200, "application/wasm", b"\0asm")
    status, _, script = served("reader.js")
    assert status == 200 and b"prepareZXingModule" in script
    assert b"MIT License" in served("LICENSE")[2]
    assert b"Apache License" in served("LICENSE.zxing-cpp")[2]
    time_out = client.get(f"/sessions/{started}/phase/timeout").get_data(as_text=True)
    assert f'data-decoder="{base}/reader.js?v=' in time_out  # by content (safety.assets)
    assert f'data-wasm="{base}/zxing_reader.wasm?v=' in time_out


def test_the_time_out_page_names_the_scanner_substitutes_for_gs_as_code(client, started):
    page = client.get(f"/sessions/{started}/phase/timeout").get_data(as_text=True)

    assert "<code>{GS}</code> or <code>|</code>" in page
    assert "&lt;code&gt;" not in page  # the markup is the page's, not text shown to the reader
    # The two sentences of the hint read as two sentences (a whitespace-trimming comment
    # between them once joined them: "serial number.Scanners").
    assert "the serial number. Scanners that cannot send" in page
