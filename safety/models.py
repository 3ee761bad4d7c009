"""Import every model so that the metadata (and Alembic's autogenerate) sees all tables."""

from safety.audit.models import AuditChainHead, AuditEvent
from safety.auth.models import (
    ApiToken,
    ClinicMembership,
    Invitation,
    LoginSession,
    LoginThrottle,
    RecoveryCode,
    User,
)
from safety.checklists.models import Addendum, Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.followup.models import DevMessage, FollowUp, OutboxMessage, PatientLink, PatientResponse
from safety.incidents.models import (
    ExternalReport,
    Incident,
    IncidentAddendum,
    IncidentAlert,
    IncidentStep,
    InjuredPerson,
)
from safety.integrity.models import ChainFrontier, Checkpoint, CheckpointHead, VerificationRun
from safety.packs.models import SessionPack
from safety.risks.models import TemplateVersion

__all__ = [
    "Addendum",
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "ChainFrontier",
    "Checkpoint",
    "CheckpointHead",
    "Clinic",
    "ClinicMembership",
    "DevMessage",
    "ExternalReport",
    "Flag",
    "FollowUp",
    "Incident",
    "IncidentAddendum",
    "IncidentAlert",
    "IncidentStep",
    "InjuredPerson",
    "Invitation",
    "LoginSession",
    "LoginThrottle",
    "OutboxMessage",
    "Patient",
    "PatientLink",
    "PatientResponse",
    "PhaseEntry",
    "RecoveryCode",
    "SessionPack",
    "TemplateVersion",
    "TreatmentSession",
    "User",
    "VerificationRun",
]
