"""`flask reminders ...`: the follow-up delivery worker."""

from __future__ import annotations

import click


@click.group("reminders")
def reminders_cli() -> None:
    """Patient follow-up reminders."""
