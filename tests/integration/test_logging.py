"""Access logs never carry the token of a patient's follow-up link."""

from __future__ import annotations

import logging

TOKEN = "q3Zx-8_LmN0pR7sT2vW9yA4bC6dE1fG5hJ"


def test_the_development_servers_access_log_blanks_the_patient_link(app, caplog):
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info(
            '%s - - [%s] "%s" %s %s',
            "127.0.0.1",
            "02/Dec/2026 09:00:00",
            f"GET /f/{TOKEN}/stop HTTP/1.1",
            "200",
            "-",
        )

    assert TOKEN not in caplog.text
    assert "GET /f/[link]/stop HTTP/1.1" in caplog.text


def test_gunicorns_access_log_blanks_the_patient_link(app, caplog):
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logging.getLogger("gunicorn.access").info(
            '%(h)s "%(r)s" %(s)s', {"h": "10.0.0.1", "r": f"POST /f/{TOKEN} HTTP/1.1", "s": "200"}
        )

    assert TOKEN not in caplog.text
    assert '"POST /f/[link] HTTP/1.1" 200' in caplog.text
