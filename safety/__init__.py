"""NeedleSafe: infection-control safety checklists for dry needling clinics."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from config import config_for
from safety import assets, i18n, transactions
from safety.auth import policy
from safety.extensions import csrf, db, limiter, login_manager, migrate
from safety.languages import N_
from safety.web import IdConverter, translated

ROOT = Path(__file__).resolve().parent.parent
#: Control characters other than tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def create_app(config: str | type | None = None) -> Flask:
    """Create the application for an environment name or config class."""
    config_class = config if isinstance(config, type) else config_for(config)
    config_class.check()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(config_class)
    app.url_map.converters["id"] = IdConverter
    _configure_proxy(app)
    _configure_extensions(app)
    _configure_blueprints(app)
    _configure_security(app)
    assets.configure(app)
    _configure_errors(app)
    _configure_templates(app)
    _configure_cli(app)
    _configure_logging(app)
    return app


def _configure_proxy(app: Flask) -> None:
    """Read the client's address and scheme from the trusted proxies' X-Forwarded headers.

    Without it every client behind the proxy shares the proxy's address, and so one rate-limit
    and throttle bucket; with more hops than there are proxies a client could name any address.
    """
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _configure_extensions(app: Flask) -> None:
    from safety import models  # noqa: F401  (register every model with the metadata)

    db.init_app(app)
    transactions.commit_reads(app, db)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = N_("Please log in to continue.")
    login_manager.localize_callback = translated  # flashed in the reader's language
    i18n.configure(app)
    login_manager.session_protection = "basic"

    from safety.auth.routes import load_user

    login_manager.user_loader(load_user)


def _configure_blueprints(app: Flask) -> None:
    from safety.admin import editor  # noqa: F401  (the template editor's routes join admin_bp)
    from safety.admin.routes import bp as admin_bp
    from safety.auth.routes import bp as auth_bp
    from safety.checklists.routes import bp as checklists_bp
    from safety.clinics.routes import bp as clinics_bp
    from safety.fhir.routes import bp as fhir_bp
    from safety.followup.routes import bp as followup_bp
    from safety.incidents.routes import bp as incidents_bp
    from safety.integrity.routes import bp as integrity_bp
    from safety.packs.routes import bp as packs_bp
    from safety.review.routes import bp as review_bp
    from safety.risks.routes import bp as risks_bp

    for blueprint in (
        auth_bp,
        clinics_bp,
        checklists_bp,
        review_bp,
        risks_bp,
        admin_bp,
        fhir_bp,
        followup_bp,
        incidents_bp,
        packs_bp,
        integrity_bp,
    ):
        app.register_blueprint(blueprint)

    @app.get("/")
    def home():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        if policy.is_practitioner(current_user):
            return redirect(url_for("checklists.today"))
        if policy.is_compliance(current_user):
            return redirect(url_for("review.dashboard"))
        return redirect(url_for("admin.users"))

    @app.get("/login")
    def login_alias():
        """People type /login: send them to the sign-in page rather than a 404 (issue 17)."""
        return redirect(url_for("auth.login"), code=301)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}


def _configure_security(app: Flask) -> None:
    @app.before_request
    def _refuse_control_characters():
        # NUL and other control characters have no place in any field, and PostgreSQL cannot
        # store NUL in text: refuse them at the edge with a clear message instead of a 500.
        values = [*request.args.values(), *request.form.values(), request.path]
        if any(_CONTROL.search(value) for value in values):
            return render_template(
                "error.html",
                title=_("Something in the form was not right"),
                message=_(
                    "A field contained characters that cannot be saved. "
                    "Go back, retype it and try again."
                ),
            ), 400
        return None

    @app.before_request
    def _keep_session_permanent():
        # The cookie expires with the absolute lifetime; the server enforces idle time itself.
        session.permanent = True

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        # A page that scans packs with the camera (safety.web.allow_camera_scan) may use the
        # camera and compile the vendored decoder's WebAssembly; no other page may.
        camera = g.get("camera_scan", False)
        scripts = "'self' 'wasm-unsafe-eval'" if camera else "'self'"
        headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        )
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault(
            "Permissions-Policy",
            f"camera={'(self)' if camera else '()'}, microphone=(), geolocation=()",
        )
        # A signed-in reader's pages are not kept; the static files are (safety.assets), and
        # answering one need not load the reader's account.
        static_file = request.endpoint == "static" and response.status_code in assets.KEPT_STATUSES
        if not static_file and current_user and current_user.is_authenticated:
            headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


def _configure_errors(app: Flask) -> None:
    from safety.errors import DomainError

    def page(status: int, title: str, message: str):
        return render_template("error.html", title=title, message=message), status

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return page(400, _("This form has expired"), _("Go back, reload the page and try again."))

    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        if error.status_code == 404:
            return page(404, _("Not found"), _("There is nothing here, or it is not yours to see."))
        return page(error.status_code, _("That did not work"), translated(error.message))

    @app.errorhandler(400)
    def _bad_request(error):
        return page(400, _("Something in the request was not right"), _("Go back and try again."))

    @app.errorhandler(403)
    def _forbidden(error):
        return page(403, _("Not allowed"), _("Your role does not give access to this page."))

    @app.errorhandler(404)
    def _not_found(error):
        return page(404, _("Not found"), _("There is nothing here, or it is not yours to see."))

    @app.errorhandler(405)
    def _method(error):
        return page(405, _("Not allowed"), _("This address does not accept that kind of request."))

    @app.errorhandler(429)
    def _too_many(error):
        return page(429, _("Too many attempts"), _("Please wait a minute before trying again."))

    @app.errorhandler(500)
    def _server_error(error):
        db.session.rollback()
        return page(500, _("Something went wrong"), _("Nothing was saved. Please try again."))


def _configure_templates(app: Flask) -> None:
    from safety import display
    from safety.integrity import checkpoints

    app.jinja_env.filters.update(display.FILTERS)
    app.jinja_env.globals.update(display.GLOBALS)
    # Integrity reads every feature; the record pages ask it through the template.
    app.jinja_env.globals["checkpoint_of"] = checkpoints.receipt_status
    app.jinja_env.globals["latest_checkpoint"] = checkpoints.latest


def _configure_cli(app: Flask) -> None:
    from safety.auth.cli import users_cli
    from safety.demo.cli import demo_cli
    from safety.fhir.cli import tokens_cli
    from safety.followup.cli import reminders_cli
    from safety.integrity.cli import audit_cli
    from safety.risks.cli import risks_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(risks_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(reminders_cli)


_PATIENT_LINK = re.compile(r"/(f|auth/invitation)/[A-Za-z0-9_-]+")


class RedactPatientLinks(logging.Filter):
    """Blank the token of a patient's follow-up link (and of an invitation) in access logs.

    No route puts a patient detail in a path or a query string, but the follow-up link's
    token is in its path (a patient opens it from a message), and a log reader holding it
    could open that patient's form.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        def clean(value):
            if not isinstance(value, str):
                return value
            return _PATIENT_LINK.sub(lambda m: f"/{m.group(1)}/[link]", value)

        record.msg = clean(record.msg)
        if isinstance(record.args, dict):  # gunicorn's access log
            record.args = {key: clean(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(clean(value) for value in record.args)
        return True


def _configure_logging(app: Flask) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactPatientLinks) for f in logger.filters):
            logger.addFilter(RedactPatientLinks())


__all__ = ["create_app"]
