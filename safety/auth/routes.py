"""Sign-in, sign-out and password change."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.wrappers import Response
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from safety import i18n
from safety.auth import clinics, invitations, policy, services
from safety.auth import second_factor as second
from safety.auth.forms import (
    ClinicChoiceForm,
    CodeForm,
    InvitationForm,
    LanguageForm,
    LoginForm,
    PasswordChangeForm,
    ReplaceAppForm,
)
from safety.auth.models import Role, User
from safety.auth.policy import role_required
from safety.extensions import db, limiter
from safety.ids import parse_id
from safety.web import Refused, field_errors, run_use_case

bp = Blueprint("auth", __name__, url_prefix="/auth")

#: The cookie that tells the throttle this browser signed in to an account before.
DEVICE_COOKIE = "needlesafe_device"


def load_user(user_id: str) -> User | None:
    """Load the account a session cookie names, if it may still sign in.

    Only a read: whether this browser's login session is still valid is decided (and its
    last-seen time written) by `keep_login_session`, which commits that work itself.
    """
    key = parse_id(user_id)
    if key is None:
        return None
    # g keeps the login session alive until `keep_login_session` reads it, without a query.
    user, g.login_session = services.signed_in_account(key, session.get("login_id"))
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
        return None
    if (
        policy.needs_second_factor(current_user, config["MFA_REQUIRED_ROLES"])
        and not current_user.has_second_factor
        and request.endpoint not in _WHILE_ENROLLING
    ):
        # Signed in before the role required a second factor: set it up before anything else.
        return redirect(url_for("auth.enrol"))
    return None


#: What a signed-in account that must enrol a second factor may still reach.
_WHILE_ENROLLING = frozenset({"auth.enrol", "auth.logout", "static", "healthz"})
#: How long a right password waits for its second factor before the sign-in starts again.
PENDING_SECONDS = 600


def _client() -> str:
    return request.remote_addr or "unknown"


def _device(email: str) -> str | None:
    return services.device_of(request.cookies.get(DEVICE_COOKIE), email)


def _pending_user() -> User | None:
    """The account whose password was right in this browser and whose second factor is due."""
    pending = session.get("pending")
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        session.pop("pending", None)
        return None
    key = pending.get("user")
    user = services.find_user_by_id(key) if isinstance(key, int) else None
    return user if user is not None and user.is_enabled else None


def _start_signed_in(user: User, login_session) -> None:
    session.clear()
    session["login_id"] = login_session.id
    login_user(user)
    i18n.forget_language()  # from here the request speaks the account's language


def _finish_sign_in(user: User, login_session) -> Response:
    """Start the signed-in session in this browser and remember the browser for the throttle."""
    _start_signed_in(user, login_session)
    flash(_("Signed in as %(name)s.", name=user.name), "success")
    several = len(clinics.clinics_of(user)) > 1
    response = redirect(url_for("auth.clinic" if several else "home"))
    _remember_device(response, user.email)
    return response


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
        email = form.email.data
        result = run_use_case(
            lambda: services.sign_in(
                email,
                form.password.data,
                client=_client(),
                device=_device(email),
                required_roles=current_app.config["MFA_REQUIRED_ROLES"],
            ),
            keep_loaded=True,  # the account and its session are read once more, as they are
        )
        if isinstance(result, Refused):
            error = result.message
        elif result.login is not None:
            return _finish_sign_in(result.user, result.login)
        else:
            session.clear()
            session["pending"] = {"user": result.user.id, "at": time.time()}
            if result.next_step == "enrol":
                return redirect(url_for("auth.enrol"))
            return redirect(url_for("auth.second_factor"))
    return render_template("auth/login.html", form=form, error=error), 200 if error is None else 401


@bp.route("/clinic", methods=["GET", "POST"])
@role_required(Role.PRACTITIONER)
def clinic():
    """Choose the clinic one works at now, among one's clinics."""
    form = ClinicChoiceForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        chosen = parse_id(form.clinic.data)
        result = run_use_case(
            lambda: clinics.switch(current_user, chosen) if chosen else None, shown=(400, 404)
        )
        if result is None or isinstance(result, Refused):
            errors = {"clinic": _("Choose one of your clinics.")}
        else:
            flash(_("You are working at %(clinic)s.", clinic=result.name), "success")
            return redirect(url_for("home"))
    elif form.is_submitted():
        errors = field_errors(form)
    return render_template(
        "auth/clinic.html", clinics=clinics.clinics_of(current_user), errors=errors
    ), 400 if errors else 200


