"""Follow-up forms: input shape only; the rules read the patient's answers, the services
decide what is recorded."""

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length


class PatientForm(FlaskForm):
    """CSRF only: `rules.read_form` reads the answers of the questions this check asks."""


class HandlingForm(FlaskForm):
    """What a practitioner did about a patient's answer."""

    action = StringField("What you did", validators=[Length(max=20)])
    note = TextAreaField("Note", validators=[Length(max=1000)])
