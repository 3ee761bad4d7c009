"""Browser fixtures: Debian's Chromium driven by Playwright against the real app served live.

The app under test is the `app` fixture of tests/conftest.py (a migrated SQLite file, or the
truncated PostgreSQL test database), served from a background thread by werkzeug on a free
port of 127.0.0.1. CSRF stays on: the browser fills and posts the real forms. One Chromium runs
per test session; every test gets fresh contexts so no cookie leaks from one journey to another.

Each page a journey visits goes through `Journey.check`: a check that nothing is wider than
the screen, and an axe-core scan (WCAG 2.2 AA rule tags) that fails on a serious or critical
violation. Every context records console errors and page errors, which include the
Content-Security-Policy reports Chromium logs for an inline style or script; a test fails if
any was seen.

Screenshots go to test-artifacts/: of every open page when a journey fails, and of every page
a journey checks when SCREENSHOTS=1 is set (`SCREENSHOTS=1 make test TESTS=tests/browser`,
how the README's pictures are taken). Taking them on every run cost a fifth of the journeys'
CPU for pictures nobody looked at: the journeys took 128.7 and 139.5 CPU-seconds with a
screenshot of each checked page, 101.8 and 108.6 without it and without the GPU process
below (three workers, 2 cores, 2026-12-07).
"""

from __future__ import annotations

import base64
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.base import AxeResults
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import WSGIRequestHandler, make_server

from safety.extensions import db

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
#: Debian's Chromium, as its headless shell where that package is installed (CI installs it):
#: the same Blink and V8 without the full browser's windowing and compositing, which is what
#: Playwright itself runs headless. The journeys took 139 CPU-seconds on `chromium` and 98 on
#: the shell, on this project's 2-core machine (2026-12-06), with the same 32 tests passing.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or next(
    (p for p in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if os.path.exists(p)),
    "/usr/bin/chromium",
)
#: Chromium's flags. Headless, it already draws and composites in software; its GPU process
#: only emulated a GPU with SwiftShader for WebGL, which the app does not use (the camera
#: journey decodes its barcode from a 2D canvas). Without it the screen-size journeys took
#: 10 % less CPU (28.1 and 28.2 against 31.3 and 31.7 CPU-seconds, 2026-12-07).
CHROMIUM_ARGS = ["--disable-gpu"]
#: Whether every checked page is photographed, not only those of a failed journey.
SCREENSHOTS = os.environ.get("SCREENSHOTS", "") not in ("", "0")

