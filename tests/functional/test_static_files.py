"""Static files a tablet keeps between pages: each URL names its file's content (safety.assets),
so the stylesheet, the scripts and the 950 KB barcode decoder are fetched once per release
instead of asked for again on every page, while the signed-in pages are still never stored."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from conftest import login
from flask import url_for
from sqlalchemy import event

from safety.extensions import db

STYLESHEET = re.compile(r'href="(/static/needlesafe\.css\?v=([0-9a-f]+))"')


def digest(app, filename: str) -> str:
    return hashlib.sha256((Path(app.static_folder) / filename).read_bytes()).hexdigest()[:12]


def test_a_signed_in_page_links_its_files_by_content_and_they_may_be_kept_for_a_year(
    app, client, make_user
):
    login(client, make_user("practitioner"))
    page = client.get("/sessions/")
    assert page.headers["Cache-Control"] == "no-store"  # the page itself is never kept

    url, version = STYLESHEET.search(page.get_data(as_text=True)).groups()
    assert version == digest(app, "needlesafe.css")
    with client.get(url) as stylesheet:
        assert stylesheet.status_code == 200
        assert stylesheet.headers["Cache-Control"] == "max-age=31536000, immutable"


def test_a_static_file_asked_for_without_its_version_or_with_an_old_one_is_checked_again(
    client, make_user
):
    login(client, make_user("practitioner"))
    for url in ("/static/needlesafe.css", "/static/needlesafe.css?v=000000000000"):
        with client.get(url) as fetched:
            assert fetched.status_code == 200
            assert fetched.headers["Cache-Control"] == "no-cache", url
            tag = fetched.headers["ETag"]
        with client.get(url, headers={"If-None-Match": tag}) as again:
            assert again.status_code == 304, url  # unchanged: nothing sent again


def test_the_decoder_the_time_out_page_names_is_versioned_and_kept(
    app, client, make_user, make_session
):
    ada = make_user("practitioner")
    session = make_session(ada, phases=("signin",))
    login(client, ada)
    page = client.get(f"/sessions/{session.id}/phase/timeout").get_data(as_text=True)
    wasm = re.search(r'data-wasm="([^"]+)"', page).group(1)

    name = "vendor/zxing-wasm-3.1.8/zxing_reader.wasm"
    assert wasm == f"/static/{name}?v={digest(app, name)}"
    with client.get(wasm) as decoder:
        assert decoder.headers["Cache-Control"].endswith("immutable")


def test_a_changed_file_gets_a_new_url(app, tmp_path):
    app.static_folder = str(tmp_path)
    (tmp_path / "note.css").write_text("p { color: black }")
    with app.test_request_context():
        first = url_for("static", filename="note.css")
        (tmp_path / "note.css").write_text("p { color: navy }")
        # A new release writes the file anew: its time changes with its content.
        os.utime(tmp_path / "note.css", (1, 1))
        second = url_for("static", filename="note.css")
    assert first != second
    assert second.endswith("v=" + hashlib.sha256(b"p { color: navy }").hexdigest()[:12])


def test_serving_a_static_file_does_not_read_the_database(app, client, make_user):
    login(client, make_user("practitioner"))
    statements = []

    def count(*args) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with client.get("/static/checklist.js") as script:
            assert script.status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []


def test_a_static_file_carries_no_session_cookie_and_a_missing_one_is_a_page_not_kept(
    client, make_user
):
    login(client, make_user("practitioner"))
    with client.get("/static/needlesafe.css") as stylesheet:
        assert "Set-Cookie" not in stylesheet.headers
    assert "Set-Cookie" in client.get("/sessions/").headers  # a page still renews it

    missing = client.get("/static/no-such-file.css")
    assert missing.status_code == 404
    assert missing.headers["Cache-Control"] == "no-store"


def test_other_spellings_of_a_file_share_its_digest_and_directories_get_none(app, client):
    for spelling in ("needlesafe.css", "./needlesafe.css", "././needlesafe.css"):
        with client.get(f"/static/{spelling}?v={digest(app, 'needlesafe.css')}") as fetched:
            assert fetched.headers["Cache-Control"] == "max-age=31536000, immutable", spelling
    with app.test_request_context():
        assert url_for("static", filename="vendor") == "/static/vendor"
        assert url_for("static", filename="../config.py") == "/static/../config.py"
