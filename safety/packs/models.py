"""The needle packs a session opened: what a recall names (GTIN, lot, expiry)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from safety.extensions import db

#: Byte order on PostgreSQL, like the sessions' lot column (migration 0004): a prefix trace is
#: a range on the index, which a collation that ignores punctuation would cut short.
LotString = String(64).with_variant(String(64, collation="C"), "postgresql")


class SessionPack(db.Model):
    """One pack recorded by one Time out submission. Insert-only (migrations 0011, 0013).

    A resubmitted Time out records its packs again under the new phase entry, and marks the
    packs it replaces `superseded`: the one change the database lets a pack row have. Nothing
    is deleted: a session's packs are its rows not superseded, and the earlier ones stay as
    the record of what was first entered.
    """

    __tablename__ = "session_packs"
    __table_args__ = (
        UniqueConstraint("entry_id", "position"),
        # The lot trace: by normalised lot (exact or prefix) and by GTIN and lot, newest first.
        # `superseded` is in the index so a trace reads this index alone, row after row, with
        # no lookup per pack of whether it is still the session's (migration 0013).
        Index("ix_session_packs_lot", "lot_key", "superseded", "session_date", "session_id"),
        Index(
            "ix_session_packs_gtin_lot",
            "gtin",
            "lot_key",
            "superseded",
            "session_date",
            "session_id",
        ),
        # "Same pack as last session": a clinic's recent packs.
        Index("ix_session_packs_clinic_date", "clinic_id", "session_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The Time out submission that recorded the pack.
    entry_id: Mapped[int] = mapped_column(ForeignKey("phase_entries.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    #: Copied from the session, so the trace and the recent packs read one index.
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    session_date: Mapped[date] = mapped_column(Date)
    #: 1 for the first pack of the entry (the one in `timeout.needle_lot`), then 2, 3, ...
    position: Mapped[int] = mapped_column()
    #: GS1 GTIN, the UDI device identifier (AI 01), when scanned or typed; 14 digits.
    gtin: Mapped[str | None] = mapped_column(String(14))
    #: The lot as entered or scanned (trimmed), shown back to people.
    lot: Mapped[str] = mapped_column(String(64))
    #: The lot normalised by `packs.rules.normalise_lot`: what every recall search matches.
    lot_key: Mapped[str] = mapped_column(LotString)
    #: Expiry printed on the pack (AI 17). Required for every pack entered; empty only if a
    #: record from before packs (migration 0011) had none to copy.
    expiry: Mapped[date | None] = mapped_column(Date)
    #: Serial number (AI 21), when the barcode carries one.
    serial: Mapped[str | None] = mapped_column(String(20))
    #: Set when a resubmitted Time out recorded the session's packs again: this row is then
    #: history, no longer what the session used. Set once, never cleared (the trigger of 0013).
    superseded: Mapped[bool] = mapped_column(default=False, server_default=false())

    @property
    def audit_chain(self) -> int:
        return self.clinic_id

    def __repr__(self) -> str:
        return f"<SessionPack {self.id} of session {self.session_id}>"
