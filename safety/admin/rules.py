"""Pure administration rules: uploaded risk sections, time zone choices, audit wording.

No Flask or SQLAlchemy here, so these are unit-tested without an app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from safety.languages import N_, Listed, Said

#: Largest risk section accepted, pasted or uploaded.
MAX_SOURCE_BYTES = 200 * 1024
#: File types an administrator may upload: plain text and Markdown.
UPLOAD_SUFFIXES = (".txt", ".md")
#: Control characters other than tab, newline and carriage return cannot be stored as text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: Zones offered in the clinic form; any other IANA zone can be typed.
COMMON_TIME_ZONES = (
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/Berlin",
    "Europe/Zurich",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Oslo",
    "Europe/Copenhagen",
    "Europe/Helsinki",
    "Europe/Warsaw",
    "Europe/Athens",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Australia/Melbourne",
    "Pacific/Auckland",
    "America/St_Johns",
    "America/Halifax",
    "America/Toronto",
    "America/New_York",
    "America/Chicago",
    "America/Winnipeg",
    "America/Denver",
    "America/Edmonton",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Mexico_City",
    "America/Sao_Paulo",
    "UTC",
)

#: Audit actions shown on the administration pages, in plain words.
ACTION_LABELS = {
    "user.create": N_("Account created"),
    "user.deactivate": N_("Account deactivated"),
    "user.reactivate": N_("Account reactivated"),
    "user.role_change": N_("Role changed"),
    "user.unlock": N_("Account unlocked"),
    "user.clinic_lead": N_("Clinic lead changed"),
    "user.mfa_reset": N_("Two-step sign-in reset"),
    "user.invite": N_("Invitation sent"),
    "user.clinic_add": N_("Clinic added"),
    "user.clinic_remove": N_("Clinic removed"),
    "user.switch_clinic": N_("Switched clinic"),
    "user.invitation_accepted": N_("Invitation used: password chosen"),
    "auth.throttled": N_("Sign-in slowed down after failed attempts"),
    "auth.mfa_enrol": N_("Two-step sign-in set up"),
    "auth.mfa_enrol_failed": N_("Two-step sign-in setup: wrong code"),
    "auth.mfa_replace_failed": N_("Two-step sign-in: app not replaced (password refused)"),
    "auth.password_change_failed": N_("Password not changed (current password refused)"),
    "auth.mfa_recovery_used": N_("Recovery code used to sign in"),
    "clinic.create": N_("Clinic created"),
    "clinic.update": N_("Clinic changed"),
    "template.create": N_("Draft template created"),
    "template.publish": N_("Template published"),
    "template.discard": N_("Draft template discarded"),
    "template.edit": N_("Draft template edited"),
    "audit.flags_backfilled": N_("Flags raised by older versions put on the audit trail"),
}
#: What a template.edit event did to its item.
EDIT_LABELS = {
    "add": N_("added"),
    "remove": N_("removed"),
    "reword": N_("reworded"),
    "move": N_("moved"),
}
#: Prefixes of the audit actions that belong to administration.
ADMIN_ACTION_PREFIXES = (
    "user.",
    "clinic.",
    "template.",
    "auth.throttled",
    "auth.mfa_enrol",
    "auth.mfa_recovery",
    "audit.flags_backfilled",
)

_FIELD_LABELS = {
    "name": N_("name"),
    "timezone": N_("time zone"),
    "workday_start_hour": N_("working day starts"),
    "workday_end_hour": N_("working day ends"),
    "duty_email": N_("duty address"),
    "duty_phone": N_("on-call mobile"),
    "phone": N_("phone"),
    "country": N_("country"),
    "working_days": N_("working days"),
    "language": N_("language of the duty address's mail"),
}


class SourceError(ValueError):
    """A pasted or uploaded risk section cannot be read; the message says what to do."""


def read_upload(filename: str, data: bytes) -> str:
    """Return an uploaded risk section as text, or raise SourceError saying what is wrong."""
    if not filename.lower().endswith(UPLOAD_SUFFIXES):
        raise SourceError(N_("Choose a plain text (.txt) or Markdown (.md) file."))
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(
            N_(
                "This file is larger than 200 KB. Upload only the risk section, "
                "or paste it into the box instead."
            )
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(
            N_(
                "This file is not UTF-8 text. Save it as UTF-8 (plain text or Markdown) "
                "and upload it again, or paste the text into the box instead."
            )
        ) from None
    return check_source(text, uploaded=True)


def check_source(text: str, *, uploaded: bool = False) -> str:
    """Return a risk section's text if it can be imported, or raise SourceError."""
    if _CONTROL.search(text):
        raise SourceError(
            N_(
                "This file contains characters that are not plain text. "
                "Save it as plain text or Markdown and try again."
            )
            if uploaded
            else N_("The text contains characters that cannot be saved. Retype it and try again.")
        )
    if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise SourceError(
            N_("This text is longer than 200 KB. Paste only the risk section of the document.")
        )
    if not text.strip():
        raise SourceError(
            N_("This file is empty.")
            if uploaded
            else N_("Paste the risk section, or choose a file.")
        )
    return text


