"""Incident forms: input shape only. What a report must hold is `rules.check_report`'s."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    HiddenField,
    PasswordField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

#: How a browser's datetime-local input sends a time (no seconds, no zone: the clinic's).
LOCAL_TIME = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def _text(label: str, max_length: int = 2000):
    return StringField(label, validators=[Optional(), Length(max=max_length)])


class ReportForm(FlaskForm):
    """A sharps injury, adverse event or near miss; the choices are read as plain codes and
    checked by the rules, so a stale page's choice gets a message, not a crash."""

    kind = HiddenField()
    session_id = HiddenField()
    occurred_dt = DateTimeLocalField("When it happened", format=LOCAL_TIME, validators=[Optional()])
    work_area = _text("Where (room or work area)", 200)
    description = TextAreaField("What happened", validators=[Optional(), Length(max=2000)])
    action_taken = TextAreaField("What was done", validators=[Optional(), Length(max=2000)])
    device_type = _text("Device", 40)
    device_brand = _text("Brand and model", 200)
    device_gtin = _text("GTIN", 14)
    device_lot = _text("Lot", 64)
    device_purpose = _text("What the device was being used for", 40)
    how = _text("How it happened", 40)
    body_site = _text("Where on the body", 40)
    is_used_on_patient = _text("Had the device been used on a patient?", 3)
    event_type = _text("What happened", 40)
    grade = _text("Grade", 20)
    injured_name = _text("Name of the person injured", 200)
    injured_job = _text("Their job", 200)
    password = PasswordField("Your password", validators=[Optional(), Length(max=256)])


class StepForm(FlaskForm):
    """Tick one post-exposure step with the time it was done."""

    done_dt = DateTimeLocalField("Done at", format=LOCAL_TIME, validators=[Optional()])
    note = TextAreaField("Note", validators=[Optional(), Length(max=1000)])


class ExternalReportForm(FlaskForm):
    """Where the incident was reported outside the clinic, when, and the reference."""

    body = _text("Reported to", 40)
    reported_on = DateField("Date reported", validators=[Optional()])
    reference = _text("Reference", 100)


class AddendumForm(FlaskForm):
    """A signed correction to an incident."""

    reason = TextAreaField("Reason for the correction", validators=[Optional()])
    body = TextAreaField("Correction", validators=[Optional()])
    password = PasswordField("Your password", validators=[Optional(), Length(max=256)])