#: axe-core rule tags for WCAG 2.2 level AA (each version's A and AA criteria).
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_22_AA}, "resultTypes": ["violations"]}
#: axe-core itself (570 KB), evaluated into a page when it is first scanned (`Journey.check`).
#: Loaded instead into every document of every context before its own scripts, it was parsed
#: again for each page a journey passes through (a form's post, its redirect, each page of a
#: context that is never scanned): the journeys took 124.4-128.2 CPU-seconds that way against
#: 112.6-124.5 now, three runs each, alternating (three workers, 2 cores, 2026-12-07). Only the
#: top document is scanned so (an init script reached frames too); the app has no frames.
AXE_SOURCE = Axe().axe_script
#: The same scan without colour contrast, which `CONTRAST_SCAN` checks apart (`CONTRAST_KEYS`).
AXE_OPTIONS_NO_CONTRAST = {**AXE_OPTIONS, "rules": {"color-contrast": {"enabled": False}}}
#: Colour contrast alone.
AXE_OPTIONS_CONTRAST = {
    "runOnly": {"type": "rule", "values": ["color-contrast"]},
    "resultTypes": ["violations"],
}
#: Whether a page has axe-core already (an element named "axe" would also be `window.axe`).
AXE_LOADED = "() => typeof window.axe?.run === 'function'"
#: What axe's colour-contrast verdict on a piece of text depends on, one key per distinct
#: combination on the page: the text's colour, size, weight, shadow and opacity, and the
#: background colours (and whether an image) behind it up to the first opaque one, and whether
#: it sits in a positioned box that could lie over something else. Every element on screen
#: with text of its own, and every form control on screen, gives one; what axe leaves out as
#: hidden (display or visibility, a closed details, no opacity, the 1-pixel box of visually
#: hidden text) is left out here too, so a key is only counted checked where axe checked it.
#: The elements showing each key are kept in the page (`window.contrastKeyElements`), for
#: `CONTRAST_SCAN` to check only those whose key is new.
CONTRAST_KEYS = r"""() => {
    const behind = new Map();
    const backdrop = element => {
        if (!element || element.nodeType !== 1) return "end";
        if (behind.has(element)) return behind.get(element);
        const style = getComputedStyle(element);
        const own = [style.backgroundColor, style.backgroundImage !== "none" ? "image" : "",
                     style.opacity, ["absolute", "fixed", "sticky"].includes(style.position)
                       ? "positioned" : ""].join(" ");
        const opaque = /^rgb\(/.test(style.backgroundColor) && style.backgroundImage === "none";
        const key = opaque ? own : own + " / " + backdrop(element.parentElement);
        behind.set(element, key);
        return key;
    };
    const keys = new Map();
    for (const element of document.body.querySelectorAll("*")) {
        const control = element.matches("input, select, textarea, button");
        const text = Array.from(element.childNodes).some(
            node => node.nodeType === 3 && node.textContent.trim());
        if (!control && !text) continue;
        if (!element.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
        const box = element.getBoundingClientRect();
        if (box.width <= 1 || box.height <= 1) continue;
        const style = getComputedStyle(element);
        const key = [element.localName, style.color, style.fontSize, style.fontWeight,
                     style.textShadow, backdrop(element)].join(" | ");
        keys.set(key, [...(keys.get(key) || []), element]);
    }
    window.contrastKeyElements = keys;
    return Array.from(keys.keys());
}"""
#: axe's colour-contrast rule alone, on the elements that show one of the given keys (and what
#: they hold). It was two thirds of a whole-page scan: on a page with one new key among forty,
#: the other thirty-nine keys' elements were checked again for a verdict already known.
CONTRAST_SCAN = """([keys, options]) => axe.run(
    {include: keys.flatMap(key => window.contrastKeyElements.get(key))}, options)"""
#: The colour keys whose contrast this test process has checked, on pages that passed. A page's
#: colour contrast is checked only on the elements showing a key not in here: the same colours
#: on the same backgrounds at the same size give the same verdict, and that rule was two
#: thirds of every scan (816 ms of 1,225 on a 724-element page). A new colour, background or
#: size on any page, at any screen width, is checked there.
CHECKED_CONTRAST: set[str] = set()
#: The impacts that fail a test; minor and moderate findings are kept in test-artifacts/.
BLOCKING_IMPACTS = {"serious", "critical"}