@bp.route("/invitation/<secret>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def invitation(secret: str):
    """An invited person chooses their password through the link in their e-mail."""
    found = run_use_case(lambda: invitations.find_open(secret))
    if isinstance(found, Refused):
        return render_template("auth/invitation.html", refused=found.message), 404
    i18n.use_language(found.user.language)  # the language they were invited in
    form = InvitationForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = run_use_case(lambda: invitations.accept(secret, form.password.data))
        if not isinstance(result, Refused):
            flash(_("Your password is set. Sign in with it now."), "success")
            return redirect(url_for("auth.login"))
        errors = result.errors or {"password": result.message}
    elif form.is_submitted():
        errors = field_errors(form)
    return render_template(
        "auth/invitation.html", form=form, errors=errors, user=found.user
    ), 400 if errors else 200


@bp.route("/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def second_factor():
    """The second step of signing in: the authenticator app's code, or a recovery code."""
    user = _pending_user()
    if user is None or not user.has_second_factor:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = run_use_case(
            lambda: second.sign_in_with_code(
                user, form.code.data, client=_client(), device=_device(user.email)
            )
        )
        if not isinstance(result, Refused):
            return _finish_sign_in(user, result)
        errors = result.errors
    else:
        errors = field_errors(form)
    status = 401 if errors else 200
    return render_template("auth/code.html", form=form, errors=errors), status


@bp.route("/two-step", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])  # it takes a password when it replaces an app
def enrol():
    """Set up an authenticator app: scan the QR code (or type the secret), confirm a code.

    Halfway through a sign-in (the password right, no login session yet) only an account with
    no app set up may set one up here: one that has an app answers with its code. Otherwise a
    password alone would set up an app of its own, replace the owner's, and sign in.
    """
    user = current_user if current_user.is_authenticated else _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if not current_user.is_authenticated and user.has_second_factor:
        return redirect(url_for("auth.second_factor"))
    replacing = user.has_second_factor
    form = ReplaceAppForm() if replacing else CodeForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        pending_sign_in = not current_user.is_authenticated
        result = run_use_case(
            lambda: second.enrol(
                user,
                form.code.data,
                start_session=pending_sign_in,
                password=form.password.data if replacing else None,
            )
        )
        if not isinstance(result, Refused):
            codes, login_session = result
            if login_session is not None:
                _start_signed_in(user, login_session)
            # Shown once, never stored: the page is the only copy the person gets.
            response = make_response(render_template("auth/recovery_codes.html", codes=codes))
            response.headers["Cache-Control"] = "no-store"
            if login_session is not None:
                _remember_device(response, user.email)
            return response
        errors = result.errors
    elif form.is_submitted():
        errors = field_errors(form)
    secret = second.pending_secret(user)
    db.session.commit()
    return render_template(
        "auth/enrol.html",
        form=form,
        errors=errors,
        secret=secret,
        qr=second.qr_code(second.provisioning_uri(user, secret)),
        required=policy.needs_second_factor(user, current_app.config["MFA_REQUIRED_ROLES"]),
        enrolled=user.has_second_factor,
    ), 400 if errors else 200


def _remember_device(response, email: str) -> None:
    """Give a browser that signed in its own sign-in allowance for this account (DESIGN §6.1)."""
    config = current_app.config
    response.set_cookie(
        DEVICE_COOKIE,
        services.new_device_cookie(email),
        max_age=config["DEVICE_COOKIE_DAYS"] * 86400,
        secure=config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
        path="/auth/",
    )


@bp.post("/logout")
@login_required
def logout():
    services.end_login_session(session.get("login_id", ""), current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have logged out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limiter.limit(_login_limit, methods=["POST"])  # it takes the current password, as sign-in does
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
            flash(_("Your password has been changed. Sign in again with the new one."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/password.html", form=form, errors=errors), 400 if errors else 200


@bp.route("/language", methods=["GET", "POST"])
@login_required
def language():
    form = LanguageForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        result = run_use_case(lambda: services.set_language(current_user, form.language.data or ""))
        if isinstance(result, Refused):
            errors = result.errors
        else:
            i18n.forget_language()  # the message below is already in the new language
            flash(_("Your language is saved."), "success")
            return redirect(url_for("auth.language"))
    return render_template("auth/language.html", form=form, errors=errors), 400 if errors else 200
