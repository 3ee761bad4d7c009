"""Patient form: shape only."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import Length, Optional

from safety.clinics.rules import new_form_key


class PatientForm(FlaskForm):
    given_name = StringField("First name", validators=[Length(max=100)])
    family_name = StringField("Last name", validators=[Length(max=100)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    phone = StringField("Mobile phone", validators=[Optional(), Length(max=32)])
    #: As a date input sends it (YYYY-MM-DD); the service reads and checks it.
    birth_date = StringField("Date of birth", validators=[Optional(), Length(max=10)])
    #: The patient's language (safety.languages); the service refuses any other value.
    language = StringField("Language for messages", validators=[Length(max=8)])
    is_followup_consent = BooleanField(
        "The patient agrees to a short follow-up message after treatment"
    )
    #: The form's one-time key, made as the form is shown: sent again, it is the same act.
    form_key = HiddenField(default=new_form_key, validators=[Optional(), Length(max=43)])


class PatientLanguageForm(FlaskForm):
    language = StringField("Language", validators=[Length(max=8)])
