"""Small presentation helpers for templates: local times and answers in words."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from safety.followup import rules as followup_rules
from safety.risks.rules import Item


def local_time(
    value: datetime | None, zone: str | ZoneInfo, fmt: str = "%d %b %Y, %H:%M %Z"
) -> str:
    """Show a stored UTC time in the clinic's zone."""
    if value is None:
        return ""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return value.astimezone(tz).strftime(fmt)


def utc_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def answer_text(item: Item, value: Any) -> str:
    """Return an answer the way a person would say it."""
    if value is None:
        return "—"
    if item.type == "boolean":
        return "Yes" if value else "No"
    if item.type in {"choice", "multichoice"}:
        codes = value if isinstance(value, list) else [value]
        return ", ".join((item.option(c).display if item.option(c) else c) for c in codes)
    return str(value)


FILTERS = {
    "local_time": local_time,
    "utc_time": utc_time,
    "followup_kind": followup_rules.kind_label,
    "followup_status": followup_rules.status_label,
    "followup_channel": lambda channel: followup_rules.CHANNEL_LABELS.get(channel, channel),
    "escalation": lambda level: followup_rules.LEVEL_LABELS.get(level, level),
}
GLOBALS = {"answer_text": answer_text}
