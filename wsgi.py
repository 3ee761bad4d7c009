"""WSGI entry point: `gunicorn wsgi:app` in production, `flask --app wsgi` for the CLI.

The environment comes from NEEDLESAFE_ENV and defaults to production, which refuses to start
without SECRET_KEY and DATABASE_URL.
"""

from safety import create_app

app = create_app()