TABLET = {"viewport": {"width": 768, "height": 1024}, "has_touch": True, "is_mobile": True}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator:
    """Playwright, once per test run, when Debian's Chromium is there to drive (Playwright's own
    download needs a network); the tests are skipped without it, or fail under
    REQUIRE_BROWSER_TESTS."""
    if not os.path.exists(CHROMIUM):
        message = (
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install "
            "chromium-headless-shell` (or `chromium`, or point CHROMIUM_PATH at a Chromium "
            "binary) to run the browser tests."
        )
        # CI installs Chromium and sets this, so a failed install can never pass as a skip.
        if os.environ.get("REQUIRE_BROWSER_TESTS"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    running = sync_playwright().start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser(playwright_driver) -> Iterator:
    """Launch Debian's Chromium once per test run."""
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


class QuietHandler(WSGIRequestHandler):
    """Keep the access log out of test reports: a failing journey shows its own steps."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class LiveServer:
    """The app served over real HTTP from a thread, so a browser can use it."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """Serve the test's app on a free local port until the test ends."""
    server = LiveServer(app)
    app.config.update(
        # Links in patient emails must point at this server, not at the testing default.
        BASE_URL=server.url,
        # The browser talks plain http to 127.0.0.1: a Secure cookie would never come back,
        # so make sure the environment cannot turn it on for these tests.
        SESSION_COOKIE_SECURE=False,
    )
    # Whatever the factories created must be committed before the browser can see it.
    db.session.commit()
    server.start()
    yield server
    server.stop()


def full_page_png(page, *, scripts: bool = True) -> bytes:
    """The whole page as a PNG, pixel for pixel what `page.screenshot(full_page=True)` takes,
    but encoded for speed (a bigger file): Playwright does not offer Chromium's option, and
    the encoding was about a third of Chromium's work for a screenshot, some 10 s of CPU over
    the journeys.

    Right after a navigation the new page may not have drawn a frame yet, and Chromium then
    answers "Unable to capture screenshot" (seen once in about ten runs of the journeys on its
    headless shell). Then it waits for the page to draw two animation frames (the wait
    Playwright's own screenshot assertions make) and asks once more; a page whose context runs
    no scripts (`scripts=False`) cannot be asked that (an evaluation there never returns), and
    is given 100 ms instead. Waiting before every screenshot cost 1.5 s over two journeys."""
    devtools = page.context.new_cdp_session(page)
    try:
        for attempt in range(2):
            if attempt and scripts:
                page.evaluate(DRAWN)
            elif attempt:
                page.wait_for_timeout(100)
            size = devtools.send("Page.getLayoutMetrics")["cssContentSize"]
            try:
                shot = devtools.send(
                    "Page.captureScreenshot",
                    {
                        "format": "png",
                        "optimizeForSpeed": True,
                        "captureBeyondViewport": True,
                        "clip": {
                            "x": 0,
                            "y": 0,
                            "width": math.ceil(size["width"]),
                            "height": math.ceil(size["height"]),
                            "scale": 1,
                        },
                    },
                )
                break
            except PlaywrightError as exc:
                if attempt or "Unable to capture screenshot" not in str(exc):
                    raise
    finally:
        devtools.detach()
    return base64.b64decode(shot["data"])


def axe_scan(page) -> AxeResults:
    """Run axe-core on the page, evaluating it into the page first if it is not there yet,
    with colour contrast on the elements showing a colour key not checked before
    (`CHECKED_CONTRAST`, which a clean contrast scan adds its keys to).

    A page that reloads itself (the verification page's Refresh while a check waits) may
    replace its document between the two, or during the scan: then the new document, once it
    has loaded, is scanned instead, once."""
    for attempt in range(2):
        try:
            new = sorted(set(page.evaluate(CONTRAST_KEYS)) - CHECKED_CONTRAST)
            if not page.evaluate(AXE_LOADED):
                page.evaluate(AXE_SOURCE)
            response = page.evaluate("options => axe.run(options)", AXE_OPTIONS_NO_CONTRAST)
            if new:
                contrast = page.evaluate(CONTRAST_SCAN, [new, AXE_OPTIONS_CONTRAST])
                response["violations"] += contrast["violations"]
                if not contrast["violations"]:
                    CHECKED_CONTRAST.update(new)
            return AxeResults(response)
        except PlaywrightError as exc:
            replaced = ("axe is not defined", "Execution context was destroyed")
            if attempt or not any(reason in str(exc) for reason in replaced):
                raise
            page.wait_for_load_state("load")
    raise AssertionError("unreachable")


#: Resolves once the page has drawn two frames since it was called.
DRAWN = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


@dataclass
class Journey:
    """One test's browser contexts, with the errors they logged and the checks they ran."""

    browser: object
    base_url: str
    name: str
    contexts: list = field(default_factory=list)
    scriptless: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    shots: int = 0

    def page(self, device: dict | None = None, *, javascript: bool = True, locale: str = "en-GB"):
        """Open a page in a fresh context (no cookies) for a device, listening for errors."""
        context = self.browser.new_context(
            base_url=self.base_url,
            java_script_enabled=javascript,
            locale=locale,
            timezone_id="Europe/London",
            accept_downloads=True,
            **(device or DESKTOP),
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        if not javascript:
            self.scriptless.append(context)
        page = context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page

    def log_in(self, page, email: str, password: str) -> None:
        """Log in through the form, for journeys whose subject is what comes after."""
        page.goto("/auth/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()

    def _console(self, message) -> None:
        if message.type != "error":
            return
        # A form refused with 400 is the app answering correctly, but Chromium still logs the
        # page itself as a failed load. Only that is let through: a 400 on a stylesheet or a
        # script, or any other status, is a real problem.
        refused_form = message.text.startswith(
            "Failed to load resource: the server responded with a status of 400"
        )
        if refused_form and message.location.get("url") == message.page.url:
            return
        self.problems.append(f"console {message.type}: {message.text}")

    def artifact(self, filename: str) -> Path:
        """Return a path in test-artifacts/ named after this journey."""
        ARTIFACTS.mkdir(exist_ok=True)
        return ARTIFACTS / f"{self.name}-{filename}"

    def check(self, page, step: str) -> None:
        """Fail on a page wider than the screen or on serious accessibility problems (with
        SCREENSHOTS=1, photograph the page into test-artifacts/ first)."""
        page.wait_for_load_state("load")
        self.shots += 1
        if SCREENSHOTS:
            self.photograph(page, f"{self.shots:02d}-{step}")
        if page.context in self.scriptless:
            # axe-core runs as a page script, which a context without JavaScript never runs;
            # the same templates are scanned with JavaScript on in the other journeys.
            return
        # Nothing wider than the screen: a tablet or phone user never scrolls sideways to read.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], f"{step} is {width}px wide"
        results = axe_scan(page)
        # Kept beside the screenshot, so minor and moderate findings can be read and worked on.
        results.save_to_file(
            self.artifact(f"{self.shots:02d}-{step}-axe.json"), violations_only=True
        )
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
        report = "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + "; ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:5])
            for v in blocking
        )
        assert not blocking, f"axe found on {step} ({page.url}):\n{report}"

    def photograph(self, page, name: str) -> None:
        """Save the whole page as test-artifacts/<journey>-<name>.png."""
        shot = full_page_png(page, scripts=page.context not in self.scriptless)
        self.artifact(f"{name}.png").write_bytes(shot)

    def photograph_open_pages(self) -> None:
        """Photograph every page still open, for reading why a journey failed; a page that
        cannot be drawn any more (closed, crashed) is noted instead of hiding the failure."""
        for n, context in enumerate(self.contexts, start=1):
            for m, page in enumerate(context.pages, start=1):
                try:
                    self.photograph(page, f"failed-{n}-{m}")
                except (PlaywrightError, OSError) as exc:
                    self.artifact(f"failed-{n}-{m}.txt").write_text(f"{page.url}: {exc}\n")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so `journey` knows whether its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def run_journey(request, browser, base_url: str) -> Iterator[Journey]:
    """Pages for one journey in `browser`, closed afterwards (the body of a journey fixture).

    The test fails if any page logged a JS or CSP error; a journey that failed either way
    leaves a screenshot of each page still open in test-artifacts/."""
    run = Journey(browser=browser, base_url=base_url, name=request.node.name)
    yield run
    try:
        call = getattr(request.node, "report_call", None)
        if run.problems or (call is not None and call.failed):
            run.photograph_open_pages()
    finally:
        run.close()
    assert not run.problems, "the browser reported errors:\n" + "\n".join(run.problems)


@pytest.fixture
def journey(request, browser, live_server) -> Iterator[Journey]:
    """Pages for one journey in the run's Chromium (`run_journey`)."""
    yield from run_journey(request, browser, live_server.url)
