"""Checklist forms. The phase items are generated from the template, so the phase form carries
only the CSRF token here; `rules.read_phase` reads and type-checks the item fields."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, TextAreaField
from wtforms.validators import DataRequired, Length

from safety.checklists.addenda import BODY_MAX_LENGTH, REASON_MAX_LENGTH
from safety.languages import N_, Said


class PhaseForm(FlaskForm):
    """CSRF only; item fields are named by linkId and read by the rules."""


class StartSessionForm(FlaskForm):
    patient_id = IntegerField("Patient", validators=[DataRequired(N_("Choose a patient."))])


class SignForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[DataRequired(N_("Enter your password to sign.")), Length(max=256)],
    )


class CancelForm(FlaskForm):
    """Cancel a session: the reason's shape only; the service checks it and records it."""

    reason = TextAreaField(
        "Why is the session cancelled?",
        validators=[
            DataRequired(N_("Say why the session is cancelled.")),
            Length(max=500, message=N_("Keep the reason under 500 characters.")),
        ],
    )


class AddendumForm(FlaskForm):
    """A signed correction; its fields are prefixed ("addendum-reason") so they never clash
    with the signing form's on the record page."""

    reason = TextAreaField(
        "Reason for the correction",
        validators=[
            DataRequired(N_("Say why the record needs a correction.")),
            Length(
                max=REASON_MAX_LENGTH,
                message=Said(
                    N_("Keep the reason under %(max)s characters."), max=REASON_MAX_LENGTH
                ),
            ),
        ],
    )
    body = TextAreaField(
        "Correction",
        validators=[
            DataRequired(N_("Write the correction.")),
            Length(
                max=BODY_MAX_LENGTH,
                message=Said(
                    N_("Keep the correction under %(max)s characters."), max=BODY_MAX_LENGTH
                ),
            ),
        ],
    )
    password = PasswordField(
        "Your password",
        validators=[
            DataRequired(N_("Enter your password to sign the addendum.")),
            Length(max=256, message=N_("That password is not right.")),
        ],
    )
