"""Clinic and patient use cases, scoped to what the acting user may see.

One module of about 520 lines: a clinic's settings (its zone, hours and working days) and its
patients (add, find, correct) are one feature's use cases, and the patients' read the clinic's
(a patient's "today" and date of birth are checked in the clinic's zone).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import ColumnElement, and_, false, or_, select

from safety import languages
from safety.addresses import is_email_address
from safety.audit import services as audit
from safety.auth import policy
from safety.auth.models import User
from safety.clinics import rules
from safety.clinics.models import Clinic, Patient, zone_for
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, NotFound
from safety.extensions import db, take_turns_on
from safety.followup import patient as followups
from safety.ids import is_id
from safety.languages import N_, Said

PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")


def list_patients(actor: User, *, limit: int = 500) -> list[Patient]:
    """Return the patients the actor may see, in the policy's order, at most `limit`."""
    return list(db.session.scalars(policy.visible_patients(actor).limit(limit)))


def get_patient(actor: User, patient_id: int) -> Patient:
    """Return a patient in the actor's scope; another clinic's patient is simply not found."""
    if not is_id(patient_id):
        raise NotFound(N_("No such patient."))
    patient = db.session.scalar(policy.visible_patients(actor).where(Patient.id == patient_id))
    if patient is None:
        raise NotFound(N_("No such patient."))
    return patient


def add_patient(
    actor: User,
    *,
    given_name: str,
    family_name: str,
    email: str | None,
    phone: str | None,
    is_followup_consent: bool,
    language: str = languages.DEFAULT,
    birth_date: str | None = None,
    now: datetime | None = None,
    form_key: str | None = None,
) -> Patient:
    """Register a patient at the practitioner's clinic, written to in `language`.

    `birth_date` is optional text as a date input sends it (YYYY-MM-DD). `form_key` is the
    one-time key of the form that sent it (`rules.new_form_key`): the same form sent again (a
    triple tap once made three patients) is the patient it already added. Only the same
    form: a mother and daughter of one name and one phone, added one after the other, were
    once made one patient by comparing their details (a review). The same key with other
    details (the form brought back with Back and changed) is refused, never taken for the
    patient it added.
    """
    if not policy.can_add_patient(actor):
        raise NotFound()
    now = now or utcnow()
    fields = _patient_fields(
        given_name,
        family_name,
        email,
        phone,
        is_followup_consent,
        language,
        N_("The patient was not added."),
        birth_date=birth_date,
        today=_clinic_today(actor, now),
    )
    key = form_key if form_key and rules.FORM_KEY.fullmatch(form_key) else None
    if key is not None:
        take_turns_on(User, actor.id)
        if (same := _added_by_form(actor, key, fields)) is not None:
            return same
    patient = Patient(
        clinic_id=policy.working_clinic_id(actor),
        **fields,
        created_by_id=actor.id,
        created_dt=now,
        form_key=key,
    )
    db.session.add(patient)
    db.session.flush()
    audit.record(
        "patient.create",
        actor=actor,
        obj=patient,
        details={"followup_consent": is_followup_consent, "language": language},
        now=now,
    )
    return patient


def _added_by_form(actor: User, form_key: str, fields: dict) -> Patient | None:
    """The patient this very form added when it was sent before, if it was; a Conflict when
    the form was sent before with other details, by someone else or at another clinic."""
    added = db.session.scalar(select(Patient).where(Patient.form_key == form_key))
    if added is None:
        return None
    seen = db.session.scalar(policy.visible_patients(actor).where(Patient.id == added.id))
    if seen is None or added.created_by_id != actor.id:
        raise Conflict(FORM_USED)
    if any(getattr(added, name) != value for name, value in fields.items()):
        raise Conflict(Said(FORM_ADDED, name=added.display_name))
    return added


#: Why a new-patient form sent again is refused: it already added someone (`_added_by_form`).
FORM_USED = N_("This form was already used. Add the patient from a new form.")
FORM_ADDED = N_(
    "This form already added %(name)s. Open their session from Today, or add another patient "
    "from this new form."
)


