"""Sign-in and password forms: shape only, the rules live in the services."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from safety.languages import N_


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[DataRequired(N_("Enter your email address.")), Length(max=254)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(N_("Enter your password.")), Length(max=256)]
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(N_("Enter your current password.")), Length(max=256)],
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(N_("Enter a new password.")), Length(max=256)]
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a state change."""


class CodeForm(FlaskForm):
    """A code from the authenticator app (6 digits) or a recovery code."""

    code = StringField(
        "Code", validators=[DataRequired(N_("Enter the code from your app.")), Length(max=40)]
    )


class ReplaceAppForm(CodeForm):
    """Setting up a new app over the one in use: the password first, as at a signature."""

    password = PasswordField(
        "Your password",
        validators=[DataRequired(N_("Enter your password to replace your app.")), Length(max=200)],
    )


class InvitationForm(FlaskForm):
    """The password an invited person chooses."""

    password = PasswordField(
        "Choose a password",
        validators=[DataRequired(N_("Choose a password.")), Length(max=256)],
    )


class ClinicChoiceForm(FlaskForm):
    """The clinic a practitioner works at now (its id, checked by the service)."""

    clinic = StringField(
        "Clinic", validators=[DataRequired(N_("Choose a clinic.")), Length(max=20)]
    )


class LanguageForm(FlaskForm):
    language = StringField("Language", validators=[Length(max=8)])
