"""Sign-in, sign-out and password change."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from safety.auth import services
from safety.auth.forms import LoginForm, PasswordChangeForm
from safety.auth.models import User
from safety.errors import DomainError
from safety.extensions import db, limiter

bp = Blueprint("auth", __name__, url_prefix="/auth")


def load_user(user_id: str) -> User | None:
    """Load the signed-in user only while their server-side login session is valid."""
    user = db.session.get(User, int(user_id)) if user_id.isdecimal() else None
    if user is None or not user.is_enabled:
        return None
    config = current_app.config
    valid = services.check_login_session(
        session.get("login_id"),
        user.id,
        idle_timeout=config["SESSION_IDLE_TIMEOUT"],
        absolute_lifetime=config["SESSION_ABSOLUTE_LIFETIME"],
    )
    db.session.commit()
    if not valid:
        session.clear()
        return None
    return user


def role_required(*roles: str):
    """Allow a view to the given roles only (signed-in users of other roles get 403)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


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
        try:
            user = services.authenticate(form.email.data, form.password.data)
            login_session = services.start_login_session(user)
        except DomainError as exc:
            db.session.commit()  # keep the failure count and the audit event
            error = exc.message
        else:
            db.session.commit()
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
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except DomainError as exc:
            db.session.commit()  # a wrong current password counts towards the lockout
            errors = exc.errors
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your password has been changed. Sign in again with the new one.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/password.html", form=form, errors=errors), 400 if errors else 200
