"""A practitioner scans a needle pack with the tablet's camera, in a real Chromium whose camera
is Chromium's fake capture device playing a video of a GS1 DataMatrix or GS1-128 drawn here
(pystrich): the vendored decoder reads it in the page, the lot field gets the text a hand
scanner would type, and the lot, expiry and GTIN are filled before anything is saved. Without
a camera, or without JavaScript, there is no Scan button and the pack is typed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from safety.extensions import db
from safety.packs.models import SessionPack

from .conftest import CHROMIUM, CHROMIUM_ARGS, TABLET, Journey, run_journey
from .test_packs_journey import TIME_OUT, field, timeout_saved

pytestmark = pytest.mark.browser

GTIN = "09501101020917"
#: The scan the page posts to be read (a multipart form).
SCAN_FIELD = r'name="scan"\r\n\r\n(.*?)\r\n--'
#: What the fake camera shows: frames of the y4m format Chromium's fake capture device plays.
WIDTH, HEIGHT = 1280, 720


def barcode_video(path: Path, symbology: str) -> Path:
    """Write a Y4M video of a GS1 barcode (DataMatrix or GS1-128) of a pack: GTIN, expiry
    31 May 2030, lot, GS, serial."""
    from PIL import Image
    from pystrich.code128 import Code128Data, Code128Encoder
    from pystrich.datamatrix import DataMatrixData, DataMatrixEncoder
    from pystrich.gs1 import GS1Fixed, GS1Variable

    fields = (
        GS1Fixed("01", GTIN),
        GS1Fixed("17", "300531"),
        GS1Variable("10", "HW-2611A"),
        GS1Variable("21", "S0042"),
    )
    if symbology == "DataMatrix":
        symbol = DataMatrixEncoder(DataMatrixData.gs1(*fields)).get_pilimage(12)
    else:
        symbol = Code128Encoder(Code128Data.gs1(*fields)).get_pilimage(bar_width=3)
    symbol = symbol.convert("L")
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(symbol, ((WIDTH - symbol.width) // 2, (HEIGHT - symbol.height) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(2):
            out.write(b"FRAME\n" + luma + chroma + chroma)
    return path


@pytest.fixture(scope="module", params=["DataMatrix", "GS1-128"])
def camera_browser(request, playwright_driver, tmp_path_factory) -> Iterator:
    """A Chromium whose camera is a fake device showing a pack's barcode, allowed unasked."""
    video = barcode_video(tmp_path_factory.mktemp("camera") / "barcode.y4m", request.param)
    chromium = playwright_driver.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    yield chromium
    chromium.close()


@pytest.fixture
def camera_journey(request, camera_browser, live_server) -> Iterator[Journey]:
    yield from run_journey(request, camera_browser, live_server.url)


@pytest.fixture
def time_out_page(make_clinic, make_user, make_patient, make_session):
    """A practitioner's session waiting for its Time out, and a way to open that page."""
    practitioner = make_user("practitioner", clinic=make_clinic("Harbour Physio"))
    session = make_session(practitioner, phases=("signin",), patient=make_patient(practitioner))

    def open_in(journey: Journey, **page_options):
        page = journey.page(TABLET, **page_options)
        journey.log_in(page, practitioner.email, PASSWORD)
        return page

    return session, open_in


def scan_buttons(page):
    return page.get_by_role("button", name="Scan with camera", exact=False)


def test_a_pack_scanned_with_the_camera_fills_lot_expiry_and_gtin(
    request, camera_journey, time_out_page
):
    session, open_in = time_out_page
    page = open_in(camera_journey)
    scans = []
    page.on(
        "request",
        lambda sent: (
            scans.append(re.search(SCAN_FIELD, sent.post_data, re.S).group(1))
            if sent.url.endswith("/packs/scan")
            else None
        ),
    )
    page.goto(f"/sessions/{session.id}/phase/timeout")
    for name, value in TIME_OUT.items():
        page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])').tap()
    # One button per lot field: the first pack's and each further pack row's (unfolded).
    page.get_by_text("More packs opened for this session").tap()
    lot_fields = page.locator("input[data-scan]").count()
    assert lot_fields > 1
    expect(scan_buttons(page)).to_have_count(lot_fields)
    camera_journey.check(page, "scan-buttons")

    page.get_by_role("button", name="Scan with camera for Needle lot", exact=False).click()

    expect(field(page, "timeout.needle_lot")).to_have_value("HW-2611A", timeout=20_000)
    expect(field(page, "timeout.needle_expiry")).to_have_value("2030-05-31")
    expect(field(page, "timeout.pack1.gtin")).to_have_value(GTIN)
    expect(page.locator("dialog.camera-scan")).not_to_be_visible()
    assert not timeout_saved(session.id)  # filled, not saved
    # What went into the field is what a hand scanner types: the symbology prefix, {GS} for GS.
    prefix = {"DataMatrix": "]d2", "GS1-128": "]C1"}[request.node.callspec.params["camera_browser"]]
    assert scans == [f"{prefix}01{GTIN}17300531" + "10HW-2611A{GS}21S0042"]
    camera_journey.check(page, "scanned-with-camera")

    page.get_by_role("button", name="Save Time out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    db.session.expire_all()
    packs = db.session.scalars(select(SessionPack).where(SessionPack.session_id == session.id))
    assert [(p.lot, p.gtin, p.serial, p.expiry.isoformat()) for p in packs] == [
        ("HW-2611A", GTIN, "S0042", "2030-05-31")
    ]


@pytest.mark.parametrize("without", ["camera", "javascript"])
def test_without_a_camera_or_javascript_there_is_no_scan_button_and_a_lot_is_typed(
    journey, time_out_page, without
):
    session, open_in = time_out_page
    page = open_in(journey, javascript=without != "javascript")
    if without == "camera":
        page.context.add_init_script(
            "Object.defineProperty(Navigator.prototype, 'mediaDevices', "
            "{get: () => undefined, configurable: true})"
        )
    page.goto(f"/sessions/{session.id}/phase/timeout")
    if without == "camera":
        assert page.evaluate("navigator.mediaDevices === undefined")
        expect(page.locator('[id="timeout.pack2.lot"][data-scan]')).to_have_count(1)

    expect(scan_buttons(page)).to_have_count(0)
    expect(page.locator("dialog")).to_have_count(0)
    journey.check(page, f"no-scan-button-without-{without}")
    for name, value in TIME_OUT.items():
        page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])').click()
    field(page, "timeout.needle_lot").fill("sj-40812")
    field(page, "timeout.needle_expiry").fill("2031-01-31")
    page.get_by_role("button", name="Save Time out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    assert timeout_saved(session.id)


def test_a_camera_that_cannot_start_says_so_and_the_lot_is_typed(journey, time_out_page):
    # The ordinary test browser has no camera to give: the page asks, is refused or finds
    # none, and says what to do instead.
    session, open_in = time_out_page
    page = open_in(journey)
    page.goto(f"/sessions/{session.id}/phase/timeout")
    page.get_by_text("More packs opened for this session").click()
    page.get_by_role("button", name="Scan with camera for Pack 2 lot").click()

    dialog = page.get_by_role("dialog", name="Scan the pack's barcode")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("status")).to_contain_text("Type the lot, or use a hand scanner.")
    journey.check(page, "camera-refused")
    dialog.get_by_role("button", name="Close the camera").click()
    expect(dialog).not_to_be_visible()
    field(page, "timeout.pack2.lot").fill("SJ-40812")
    expect(field(page, "timeout.pack2.lot")).to_have_value("SJ-40812")
