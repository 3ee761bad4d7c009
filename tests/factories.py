"""Clinics, users, patients, sessions and incident reports made through the services,
committed, for the tests and for the worlds modules build once (tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from safety.dbtypes import utcnow
from safety.extensions import db
from safety.incidents import rules as incident_rules

PASSWORD = "correct-horse-battery-staple"

#: Answers that complete each phase of the current default checklist (version 2) cleanly
#: (form field name -> values).
CLEAN_PHASES: dict[str, dict[str, list[str]]] = {
    "signin": {
        "signin.authorised": ["yes"],
        "signin.identity": ["yes"],
        "signin.consent": ["yes"],
        "signin.skin_ok": ["yes"],
        "signin.anticoagulant": ["no"],
        "signin.faint_history": ["no"],
        "signin.conditions": ["none"],
        "signin.regions": ["lumbar", "hip"],
    },
    "timeout": {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needle_lot": ["LOT-2611A"],
        "timeout.needle_expiry": ["2099-12-31"],
        "timeout.needles_sterile": ["yes"],
        "timeout.opened_in_view": ["yes"],
        "timeout.guide_tubes": ["single_use"],
        "timeout.field_ready": ["yes"],
        "timeout.no_touch": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": ["worn"],
    },
    "signout": {
        "signout.needles_opened": ["6"],
        "signout.needles_used": ["6"],
        "signout.needles_removed": ["6"],
        "signout.needles_disposed": ["6"],
        "signout.sharps_safe": ["yes"],
        "signout.needles_intact": ["yes"],
        "signout.pain_during": ["2"],
        "signout.bleeding": ["none"],
        "signout.bruising": ["none"],
        "signout.reactions": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": ["email"],
    },
}
#: The same for version 1, which sessions started before version 2 keep.
CLEAN_PHASES_V1: dict[str, dict[str, list[str]]] = {
    "signin": {
        "signin.authorised": ["yes"],
        "signin.consent": ["yes"],
        "signin.anticoagulant": ["no"],
        "signin.skin_ok": ["yes"],
        "signin.regions": ["lumbar", "hip"],
    },
    "timeout": {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needles_sterile": ["yes"],
        "timeout.needle_lot": ["LOT-2611A"],
        "timeout.needle_expiry": ["2099-12-31"],
        "timeout.clean_field": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": ["worn"],
        "timeout.needles_inserted": ["6"],
        "timeout.pain_during": ["2"],
    },
    "signout": {
        "signout.needles_removed": ["6"],
        "signout.needles_disposed": ["6"],
        "signout.bleeding": ["none"],
        "signout.bruising": ["none"],
        "signout.reaction": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": ["email"],
    },
}


def clean_phases(session) -> dict[str, dict[str, list[str]]]:
    """The clean answers of the template version a session pinned."""
    version = session.template_version.definition.get("register_version", 1)
    return CLEAN_PHASES_V1 if version == 1 else CLEAN_PHASES


def saved(obj):
    """Commit and reload an object so its columns stay readable after a request."""
    db.session.commit()
    db.session.refresh(obj)
    return obj


class Factories:
    """Clinics, users, patients and sessions made through the services, committed."""

    def __init__(self, numbers: dict[str, int] | None = None) -> None:
        #: The last number given to a default clinic name and to a default user.
        self.numbers = dict(numbers or {"clinic": 0, "user": 0})

    def _next(self, kind: str) -> int:
        self.numbers[kind] += 1
        return self.numbers[kind]

    def clinic(self, name: str | None = None, timezone: str = "Europe/London"):
        from safety.clinics import services

        n = self._next("clinic")
        clinic = services.create_clinic(
            name=name or f"Clinic {n}",
            timezone=timezone,
            duty_email=f"duty{n}@clinic.test",
            phone="+44 20 7946 0000",
        )
        return saved(clinic)

    def user(
        self,
        role: str = "practitioner",
        clinic=None,
        email: str | None = None,
        name: str | None = None,
        language: str = "en",
    ):
        from safety.auth import services

        if role == "practitioner" and clinic is None:
            clinic = self.clinic()
        n = self._next("user")
        user = services.create_user(
            email=email or f"{role}{n}@clinic.test",
            name=name or f"Test {role.title()} {n}",
            role=role,
            password=PASSWORD,
            clinic_id=clinic.id if clinic else None,
        )
        user.language = language
        return saved(user)

    def patient(
        self,
        practitioner,
        given_name: str = "Ada",
        family_name: str = "Lovelace",
        consent: bool = True,
        language: str = "en",
    ):
        from safety.clinics import services

        patient = services.add_patient(
            practitioner,
            given_name=given_name,
            family_name=family_name,
            email="ada@example.org",
            phone=None,
            is_followup_consent=consent,
            language=language,
        )
        return saved(patient)

    def session(
        self,
        practitioner,
        phases=(),
        overrides: dict | None = None,
        sign: bool = False,
        patient=None,
    ):
        """Start a session and submit the given phases (clean answers, overridable)."""
        from safety.checklists import services

        patient = patient or self.patient(practitioner)
        session = services.start_session(practitioner, patient_id=patient.id)
        clean = clean_phases(session)
        for phase in phases:
            form = {
                **clean[phase],
                **{k: v for k, v in (overrides or {}).items() if k.startswith(phase + ".")},
            }
            services.submit_phase(practitioner, session.id, phase, form)
        if sign:
            services.sign_session(practitioner, session.id, PASSWORD)
        return saved(session)


#: The injured person of `sharps_report`: never in an audit event, a log line or an export.
INJURED = "Grace Hopper-Injured"


def sharps_report(now, **changes) -> incident_rules.Report:
    """A complete needlestick report five minutes before `now`, with `changes` made to it."""
    values = dict(
        kind=incident_rules.Kind.SHARPS_INJURY,
        occurred_dt=now - timedelta(minutes=5),
        work_area="Treatment room 2",
        description="Stuck on the thumb while clearing the tray after the session.",
        device_type="filiform_needle",
        device_brand="Seirin J-type 0.25 x 40",
        device_gtin="04987654321094",
        device_lot="LOT-2611A",
        device_purpose="cleaning_up",
        how="after_use_before_disposal",
        body_site="thumb",
        is_used_on_patient=True,
        injured_name=INJURED,
        injured_job="Physiotherapist",
    )
    values.update(changes)
    return incident_rules.Report(**values)


#: The factories' clinics are in London.
LONDON = ZoneInfo("Europe/London")
#: The device lot the incident report form names.
INCIDENT_LOT = "LOT-7733Q"


def london_minutes_ago(minutes: int) -> str:
    """The clinic's wall-clock time a few minutes ago, as a person types it in a form (in
    summer an hour after UTC's)."""
    return (utcnow().astimezone(LONDON) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def report_form(**changes) -> dict:
    """The incident form as a practitioner fills it in for a needlestick three minutes ago,
    with `changes` made to it (its password among them: the signer's)."""
    return {
        "kind": "sharps_injury",
        "session_id": "",
        "occurred_dt": london_minutes_ago(3),
        "work_area": "Room 2",
        "device_type": "filiform_needle",
        "device_brand": "Seirin",
        "device_gtin": "",
        "device_lot": INCIDENT_LOT,
        "device_purpose": "cleaning_up",
        "how": "recapping",
        "body_site": "thumb",
        "is_used_on_patient": "yes",
        "description": "Recapped by habit.",
        "injured_name": "Ada Author",
        "injured_job": "Physiotherapist",
        **changes,
    }
