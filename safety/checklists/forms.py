"""Checklist forms. The phase items are generated from the template, so the phase form carries
only the CSRF token here; `rules.read_phase` reads and type-checks the item fields."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField
from wtforms.validators import DataRequired, Length


class PhaseForm(FlaskForm):
    """CSRF only; item fields are named by linkId and read by the rules."""


class StartSessionForm(FlaskForm):
    patient_id = IntegerField("Patient", validators=[DataRequired("Choose a patient.")])


class SignForm(FlaskForm):
    password = PasswordField(
        "Your password", validators=[DataRequired("Enter your password to sign."), Length(max=256)]
    )
