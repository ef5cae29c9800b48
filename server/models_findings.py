"""Tables of reconciliation findings, service point locations and terminal totals (migration 0005)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime

__all__ = ["Finding", "finding_records", "ServicePointArea", "TerminalVolume", "FINDING_KINDS"]

# quota_overuse: a household used more than its quota across terminals in one period.
# distant_use: one card used at two service points too far apart for the time between the taps.
# no_card_signature: a hand-over recorded from the QR code, which proves nothing about presence.
# terminal_volume: a terminal recorded far more than the other terminals of the programme.
FINDING_KINDS = ("quota_overuse", "distant_use", "no_card_signature", "terminal_volume")

finding_records = Table(
    "finding_records",
    Base.metadata,
    Column("finding_id", ForeignKey("findings.id"), primary_key=True),
    Column("record_id", ForeignKey("redemptions.record_id"), primary_key=True),
)


class Finding(Base):
    """One suspicious pattern, with the redemption records that show it (finding_records).

    key identifies the pattern (kind, programme, period and subject), so that
    reconciling again updates a finding instead of adding a second one.
    """

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"))
    subject: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_found_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServicePointArea(Base):
    """The kelurahan where a service point is, for the distance between service points."""

    __tablename__ = "service_point_areas"

    service_point_id: Mapped[int] = mapped_column(ForeignKey("service_points.id"), primary_key=True)
    kelurahan: Mapped[str] = mapped_column(String(10))


class TerminalVolume(Base):
    """A terminal's total quantity in one programme and period, kept up to date by reconciliation."""

    __tablename__ = "terminal_volumes"

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.terminal_id"), primary_key=True)
    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
