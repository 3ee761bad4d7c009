"""Static files a browser may keep: each URL names its file's content, so it never goes stale.

A tablet beside the patient opens a page after every tap. Before, every page asked again for
the stylesheet and each script (Flask serves static files `no-cache`: a round trip each,
answered 304), and each of those requests loaded the reader's account. Now
`url_for("static", ...)` adds `v=`, a digest of the file, and a response for the digest the
file has now may be kept for a year, unchanged (`immutable`): a new release changes the
digest, and so the URL. A static URL without it, or with a stale one, is still checked again
each time (`no-cache`, 304 when unchanged). Static files hold no patient data, and answering
one reads nothing from the database.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, Response, request

#: How long a browser may keep a static file fetched by its digest: a year, the longest
#: lifetime HTTP caches honour (RFC 9111 advises no more).
KEEP_SECONDS = 365 * 24 * 3600
#: Hex characters of the SHA-256 digest in a URL: enough that two versions never meet.
DIGEST_LENGTH = 12


def configure(app: Flask) -> None:
    """Version the static URLs `url_for` builds and say how long browsers may keep them."""
    digests: dict[str, tuple[float, str]] = {}

    def digest(filename: str) -> str | None:
        """The file's digest, worked out again only when the file changed (development)."""
        path = Path(app.static_folder) / filename
        try:
            changed = path.stat().st_mtime
        except OSError:
            return None  # no such file: the URL stays as asked, and the request gets a 404
        known = digests.get(filename)
        if known is None or known[0] != changed:
            known = (changed, hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_LENGTH])
            digests[filename] = known
        return known[1]

    @app.url_defaults
    def _version_static_urls(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = digest(values["filename"])
            if version is not None:
                values["v"] = version

    @app.after_request
    def _keep_static_files(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code not in (200, 304):
            return response
        filename = (request.view_args or {}).get("filename", "")
        asked = request.args.get("v")
        if asked is not None and asked == digest(filename):
            response.headers["Cache-Control"] = f"public, max-age={KEEP_SECONDS}, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
