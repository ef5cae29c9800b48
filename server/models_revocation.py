"""Tables for the trust list and the card revocation lists that the server serves to terminals.

The city root key never reaches the server. An administrator pins the root
public key once and uploads trust lists signed offline (`kartu keys`). The
server checks each against the pinned key and serves the newest. Revocation
lists are signed here with the server's sync key, which the trust list names
with the sync role, every time a card is revoked.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime

__all__ = ["TrustRoot", "TrustListUpload", "CardRevocation", "RevocationListVersion", "MAX_REASON_LENGTH"]

MAX_REASON_LENGTH = 200


class TrustRoot(Base):
    """The pinned city root public key, in a table of at most one row (id 1)."""

    __tablename__ = "trust_root"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    kid: Mapped[bytes] = mapped_column(LargeBinary(8))
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TrustListUpload(Base):
    """A trust list as uploaded, verified against the pinned root key; the highest sequence is served."""

    __tablename__ = "trust_lists"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    signed: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CardRevocation(Base):
    """A revoked card: why, from which day (WIB), and the revocation list version that first listed it."""

    __tablename__ = "card_revocations"

    card_number: Mapped[str] = mapped_column(ForeignKey("cards.card_number"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(MAX_REASON_LENGTH))
    revoked_from: Mapped[date] = mapped_column(Date)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    list_version: Mapped[int] = mapped_column(ForeignKey("revocation_lists.version"), index=True)


class RevocationListVersion(Base):
    """One revocation list version: the signed delta from the version before, and the signed full list.

    Only the latest version keeps its full list; older rows keep the delta
    alone, which is what a terminal one version behind needs.
    """

    __tablename__ = "revocation_lists"
    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    issued_at: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    delta: Mapped[bytes] = mapped_column(LargeBinary)
    full: Mapped[bytes | None] = mapped_column(LargeBinary)
    signer_kid: Mapped[bytes] = mapped_column(LargeBinary(8))
