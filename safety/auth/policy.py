"""Who may see and do what: DESIGN §6 in one place.

Every service asks this module, never the role string itself. Two kinds of answer live here:
pure predicates about one object (`can_view_record(user, record)`) and query scopes that put
the same rule into SQL (`visible_sessions(user)`), so a list and a single read can never
disagree. Reads outside the scope are "not found", never "forbidden": a 403 would confirm
that another clinic's record exists.

|                                   | practitioner      | compliance      | admin | patient     |
|-----------------------------------|-------------------|-----------------|-------|-------------|
| own clinic's patients and sessions| read, create      | read all clinics| —     | —           |
| fill, sign, add addenda           | own sessions      | —               | —     | —           |
| dashboard, lots, exports, verify  | own flags only    | yes             | —     | —           |
| users, clinics, templates         | —                 | read templates  | yes   | —           |
| follow-up form                    | —                 | —               | —     | own token   |
| incidents (report, steps, addenda)| own clinic's      | read all clinics| —     | —           |
| injured person's identity, sharps log | clinic lead, own clinic | yes     | —     | —           |
"""

from __future__ import annotations

from collections.abc import Collection
from functools import wraps
from typing import Protocol

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true

from safety.auth.models import ClinicMembership, Role, User
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.errors import Forbidden
from safety.incidents.models import Incident


class Actor(Protocol):
    """The parts of a signed-in user the policy reads."""

    id: int
    role: str
    clinic_id: int | None


class SessionLike(Protocol):
    """The parts of a treatment session the policy reads."""

    clinic_id: int
    practitioner_id: int

    @property
    def is_signed(self) -> bool: ...

    @property
    def is_final(self) -> bool: ...


# --- who is who -------------------------------------------------------------------------------


def is_practitioner(user: Actor | None) -> bool:
    return user is not None and user.role == Role.PRACTITIONER


def is_compliance(user: Actor | None) -> bool:
    return user is not None and user.role == Role.COMPLIANCE


def is_admin(user: Actor | None) -> bool:
    return user is not None and user.role == Role.ADMIN


def working_clinic_id(user: Actor) -> int | None:
    """Return the clinic a practitioner works at; every clinic-scoped rule reads it here."""
    return user.clinic_id if is_practitioner(user) else None


# --- predicates -------------------------------------------------------------------------------


def can_read_records(user: Actor | None) -> bool:
    """Practitioners read their clinic's records, compliance every clinic's; admins none."""
    return is_practitioner(user) or is_compliance(user)


def can_view_record(user: Actor | None, record: SessionLike) -> bool:
    """Return whether a user may read one session or signed record."""
    if is_compliance(user):
        return True
    return is_practitioner(user) and record.clinic_id == working_clinic_id(user)


def is_author(user: Actor | None, record: SessionLike) -> bool:
    """Return whether the user is the practitioner who started (and signs) the session."""
    return is_practitioner(user) and record.practitioner_id == user.id


def can_fill(user: Actor | None, record: SessionLike) -> bool:
    """Only the practitioner who started a session fills in, signs or cancels it, until it is
    signed or cancelled."""
    return is_author(user, record) and not record.is_final


def can_add_addendum(user: Actor | None, record: SessionLike) -> bool:
    """A practitioner of the record's clinic corrects a signed record with an addendum."""
    return is_practitioner(user) and can_view_record(user, record) and record.is_signed


def is_audited_view(user: Actor, record: SessionLike) -> bool:
    """Reading a record someone else wrote is itself audited (DESIGN §5)."""
    return record.practitioner_id != user.id


def can_start_session(user: Actor | None) -> bool:
    return is_practitioner(user)


def can_add_patient(user: Actor | None) -> bool:
    return is_practitioner(user)


