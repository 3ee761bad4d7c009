"""Administration forms: input shape only, the rules live in the services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import Field, StringField, TextAreaField
from wtforms.validators import Length, Regexp, ValidationError

from safety.admin.rules import MAX_SOURCE_BYTES
from safety.languages import N_

#: A clinic id from the select: empty, or a small positive whole number.
_CLINIC_ID = Regexp(r"^\d{0,9}$", message=N_("Choose a clinic from the list."))
_HOUR = Regexp(r"^\s*\d{1,2}\s*$", message=N_("Choose an hour from 0 to 23."))


class _ClinicChoice:
    """A clinic select whose value reaches the services as an id or None."""

    clinic = StringField("Clinic", validators=[_CLINIC_ID])

    @property
    def clinic_id(self) -> int | None:
        value = (self.clinic.data or "").strip()
        return int(value) if value and int(value) > 0 else None


class UserCreateForm(_ClinicChoice, FlaskForm):
    email = StringField(
        "Email", validators=[Length(max=254, message=N_("Use at most 254 characters."))]
    )
    name = StringField(
        "Printed name", validators=[Length(max=200, message=N_("Use at most 200 characters."))]
    )
    role = StringField(
        "Role", validators=[Length(max=20, message=N_("Choose a role from the list."))]
    )
    #: The language the person reads NeedleSafe in, from the invitation e-mail on.
    language = StringField("Language", validators=[Length(max=8)])


class MembershipForm(_ClinicChoice, FlaskForm):
    """One more clinic a practitioner works at."""


class RoleForm(_ClinicChoice, FlaskForm):
    role = StringField(
        "Role", validators=[Length(max=20, message=N_("Choose a role from the list."))]
    )


class ActionForm(FlaskForm):
    """Only the CSRF token: deactivate, reactivate, unlock, publish and discard are POSTs."""


class TickedValues(Field):
    """The values of a group of checkboxes sharing one name, as the browser sent them."""

    def process_formdata(self, valuelist) -> None:
        self.data = [value for value in valuelist if len(value) <= 20][:20]


class ClinicForm(FlaskForm):
    name = StringField(
        "Name", validators=[Length(max=200, message=N_("Use at most 200 characters."))]
    )
    #: One of the common zones, or "other" to use the typed zone below.
    timezone = StringField("Time zone", validators=[Length(max=64)])
    timezone_other = StringField(
        "Another time zone",
        validators=[Length(max=64, message=N_("A time zone name has at most 64 characters."))],
    )
    workday_start_hour = StringField("Working day starts", validators=[_HOUR])
    workday_end_hour = StringField("Working day ends", validators=[_HOUR])
    duty_email = StringField(
        "Duty address", validators=[Length(max=254, message=N_("Use at most 254 characters."))]
    )
    duty_phone = StringField(
        "On-call mobile", validators=[Length(max=32, message=N_("Use at most 32 characters."))]
    )
    phone = StringField(
        "Phone", validators=[Length(max=32, message=N_("Use at most 32 characters."))]
    )
    country = StringField("Country", validators=[Length(max=2, message=N_("Choose a country."))])
    #: ISO weekdays ticked (Monday is 1); the service refuses anything else.
    working_days = TickedValues("Working days")
    #: What the duty address's mail is written in; the service refuses a code we lack.
    language = StringField("Language", validators=[Length(max=8)])

    def validate_timezone_other(self, field: StringField) -> None:
        """A zone chosen in the list and another typed below is a question, not an answer: the
        typed one once won silently over the list (a review), and the zone times every
        escalation's working hours."""
        typed = (field.data or "").strip()
        chosen = (self.timezone.data or "").strip()
        if typed and chosen not in ("", "other") and typed != chosen:
            raise ValidationError(
                N_(
                    "The list says another zone: clear this box to use the list, or choose "
                    "“Another zone” in the list to use this one."
                )
            )

    @property
    def zone(self) -> str:
        """Return the zone typed below when the list says "other" (or nothing), else the
        list's (the two never differ once validated)."""
        typed = (self.timezone_other.data or "").strip()
        chosen = (self.timezone.data or "").strip()
        return typed if chosen in ("", "other") else chosen

    def hour(self, field: StringField) -> int | None:
        value = (field.data or "").strip()
        return int(value) if value.isdecimal() else None


class TemplateImportForm(FlaskForm):
    # Length counts characters; the service checks the 200 KB in bytes.
    text = TextAreaField(
        "Paste the risk section",
        validators=[
            Length(
                max=MAX_SOURCE_BYTES,
                message=N_("This text is longer than 200 KB. Paste only the risk section."),
            )
        ],
    )
    file = FileField("Or upload a file")

    def upload(self) -> tuple[str, bytes] | None:
        """Return the chosen file's name and up to one byte more than the limit, or None."""
        storage = self.file.data
        if storage is None or not getattr(storage, "filename", ""):
            return None
        return storage.filename, storage.stream.read(MAX_SOURCE_BYTES + 1)


# --- the template editor: shape only, the editing rules refuse the rest ----------------------

_ITEM = Length(max=100, message="Choose an item from the list.")
#: Longer than any text the rules accept, so the rules say the limit in their own words.
_WORDS = Length(max=2000, message="Use at most 300 characters.")


class EditItemForm(FlaskForm):
    """Names one item of the draft: remove, add from the register."""

    item = StringField("Item", validators=[_ITEM])


class RewordForm(EditItemForm):
    text = TextAreaField("New words", validators=[_WORDS])


class MoveForm(EditItemForm):
    direction = StringField("Direction", validators=[Length(max=10)])


class OwnItemForm(FlaskForm):
    """A yes/no check the administrator writes: its step, words and why it is there."""

    phase = StringField("Step", validators=[Length(max=40, message="Choose a step.")])
    text = TextAreaField("Words", validators=[_WORDS])
    reason = TextAreaField("Why", validators=[_WORDS])