def _patient_fields(
    given_name: str,
    family_name: str,
    email: str | None,
    phone: str | None,
    is_followup_consent: bool,
    language: str,
    refusal: str,
    *,
    birth_date: str | None,
    today: date,
) -> dict:
    """A patient's details cleaned, or a DomainError naming each field to correct."""
    given_name, family_name = given_name.strip(), family_name.strip()
    email = (email or "").strip().lower() or None
    phone = (phone or "").strip() or None
    errors = {}
    if not given_name:
        errors["given_name"] = N_("Enter the patient's first name.")
    if not family_name:
        errors["family_name"] = N_("Enter the patient's last name.")
    if email and not is_email_address(email):
        errors["email"] = N_("Enter an email address like name@example.com.")
    if phone and not PHONE.fullmatch(phone):
        errors["phone"] = N_("Enter a phone number using digits, spaces and an optional +.")
    if not languages.is_language(language):
        errors["language"] = N_("Choose the language the patient reads.")
    if is_followup_consent and not (email or phone):
        errors["email"] = N_("Follow-up needs an email address or a phone number.")
    born = None
    try:
        born = rules.birth_date(birth_date, today)
    except ValueError as exc:
        errors["birth_date"] = str(exc)
    if errors:
        raise DomainError(refusal, errors)
    return {
        "given_name": given_name,
        "family_name": family_name,
        "email": email,
        "phone": phone,
        "is_followup_consent": bool(is_followup_consent),
        "language": language,
        "birth_date": born,
    }


