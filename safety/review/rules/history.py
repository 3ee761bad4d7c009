"""Pure rules of a record's history: each audit event in words, with its useful detail.

Phase titles are not written here: the caller passes those of the record's own template (as
`languages.Words`, so they are said in the reader's language like the record page's), so the
history names a phase as the record page does. Codes stored in the details (a flag's kind
and severity, an escalation level) are said as labels, never shown as stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from safety.followup.rules import LEVEL_LABELS, NONE
from safety.languages import N_, Said
from safety.review.rules.flags import SEVERITY_LABELS, kind_label

ACTION_LABELS = {
    "session.create": N_("Started the session"),
    "session.phase_submit": N_("Saved a phase"),
    "session.sign": N_("Signed the checklist"),
    "session.sign_failed": N_("Signature refused"),
    "session.view": N_("Viewed the record"),
    "session.addendum": N_("Added a signed addendum"),
    "session.addendum_failed": N_("Addendum refused"),
    "session.cancel": N_("Cancelled the session"),
    "followup.schedule": N_("Scheduled the follow-ups"),
    "followup.response": N_("Patient answered a follow-up"),
    "followup.revoke_links": N_("Revoked follow-up links"),
    "flag.raise": N_("Raised a flag"),
    "flag.acknowledge": N_("Acknowledged a flag"),
    "flag.resolve": N_("Resolved a flag"),
    "flag.handled": N_("Recorded what was done about a patient's answer"),
    "flag.no_reply": N_("Called the patient: no reply"),
    "flag.escalate": N_("Sent a flag nobody acknowledged to the duty address"),
    "export.csv": N_("Exported records"),
    "export.lot_trace": N_("Exported a lot trace"),
}


def action_label(action: str) -> str:
    """Say what an audited action was, in words."""
    return ACTION_LABELS.get(action, action)


def history_summary(
    action: str, details: Mapping[str, Any], phase_titles: Mapping[str, str]
) -> str:
    """Return the useful part of an audit event's details for a record's history.

    `phase_titles` maps a phase id to its title in the record's template.
    """
    if action == "session.phase_submit":
        phase = phase_titles.get(str(details.get("phase")), str(details.get("phase", "")))
        return (
            Said(N_("%(phase)s (saved again)"), phase=phase)
            if details.get("resubmitted")
            else phase
        )
    if action == "session.create" and "template" in details:
        return Said(N_("checklist version %(version)s"), version=details["template"])
    if action == "session.sign" and details.get("content_hash"):
        return Said(N_("content hash %(hash)s…"), hash=str(details["content_hash"])[:12])
    if action in ("session.sign_failed", "session.addendum_failed"):
        return N_("account locked") if details.get("reason") == "locked" else N_("wrong password")
    if action == "followup.response" and details.get("escalation"):
        level = str(details["escalation"])
        return (
            N_("no escalation")
            if level == NONE
            else Said(N_("escalated: %(level)s"), level=_label(LEVEL_LABELS, level))
        )
    if action.startswith("flag.") and details.get("kind"):
        kind = Said(kind_label(str(details["kind"])))
        if details.get("severity"):
            severity = _label(SEVERITY_LABELS, str(details["severity"]))
            kind = Said(N_("%(kind)s (%(severity)s)"), kind=kind, severity=severity)
        if details.get("backfilled"):
            # Written by `flask audit backfill-flags` long after the flag was raised: the line's
            # time is the backfill's, not the flag's (integrity/backfill.py).
            return Said(N_("%(flag)s, raised earlier: its words put on the audit trail"), flag=kind)
        return kind
    return ""


def _label(labels: Mapping[str, str], code: str) -> str:
    """A stored code's label, said again in the reader's language (a code we have no label
    for as stored, its underscores as spaces)."""
    return Said(labels[code]) if code in labels else code.replace("_", " ")


@dataclass(frozen=True)
class HistoryLine:
    """One line of a record's history: an event, or a run of the same reader's views."""

    event: Any
    #: How many views this line stands for (1 for any other event).
    count: int = 1
    #: The last view of the run, when it stands for more than one.
    until: datetime | None = None


def fold_views(lines: Sequence[HistoryLine]) -> list[HistoryLine]:
    """Fold a run of one person's "Viewed the record" lines into one, with how many and until
    when: every view is still audited, but the printed history stays readable (issue 17).
    The person is told by their account (`actor_id`), never by a name two people may share.

    The record's query already folds the runs it reads (`review.records`); this joins the view
    the page has just recorded to the run before it, and is the rule the query follows."""
    viewed = action_label("session.view")
    folded: list[HistoryLine] = []
    for line in lines:
        last = folded[-1] if folded else None
        if (
            last is not None
            and line.event.action == viewed
            and last.event.action == viewed
            and line.event.actor_id is not None
            and last.event.actor_id == line.event.actor_id
        ):
            until = line.until or line.event.created_dt
            folded[-1] = HistoryLine(last.event, last.count + line.count, until)
            continue
        folded.append(line)
    return folded
