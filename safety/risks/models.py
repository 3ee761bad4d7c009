"""Checklist template versions generated from a risk register."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safety.dbtypes import JSONDocument, UTCDateTime, utcnow
from safety.extensions import db


class TemplateVersion(db.Model):
    """A checklist template. Immutable once published (a database trigger refuses changes)."""

    __tablename__ = "template_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Increasing version number; sessions pin the version they were started on.
    version: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(200))
    #: Phases and items with linkIds, types, rules, risk kinds and provenance.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    #: The imported risk section, when the template came from a document.
    source_text: Mapped[str | None] = mapped_column(Text)
    #: Statements of the source the catalogue could not match.
    unmatched: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_dt: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def is_published(self) -> bool:
        return self.published_dt is not None

    def __repr__(self) -> str:
        return f"<TemplateVersion v{self.version}>"
