"""Addendum form: input shape only; the service decides whether the addendum is signed."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, TextAreaField
from wtforms.validators import DataRequired, Length

from safety.audit.addenda import BODY_MAX_LENGTH, REASON_MAX_LENGTH


class AddendumForm(FlaskForm):
    reason = TextAreaField(
        "Reason for the correction",
        validators=[
            DataRequired("Say why the record needs a correction."),
            Length(
                max=REASON_MAX_LENGTH,
                message=f"Keep the reason under {REASON_MAX_LENGTH} characters.",
            ),
        ],
    )
    body = TextAreaField(
        "Correction",
        validators=[
            DataRequired("Write the correction."),
            Length(
                max=BODY_MAX_LENGTH,
                message=f"Keep the correction under {BODY_MAX_LENGTH} characters.",
            ),
        ],
    )
    password = PasswordField(
        "Your password",
        validators=[
            DataRequired("Enter your password to sign the addendum."),
            Length(max=256, message="That password is not right."),
        ],
    )
