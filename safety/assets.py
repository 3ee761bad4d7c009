"""Static files a browser may keep: each URL names its file's content, so it never goes stale.

A tablet beside the patient opens a page after every tap. Before, every page asked again for
the stylesheet and each script (Flask serves static files `no-cache`: a round trip each,
answered 304), and each of those requests loaded the reader's account. Now
`url_for("static", ...)` adds `v=`, a digest of the file, and a response for the digest the
file has now may be kept for a year, unchanged (`immutable`): a new release changes the
digest, and so the URL. A static URL without it, or with a stale one, is still checked again
each time (`no-cache`, 304 when unchanged). Static files hold no patient data, answering one
reads nothing from the database, and it carries no session cookie; an error page under
/static/ is a page like any other (`no-store` for a signed-in reader).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from pathlib import Path

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface

#: How long a browser may keep a static file fetched by its digest: a year, the longest
#: lifetime HTTP caches honour (RFC 9111 advises no more).
KEEP_SECONDS = 365 * 24 * 3600
#: Hex characters of the SHA-256 digest in a URL: enough that two versions never meet.
DIGEST_LENGTH = 12
#: The answers a static file's caching applies to; an error page is not kept.
KEPT_STATUSES = frozenset({200, 206, 304})


class NoCookieOnStaticFiles(SecureCookieSessionInterface):
    """The signed session cookie is not sent again with a static file: a file any cache may
    keep for a year must not carry one reader's cookie."""

    def should_set_cookie(self, app: Flask, session) -> bool:
        return request.endpoint != "static" and super().should_set_cookie(app, session)


def configure(app: Flask) -> None:
    """Version the static URLs `url_for` builds and say how long browsers may keep them."""
    app.session_interface = NoCookieOnStaticFiles()
    #: By file name (normalised, so another spelling of it is the same key), its time and
    #: digest: only real files under the static folder get in, so the table stays their size.
    digests: dict[str, tuple[float, str]] = {}

    def digest(filename: str) -> str | None:
        """The file's digest, worked out again only when the file changed (development);
        None for anything that is not a file in the static folder.

        A page links a few static files, so the known case costs one `stat`: the path is
        checked and hashed only when the file is new to this process or has changed."""
        name = posixpath.normpath(filename)
        path = os.path.join(app.static_folder, name)
        try:
            changed = os.stat(path).st_mtime
        except OSError:
            return None  # the URL stays as asked, and the request gets a 404
        known = digests.get(name)
        if known is None or known[0] != changed:
            folder = Path(app.static_folder).resolve()
            resolved = Path(path).resolve()
            if not resolved.is_relative_to(folder) or not resolved.is_file():
                return None
            known = (changed, hashlib.sha256(resolved.read_bytes()).hexdigest()[:DIGEST_LENGTH])
            digests[name] = known
        return known[1]

    @app.url_defaults
    def _version_static_urls(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = digest(values["filename"])
            if version is not None:
                values["v"] = version

    @app.after_request
    def _keep_static_files(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code not in KEPT_STATUSES:
            return response
        asked = request.args.get("v")
        filename = (request.view_args or {}).get("filename", "")
        if asked is not None and asked == digest(filename):
            response.headers["Cache-Control"] = f"max-age={KEEP_SECONDS}, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
