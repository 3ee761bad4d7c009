"""`flask tokens ...`: bearer tokens for the FHIR read API."""

from __future__ import annotations

import click


@click.group("tokens")
def tokens_cli() -> None:
    """Bearer tokens for the FHIR read API."""
