"""Tables of the entitlement lists served to terminals, from which the server builds deltas (server.served_entitlements)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime

__all__ = ["EntitlementRevision", "ServedEntitlement"]


class EntitlementRevision(Base):
    """A programme's revision counter; a refresh locks this row, so revisions commit in order.

    horizon is the highest revision of a purged removal: a terminal whose
    cursor is below it may have missed that removal and gets a full set.
    """

    __tablename__ = "entitlement_revisions"

    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    horizon: Mapped[int] = mapped_column(BigInteger)


class ServedEntitlement(Base):
    """A household's row as last served for a programme, or a removal (removed true) kept for the retention time.

    revision is the programme revision of the row's last change.
    present_since is the revision at which the household was last added, and
    known_since the revision of the row's first appearance: before
    known_since the household was not listed, and between known_since and
    present_since its history is not kept.
    """

    __tablename__ = "served_entitlements"

    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"), primary_key=True)
    household_id: Mapped[bytes] = mapped_column(LargeBinary(8), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)
    persons: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    valid_until: Mapped[date | None] = mapped_column(Date)
    removed: Mapped[bool] = mapped_column(Boolean)
    revision: Mapped[int] = mapped_column(BigInteger)
    present_since: Mapped[int] = mapped_column(BigInteger)
    known_since: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