def can_acknowledge_flags_of(
    user: Actor | None, practitioner_id: int, *, needs_clinician: bool = False
) -> bool:
    """A practitioner acknowledges the flags of their own sessions; compliance any flag but one
    that needs a clinician: a patient's urgent (emergency or same-day) answer, or a chest check
    nobody answered.

    Acknowledging one stops its escalation to the duty address (and the on-call mobile), and
    a reviewer's click is not a clinician seeing the patient: it waits for the treating
    practitioner, or for compliance to resolve it with a note of what was done (a clinical
    review found a compliance click silenced an emergency's escalation, and another that it
    silenced a silence's)."""
    if is_practitioner(user) and practitioner_id == user.id:
        return True
    return is_compliance(user) and not needs_clinician


def can_acknowledge_flag(
    user: Actor | None, record: SessionLike, *, needs_clinician: bool = False
) -> bool:
    return can_acknowledge_flags_of(user, record.practitioner_id, needs_clinician=needs_clinician)


def can_resolve_flags(user: Actor | None) -> bool:
    return is_compliance(user)


def can_review(user: Actor | None) -> bool:
    """The compliance desk: dashboard, every clinic's records, lot trace, exports, verify."""
    return is_compliance(user)


def can_hold_api_token(user: Actor | None) -> bool:
    """FHIR read tokens belong to compliance officers only (they read every clinic)."""
    return is_compliance(user)


def can_read_templates(user: Actor | None) -> bool:
    return is_admin(user) or is_compliance(user)


def can_administer(user: Actor | None) -> bool:
    """Users, clinics and template versions."""
    return is_admin(user)


def is_own_account(user: Actor | None, account: Actor) -> bool:
    """Return whether the account shown or changed is the acting user's own."""
    return user is not None and account.id == user.id


def can_deactivate(user: Actor | None, account: Actor) -> bool:
    """An administrator deactivates other accounts, never their own: a slip must not lock the
    last administrator out (another administrator can do it)."""
    return not is_own_account(user, account)


def can_change_role_to(user: Actor | None, account: Actor, role: str) -> bool:
    """An administrator cannot remove their own administrator role, for the same reason they
    cannot deactivate themselves; another administrator can."""
    return not is_own_account(user, account) or role == Role.ADMIN


class IncidentLike(Protocol):
    clinic_id: int
    kind: str
    reported_by_id: int


def is_clinic_lead(user: Actor | None, clinic_id: int | None) -> bool:
    """A practitioner who leads this clinic (reads identities, gets step alerts)."""
    lead_of = getattr(user, "lead_clinic_id", None)
    return is_practitioner(user) and lead_of is not None and lead_of == clinic_id


def can_report_incident(user: Actor | None) -> bool:
    """Practitioners report incidents at their own clinic."""
    return is_practitioner(user)


def can_view_incident(user: Actor | None, incident: IncidentLike) -> bool:
    """Practitioners read their clinic's incidents (without the injured person's name),
    compliance every clinic's."""
    if is_compliance(user):
        return True
    return is_practitioner(user) and incident.clinic_id == working_clinic_id(user)


def is_audited_incident_view(user: Actor, incident: IncidentLike) -> bool:
    """Reading an incident someone else reported is itself audited, as a record is."""
    return incident.reported_by_id != user.id


def can_follow_up_incident(user: Actor | None, incident: IncidentLike) -> bool:
    """Practitioners of the clinic tick post-exposure steps, record reports outside the
    clinic and add signed addenda; compliance reads."""
    return is_practitioner(user) and can_view_incident(user, incident)


def can_see_injured_identity(user: Actor | None, incident: IncidentLike) -> bool:
    """Who was injured is shown only to the clinic lead of that clinic and to compliance."""
    if is_compliance(user):
        return True
    return is_clinic_lead(user, incident.clinic_id) and incident.clinic_id == working_clinic_id(
        user
    )


def can_export_sharps_log(user: Actor | None) -> bool:
    """The sharps injury log: compliance for every clinic, a clinic lead for their own while
    they work there."""
    return is_compliance(user) or (
        user is not None and is_clinic_lead(user, working_clinic_id(user))
    )


