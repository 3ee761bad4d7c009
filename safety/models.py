"""Import every model so that the metadata (and Alembic's autogenerate) sees all tables."""

from safety.audit.models import AuditChainHead, AuditEvent
from safety.auth.models import LoginSession, User
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.risks.models import TemplateVersion

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "Clinic",
    "Flag",
    "LoginSession",
    "Patient",
    "PhaseEntry",
    "TemplateVersion",
    "TreatmentSession",
    "User",
]
