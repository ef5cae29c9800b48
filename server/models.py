"""Database tables of the central server (SQLAlchemy 2 declarative models).

The schema itself is created and changed only by the Alembic migrations in
server/migrations/; these classes must match the latest migration.
Timestamps are timezone-aware UTC datetimes and dates are calendar dates in WIB.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "UTCDateTime",
    "Programme",
    "Card",
    "ServicePoint",
    "EnrolmentCode",
    "Terminal",
    "Redemption",
    "CARD_ACTIVE",
    "CARD_REVOKED",
]

CARD_ACTIVE = "active"
CARD_REVOKED = "revoked"

# Fixed constraint names, so that migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL stores timestamptz. SQLite has no time zones, so the value is
    stored as naive UTC and marked UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


service_point_programmes = Table(
    "service_point_programmes",
    Base.metadata,
    Column("service_point_id", ForeignKey("service_points.id"), primary_key=True),
    Column("program", ForeignKey("programmes.code"), primary_key=True),
)


class Programme(Base):
    """A city programme with a quota of units per household per calendar month."""

    __tablename__ = "programmes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_opd: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    quota: Mapped[int] = mapped_column(Integer)
    quota_scope: Mapped[str] = mapped_column(String(16))
    quota_period: Mapped[str] = mapped_column(String(16))
    desil_min: Mapped[int] = mapped_column(Integer)
    desil_max: Mapped[int] = mapped_column(Integer)


class Card(Base):
    """An issued card as registered by the issuance station."""

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("desil BETWEEN 1 AND 10", name="desil_range"),
        CheckConstraint("assurance IN ('chip', 'qr')", name="assurance_kind"),
        CheckConstraint("status IN ('active', 'revoked')", name="status_kind"),
        CheckConstraint(
            "(assurance = 'chip' AND card_key IS NOT NULL) OR (assurance = 'qr' AND card_key IS NULL)",
            name="card_key_matches_assurance",
        ),
    )

    card_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    household_id: Mapped[bytes] = mapped_column(LargeBinary(8), index=True)
    kelurahan: Mapped[str] = mapped_column(String(10))
    desil: Mapped[int] = mapped_column(Integer)
    issued: Mapped[date] = mapped_column(Date)
    expires: Mapped[date] = mapped_column(Date)
    issuer_kid: Mapped[bytes] = mapped_column(LargeBinary(8))
    assurance: Mapped[str] = mapped_column(String(8))
    # X9.62 points, stored uncompressed (server.card_points) and shown compressed, as registered.
    # card_key is the Card Authentication key (slot 9E), which signs each tap.
    card_key: Mapped[bytes | None] = mapped_column(LargeBinary(65))
    # The PIV Authentication key (slot 9A), which signs only after the PIN is verified.
    authentication_key: Mapped[bytes | None] = mapped_column(LargeBinary(65))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServicePoint(Base):
    """A place that hands over benefits, such as an LPG agent."""

    __tablename__ = "service_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    programmes: Mapped[list[Programme]] = relationship(
        secondary=service_point_programmes, order_by=Programme.code, lazy="selectin"
    )

    @property
    def programme_codes(self) -> list[str]:
        return [programme.code for programme in self.programmes]


class EnrolmentCode(Base):
    """A one-time terminal enrolment code, stored as the SHA-256 of its normalised text."""

    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    service_point_id: Mapped[int] = mapped_column(ForeignKey("service_points.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[str | None] = mapped_column(String(64))


class Terminal(Base):
    """An enrolled service-point terminal and the public key that signs its requests and records."""

    __tablename__ = "terminals"

    terminal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    kid: Mapped[bytes] = mapped_column(LargeBinary(8), unique=True)
    service_point_id: Mapped[int] = mapped_column(ForeignKey("service_points.id"), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    service_point: Mapped[ServicePoint] = relationship(lazy="joined")


class Redemption(Base):
    """A hand-over recorded by a terminal, with the signed record exactly as received."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("assurance IN ('chip', 'qr')", name="assurance_kind"),
        Index("ix_redemptions_program_period_household", "program", "period", "household_id"),
        Index("ix_redemptions_card_number_tapped_at", "card_number", "tapped_at"),
    )

    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.terminal_id"), index=True)
    card_number: Mapped[str] = mapped_column(ForeignKey("cards.card_number"))
    household_id: Mapped[bytes] = mapped_column(LargeBinary(8))
    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"))
    quantity: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(7))
    tapped_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assurance: Mapped[str] = mapped_column(String(8))
    card_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    signed_record: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