def compare_items(
    current: Mapping[str, Any] | None, draft: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """Return the linkIds a draft adds to and removes from the current template, in order."""

    def link_ids(definition: Mapping[str, Any] | None) -> list[str]:
        if definition is None:
            return []
        return [item["linkId"] for phase in definition["phases"] for item in phase["items"]]

    before, after = link_ids(current), link_ids(draft)
    return [i for i in after if i not in before], [i for i in before if i not in after]


def hour_label(hour: int) -> str:
    return f"{hour:02d}:00"


def describe_event(action: str, details: Mapping[str, Any]) -> str:
    """Return what an administration event did, in words for a person (a `Said`, so the
    page says it again in the reader's language)."""
    label = Said(ACTION_LABELS.get(action, action))
    if action == "user.role_change":
        old, new = details.get("old"), details.get("new")
        text = (
            Said(N_("%(label)s: %(old)s → %(new)s"), label=label, old=old, new=new)
            if old != new
            else Said(N_("%(label)s: clinic moved"), label=label)
        )
        ended = details.get("sessions_ended")
        if not ended:
            return text
        return Said(N_("%(text)s; %(num)s signed-in session(s) ended"), text=text, num=ended)
    if action == "audit.flags_backfilled":
        return Said(N_("%(label)s: %(num)s flag(s)"), label=label, num=details.get("flags", 0))
    if action == "user.create" and details.get("role"):
        return Said(N_("%(label)s (%(role)s)"), label=label, role=details["role"])
    if action == "clinic.update":
        changes = details.get("changes", {})
        parts = [
            Said(
                N_("%(field)s %(old)s → %(new)s"),
                field=Said(_FIELD_LABELS.get(field, field)),
                old=_value(old),
                new=_value(new),
            )
            for field, (old, new) in changes.items()
        ]
        return (
            Said(N_("%(label)s: %(changes)s"), label=label, changes=Listed(parts))
            if parts
            else label
        )
    if action == "template.edit" and "change" in details:
        what = Said(EDIT_LABELS.get(details["change"], details["change"]))
        version = details["version"]
        if not details.get("linkId"):
            return Said(
                N_("%(label)s: version %(version)s, %(what)s"),
                label=label,
                version=version,
                what=what,
            )
        return Said(
            N_("%(label)s: version %(version)s, %(what)s %(item)s"),
            label=label,
            version=version,
            what=what,
            item=details["linkId"],
        )
    if action == "template.create" and "copied_from" in details:
        return Said(
            N_("%(label)s: version %(version)s, a copy of %(source)s"),
            label=label,
            version=details["version"],
            source=details["copied_from"],
        )
    if action.startswith("template.") and "version" in details:
        return Said(N_("%(label)s: version %(version)s"), label=label, version=details["version"])
    return label


def _value(value: Any) -> str:
    return Said(N_("none")) if value in (None, "") else str(value)
