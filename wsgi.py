"""WSGI entry point: `gunicorn wsgi:app` in production, `flask --app wsgi` for the CLI.

The environment comes from NEEDLESAFE_ENV and defaults to production, which refuses to start
without SECRET_KEY and DATABASE_URL. A refused configuration is said in one line, not as a
traceback: it is an operator's mistake to correct, not a bug.
"""

import sys

from config import ConfigurationError
from safety import create_app
from safety.demo.services import warn_about_demo_accounts

try:
    app = create_app()
except ConfigurationError as refused:
    sys.exit(f"NeedleSafe did not start: {refused}")

if app.config["ENV_NAME"] == "production":
    warn_about_demo_accounts(app)