def update_patient(
    actor: User,
    patient_id: int,
    *,
    given_name: str,
    family_name: str,
    email: str | None,
    phone: str | None,
    is_followup_consent: bool,
    language: str,
    birth_date: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Correct a patient's details (name, contact, consent to follow-up, language); returns
    the fields that changed. Audited by field name and, for consent and language, the new
    value; the contact details themselves stay out of the audit trail. Messages already
    scheduled go to the details in force when they are sent, with a new link when the contact
    changed, and none once consent is withdrawn (`followup.patient.after_details_changed`)."""
    patient = get_patient(actor, patient_id)
    if not policy.can_add_patient(actor):
        raise NotFound()
    # Two taps on Save at once take turns: each compared the old details and wrote its own
    # event and revoked the links again (a review); the second now finds nothing to change.
    take_turns_on(Patient, patient.id)
    db.session.refresh(patient)
    fields = _patient_fields(
        given_name,
        family_name,
        email,
        phone,
        is_followup_consent,
        language,
        N_("The patient's details were not saved."),
        birth_date=birth_date,
        today=_clinic_today(actor, now or utcnow()),
    )
    changed = [name for name, value in fields.items() if getattr(patient, name) != value]
    if not changed:
        return changed
    for name in changed:
        setattr(patient, name, fields[name])
    db.session.flush()
    details: dict = {"changed": changed}
    if "is_followup_consent" in changed:
        details["followup_consent"] = fields["is_followup_consent"]
    if "language" in changed:
        details["language"] = fields["language"]
    audit.record("patient.update", actor=actor, obj=patient, details=details, now=now)
    followups.after_details_changed(
        actor, patient.id, changed, consent=fields["is_followup_consent"], now=now
    )
    return changed


def on_clinic_days(
    clinic_id: ColumnElement[int],
    instant: ColumnElement[datetime],
    since: date | None,
    until: date | None,
) -> ColumnElement[bool]:
    """Rows whose `instant` falls from `since` to `until` (either may be open), each day read
    in the calendar of the row's clinic (`clinic_id`).

    A day is the clinic's day, as a session's date is: a Toronto incident at 20:50 on
    3 December is on the 3rd there, though already the 4th in UTC. Clinics in one zone share
    their bounds, so the condition grows with the zones in use, not with the clinics."""
    # A day at either end of the calendar bounds nothing (no time is stored that far out),
    # and the midnight beyond it cannot be written: 9999-12-31 means "no end".
    if since is not None and since <= date.min + timedelta(days=1):
        since = None
    if until is not None and until >= date.max - timedelta(days=1):
        until = None
    by_zone: dict[str, list[int]] = defaultdict(list)
    for row in db.session.execute(select(Clinic.id, Clinic.timezone)):
        by_zone[row.timezone].append(row.id)
    days = []
    for timezone, clinic_ids in sorted(by_zone.items()):
        zone = zone_for(timezone)
        bounds = [clinic_id.in_(sorted(clinic_ids))]
        if since is not None:
            bounds.append(instant >= datetime.combine(since, time.min, zone))
        if until is not None:
            bounds.append(instant < datetime.combine(until + timedelta(days=1), time.min, zone))
        days.append(and_(*bounds))
    return or_(*days) if days else false()


def _clinic_today(actor: User, now: datetime) -> date:
    """Today where the patient is seen: a birth date is never later than that."""
    return now.astimezone(actor.clinic.zone).date() if actor.clinic else now.date()


@cache
def _time_zones() -> frozenset[str]:
    # "localtime" is the server's own zone and "Factory" has no offset: neither suits a clinic.
    return frozenset(available_timezones()) - {"localtime", "Factory", "posixrules"}


def is_time_zone(name: str) -> bool:
    """Return whether a name is an IANA time zone this server knows."""
    return name in _time_zones()


def _clinic_settings(
    *,
    name: str,
    timezone: str,
    workday_start_hour: int | None,
    workday_end_hour: int | None,
    duty_email: str | None,
    phone: str | None,
    country: str | None,
    working_days: str | None,
    language: str | None = languages.DEFAULT,
    duty_phone: str | None = None,
    clinic_id: int | None = None,
) -> dict:
    """Return cleaned clinic settings, or raise DomainError naming every field that is wrong.

    A clinic needs a duty address, a phone number and a country: an escalated patient answer
    goes to the first, and a worried patient is given the other two (DESIGN §4). The on-call
    mobile is optional: emergencies are texted there as well when it is set.
    """
    name, timezone = name.strip(), timezone.strip()
    duty_email = (duty_email or "").strip().lower() or None
    duty_phone = (duty_phone or "").strip() or None
    phone = (phone or "").strip() or None
    country = (country or "").strip().upper() or None
    days = "".join(sorted(set(working_days or "")))
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = N_("Enter the clinic's name.")
    elif len(name) > 200:
        errors["name"] = N_("Use at most 200 characters for the name.")
    else:
        same_name = select(Clinic.id).where(Clinic.name == name)
        if clinic_id is not None:
            same_name = same_name.where(Clinic.id != clinic_id)
        if db.session.scalar(same_name.limit(1)) is not None:
            errors["name"] = N_("Another clinic already has this name.")
    if not timezone:
        errors["timezone"] = N_("Choose the clinic's time zone.")
    elif not is_time_zone(timezone):
        errors["timezone"] = Said(
            N_("%(zone)s is not a time zone we know. Use an IANA name such as Europe/London."),
            zone=repr(timezone),
        )
    hours = {"workday_start_hour": workday_start_hour, "workday_end_hour": workday_end_hour}
    for field, hour in hours.items():
        if hour is None or not 0 <= hour <= 23:
            errors[field] = N_("Choose an hour from 0 to 23.")
    if not errors.keys() & hours.keys() and workday_start_hour >= workday_end_hour:
        errors["workday_end_hour"] = N_("The working day must end after it starts.")
    if not duty_email:
        errors["duty_email"] = N_(
            "Enter the duty address: emergencies and unanswered escalations go there."
        )
    elif not is_email_address(duty_email):
        errors["duty_email"] = N_("Enter an email address like duty@example.com.")
    if duty_phone and not PHONE.fullmatch(duty_phone):
        errors["duty_phone"] = N_(
            "Enter a mobile number using digits, spaces and an optional +, or leave it empty."
        )
    if not phone:
        errors["phone"] = N_("Enter the clinic's phone number: patients are given it.")
    elif not PHONE.fullmatch(phone):
        errors["phone"] = N_("Enter a phone number using digits, spaces and an optional +.")
    if country not in rules.COUNTRIES:
        errors["country"] = N_(
            "Choose the clinic's country: patients are told its emergency number."
        )
    if not days or not set(days) <= set("1234567"):
        errors["working_days"] = N_("Choose at least one working day.")
    if not languages.is_language(language):
        errors["language"] = N_("Choose a language from the list.")
    if errors:
        raise DomainError(N_("Check the fields below."), errors)
    return {
        "name": name,
        "timezone": timezone,
        "workday_start_hour": workday_start_hour,
        "workday_end_hour": workday_end_hour,
        "duty_email": duty_email,
        "duty_phone": duty_phone,
        "phone": phone,
        "country": country,
        "working_days": days,
        "language": language,
    }


def create_clinic(
    *,
    name: str,
    timezone: str,
    duty_email: str | None,
    phone: str | None,
    country: str | None = None,
    workday_start_hour: int | None = 8,
    workday_end_hour: int | None = 19,
    working_days: str | None = rules.DEFAULT_WORKING_DAYS,
    language: str | None = languages.DEFAULT,
    duty_phone: str | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> Clinic:
    """Create a clinic with its time zone, working time, duty address (and on-call mobile),
    phone and country.

    The country defaults to the one the time zone lies in, where that is a country we know.
    """
    settings = _clinic_settings(
        name=name,
        timezone=timezone,
        workday_start_hour=workday_start_hour,
        workday_end_hour=workday_end_hour,
        duty_email=duty_email,
        phone=phone,
        country=country if country is not None else rules.country_for_zone(timezone.strip()),
        working_days=working_days,
        language=language,
        duty_phone=duty_phone,
    )
    clinic = Clinic(**settings, created_dt=now or utcnow())
    db.session.add(clinic)
    db.session.flush()
    audit.record("clinic.create", actor=actor, obj=clinic, details=settings, now=now)
    return clinic


def reading_zone(actor: User) -> ZoneInfo:
    """The zone the actor reads times in on pages that belong to no one clinic
    (rules.reading_zone): the compliance desk, the administration, the templates."""
    own = actor.clinic.timezone if actor.clinic else None
    # Two distinct zones are enough to know there is more than one.
    zones = () if own else db.session.scalars(select(Clinic.timezone).distinct().limit(2)).all()
    return zone_for(rules.reading_zone(own, zones))


def reader_now(actor: User) -> datetime:
    """Now on the actor's clock (`reading_zone`): the day and time a file they save is named
    after, or a preview they read is dated."""
    return utcnow().astimezone(reading_zone(actor))


def clinics_to_filter(actor: User) -> list[Clinic]:
    """The clinics a list (incidents, flags) offers to narrow it to.

    Someone who reads every clinic's chooses among all of them; a practitioner reads only
    their working clinic's, so the list offers no choice at all."""
    if not policy.is_compliance(actor):
        return []
    return list(
        db.session.scalars(select(Clinic).where(policy.clinic_scope(actor)).order_by(Clinic.name))
    )


def get_clinic(clinic_id: int) -> Clinic:
    """Return a clinic by id, or raise NotFound."""
    clinic = db.session.get(Clinic, clinic_id) if is_id(clinic_id) else None
    if clinic is None:
        raise NotFound(N_("No such clinic."))
    return clinic


def update_clinic(
    clinic_id: int,
    *,
    name: str,
    timezone: str,
    workday_start_hour: int | None,
    workday_end_hour: int | None,
    duty_email: str | None,
    phone: str | None,
    country: str | None,
    working_days: str | None,
    actor: User,
    language: str | None = None,
    duty_phone: str | None = None,
    now: datetime | None = None,
) -> dict[str, list]:
    """Change a clinic's settings; returns {field: [old, new]} for what changed (audited).

    A language or on-call mobile left out (None) is kept; an empty mobile removes it. Two
    clicks at once take turns on the clinic, so the second finds nothing left to change
    (each wrote its own event, a review)."""
    clinic = get_clinic(clinic_id)
    take_turns_on(Clinic, clinic.id)
    db.session.refresh(clinic)
    settings = _clinic_settings(
        name=name,
        timezone=timezone,
        workday_start_hour=workday_start_hour,
        workday_end_hour=workday_end_hour,
        duty_email=duty_email,
        phone=phone,
        country=country,
        working_days=working_days,
        language=language if language is not None else clinic.language,
        duty_phone=duty_phone if duty_phone is not None else clinic.duty_phone,
        clinic_id=clinic.id,
    )
    changes = {
        field: [getattr(clinic, field), value]
        for field, value in settings.items()
        if getattr(clinic, field) != value
    }
    if not changes:
        return changes
    for field, (_, value) in changes.items():
        setattr(clinic, field, value)
    db.session.flush()
    audit.record("clinic.update", actor=actor, obj=clinic, details={"changes": changes}, now=now)
    return changes


def set_patient_language(
    actor: User, patient_id: int, language: str, *, now: datetime | None = None
) -> Patient:
    """Change the language a patient is written to in; the next message uses it."""
    patient = get_patient(actor, patient_id)
    if not languages.is_language(language):
        raise DomainError(
            N_("Choose the language the patient reads."),
            {"language": N_("Choose the language the patient reads.")},
        )
    take_turns_on(Patient, patient.id)  # two taps at once: the second finds it set
    db.session.refresh(patient)
    if patient.language != language:
        before, patient.language = patient.language, language
        audit.record(
            "patient.language",
            actor=actor,
            obj=patient,
            details={"from": before, "to": language},
            now=now,
        )
    return patient
