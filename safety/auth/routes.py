"""Sign-in, sign-out and password change."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from safety.auth import services
from safety.auth.forms import LoginForm, PasswordChangeForm
from safety.auth.models import User
from safety.extensions import db, limiter
from safety.ids import parse_id
from safety.web import Refused, run_use_case

bp = Blueprint("auth", __name__, url_prefix="/auth")


def load_user(user_id: str) -> User | None:
    """Load the account a session cookie names, if it may still sign in.

    Only a read: whether this browser's login session is still valid is decided (and its
    last-seen time written) by `keep_login_session`, which commits that work itself.
    """
    key = parse_id(user_id)
    user = db.session.get(User, key) if key is not None else None
    return user if user is not None and user.is_enabled else None


@bp.before_app_request
def keep_login_session() -> None:
    """End a lapsed server-side login session, or note that this browser is still active."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    config = current_app.config
    valid = services.check_login_session(
        session.get("login_id"),
        current_user.id,
        idle_timeout=config["SESSION_IDLE_TIMEOUT"],
        absolute_lifetime=config["SESSION_ABSOLUTE_LIFETIME"],
    )
    # Most requests change nothing here; committing anyway would expire the signed-in account
    # and load it again for every page.
    if db.session.dirty:
        db.session.commit()
    if not valid:
        logout_user()
        session.clear()


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        result = run_use_case(
            lambda: services.sign_in(form.email.data, form.password.data),
            keep_loaded=True,  # the account and its session are read once more, as they are
        )
        if isinstance(result, Refused):
            error = result.message
        else:
            user, login_session = result
            session.clear()
            session["login_id"] = login_session.id
            login_user(user)
            flash(f"Signed in as {user.name}.", "success")
            return redirect(url_for("home"))
    return render_template("auth/login.html", form=form, error=error), 200 if error is None else 401


@bp.post("/logout")
@login_required
def logout():
    services.end_login_session(session.get("login_id", ""), current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have logged out.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = run_use_case(
            lambda: services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        )
        if isinstance(result, Refused):
            errors = result.errors
        else:
            logout_user()
            session.clear()
            flash("Your password has been changed. Sign in again with the new one.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/password.html", form=form, errors=errors), 400 if errors else 200