def require(allowed: bool, message: str) -> None:
    """Raise Forbidden with a message for the user when a predicate said no."""
    if not allowed:
        raise Forbidden(message)


# --- query scopes -----------------------------------------------------------------------------


def clinic_scope(user: Actor) -> ColumnElement[bool]:
    """The clinics whose records a user may read, as a condition on clinics.

    The record filters offer exactly these, so a practitioner is never offered another
    clinic's name (and an administrator, who reads no records, no clinic at all).
    """
    if is_compliance(user):
        return true()
    if is_practitioner(user):
        return Clinic.id == working_clinic_id(user)
    return false()


def session_scope(user: Actor) -> ColumnElement[bool]:
    """The sessions a user may read, as a condition on treatment_sessions."""
    if is_compliance(user):
        return true()
    if is_practitioner(user):
        return TreatmentSession.clinic_id == working_clinic_id(user)
    return false()


def visible_sessions(user: Actor) -> Select:
    """Return a query of the sessions a user may read."""
    return select(TreatmentSession).where(session_scope(user))


def patient_scope(user: Actor) -> ColumnElement[bool]:
    """The patients a user may see, as a condition on patients."""
    if is_compliance(user):
        return true()
    if is_practitioner(user):
        return Patient.clinic_id == working_clinic_id(user)
    return false()


def visible_patients(user: Actor) -> Select:
    """Return a query of the patients a user may see, in name order."""
    return (
        select(Patient)
        .where(patient_scope(user))
        .order_by(Patient.family_name, Patient.given_name, Patient.id)
    )


def flag_scope(user: Actor) -> ColumnElement[bool]:
    """The flags a user may see, as a condition on treatment_sessions joined to flags.

    Compliance sees every flag; a practitioner the flags of their own sessions at the clinics
    they still work at (their patients' answers follow them to the one they work at now). A
    practitioner removed from a clinic still read its patients' answers on their day page and
    could mark one handled, which stopped its escalation to that clinic's duty address (a
    review): those go to the duty address instead (`escalations.practitioner_gone`).
    """
    if is_compliance(user):
        return true()
    if is_practitioner(user):
        return and_(
            TreatmentSession.practitioner_id == user.id,
            works_at(user.id, TreatmentSession.clinic_id),
        )
    return false()


def works_at(practitioner_id, clinic_id) -> ColumnElement[bool]:
    """Whether a practitioner still works at a clinic: a member of it, or working there now
    (`auth.clinics`)."""
    return or_(
        exists().where(
            ClinicMembership.user_id == practitioner_id, ClinicMembership.clinic_id == clinic_id
        ),
        exists().where(User.id == practitioner_id, User.clinic_id == clinic_id),
    )


def flags_in_scope(user: Actor, query: Select) -> Select:
    """Limit a query on flags to the user's; compliance needs no join to the sessions."""
    if is_compliance(user):
        return query
    return query.join(TreatmentSession, TreatmentSession.id == Flag.session_id).where(
        flag_scope(user)
    )


def incident_scope(user: Actor) -> ColumnElement[bool]:
    """The incidents a user may read, as a condition on incidents."""
    if is_compliance(user):
        return true()
    if is_practitioner(user):
        return Incident.clinic_id == working_clinic_id(user)
    return false()


def visible_incidents(user: Actor) -> Select:
    """Return a query of the incidents a user may read."""
    return select(Incident).where(incident_scope(user))


# --- views ------------------------------------------------------------------------------------


def needs_second_factor(user: Actor | None, required_roles: Collection[str]) -> bool:
    """Return whether this account must sign in with a second factor (MFA_REQUIRED_ROLES).

    Compliance officers and administrators see every clinic, so production requires it of
    them by default (DESIGN §6.1).
    """
    return user is not None and user.role in required_roles


def role_required(*roles: Role):
    """Allow a view to the given roles only (signed-in users of other roles get 403)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator
