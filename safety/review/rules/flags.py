"""Pure rules of flags: their severities, the queue's filters, and how a flag reads.

The severity scale is the checklist rules' (the ones that raise flags); it is not written
again here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from safety.checklists.rules import SEVERITIES, FlagStatus, Severity
from safety.followup import rules as followup_rules
from safety.languages import N_

#: How each severity reads, most serious first.
SEVERITY_LABELS = {
    Severity.CRITICAL: N_("Critical"),
    Severity.HIGH: N_("High"),
    Severity.MEDIUM: N_("Medium"),
    Severity.LOW: N_("Low"),
}
assert tuple(SEVERITY_LABELS) == SEVERITIES
#: Escalations from a patient's follow-up answers (a flag's kind is its level): they go to
#: the top of every queue.
URGENT_KINDS = followup_rules.URGENT_LEVELS
#: The flags only a clinician acknowledges (policy.can_acknowledge_flags_of): the urgent
#: answers, and a chest check nobody answered, whose escalation a click would also stop.
NO_ANSWER = followup_rules.NO_ANSWER
CLINICIAN_ACKNOWLEDGES = (*URGENT_KINDS, NO_ANSWER)


def waits_at_the_duty_address(
    kind: str, status: str, escalated: datetime | None, acknowledged: datetime | None
) -> bool:
    """Whether a flag went to the duty address and nobody has looked after it since: open, or
    a silence its practitioner had acknowledged before it was sent on (which only their
    leaving does). These head the compliance queue."""
    if escalated is None or status == FlagStatus.RESOLVED:
        return False
    if status == FlagStatus.OPEN:
        return True
    return kind == NO_ANSWER and acknowledged is not None and acknowledged < escalated


#: What the flags queue can show, with its label: unresolved (open or acknowledged) is where
#: work starts.
FLAG_STATUS_FILTERS = {
    "unresolved": N_("Open or acknowledged"),
    FlagStatus.OPEN.value: N_("Open"),
    FlagStatus.ACKNOWLEDGED.value: N_("Acknowledged"),
    FlagStatus.RESOLVED.value: N_("Resolved"),
    "all": N_("All"),
}


@dataclass(frozen=True)
class FlagFilters:
    status: str = "unresolved"
    severity: str | None = None
    kind: str | None = None
    #: One clinic's flags (compliance reads every clinic's): the dashboard's per-clinic counts
    #: link to the same flags.
    clinic_id: int | None = None

    def as_args(self) -> dict[str, str]:
        args = {"status": self.status}
        if self.clinic_id is not None:
            args["clinic"] = str(self.clinic_id)
        if self.severity:
            args["severity"] = self.severity
        if self.kind:
            args["kind"] = self.kind
        return args


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def flags_summary(flags: Iterable[tuple[str, str]]) -> str:
    """Summarise (severity, kind) pairs for one CSV cell, most serious first."""
    ordered = sorted(flags, key=lambda f: (severity_rank(f[0]), f[1]))
    return "; ".join(f"{severity}:{kind}" for severity, kind in ordered)


#: The kinds of flag the default register and the follow-up raise, in words (marked for the
#: catalogues); a template's own kind reads from its code.
KIND_LABELS = {
    "broken_needle": N_("Broken needle"),
    "cancelled_after_time_out": N_("Cancelled after the Time out"),
    "count_discrepancy": N_("Count discrepancy"),
    "deviation": N_("Deviation"),
    "gloves_not_worn": N_("Gloves not worn"),
    "large_bruise": N_("Large bruise"),
    "not_fit_to_leave": N_("Not fit to leave"),
    "prolonged_bleeding": N_("Prolonged bleeding"),
    "reaction": N_("Reaction"),
    "reused_guide_tube": N_("Reused guide tube"),
    "emergency": N_("Emergency"),
    "same_day": N_("Same day"),
    "review": N_("Review"),
    "no_answer": N_("No answer"),
}


def kind_label(kind: str) -> str:
    """Show a flag kind in words (in English; templates pass it through `tr`)."""
    return KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


def age_text(created: datetime, now: datetime) -> str:
    """Say how long a flag has waited, in the largest unit that makes sense."""
    seconds = max(int((now - created).total_seconds()), 0)
    if seconds < 3600:
        minutes = seconds // 60
        return "just now" if minutes < 1 else f"{minutes} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
