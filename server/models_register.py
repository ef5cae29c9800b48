"""Tables of the imported register, programme rules and computed entitlements.

Created by migration 0003. A household is a Kartu Keluarga (KK). Its
household_id is the pseudonymous id that cards carry, computed by
issuance.register.household_id from the KK number and the city's household
key. It is known only when the import ran with that key, and without it the
household cannot be matched to cards.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime

__all__ = [
    "RegisterImport",
    "Household",
    "Resident",
    "ResidentHistory",
    "ProgrammeRule",
    "Entitlement",
    "BENEFIT_KINDS",
]

# quota: units per period (LPG). status: cover valid until a date (BPJS).
# cash: an amount per period (scholarship, Lansia Bahagia). one_time: an amount per event (disaster aid).
BENEFIT_KINDS = ("quota", "status", "cash", "one_time")


class RegisterImport(Base):
    """One import of a register file and its counts."""

    __tablename__ = "register_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    complete: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    """True for an import of the complete register, which marks residents missing from the file as left."""
    left: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    """Residents this import marked as left."""


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kk: Mapped[str] = mapped_column(String(16), unique=True)
    household_id: Mapped[bytes | None] = mapped_column(LargeBinary(8), index=True)


class Resident(Base):
    """A resident as the latest import recorded them."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nik: Mapped[str] = mapped_column(String(16), unique=True)
    household_pk: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    address: Mapped[str] = mapped_column(String(200))
    kelurahan: Mapped[str] = mapped_column(String(10))
    desil: Mapped[int] = mapped_column(Integer)
    relationship: Mapped[str] = mapped_column(String(20))
    occupation: Mapped[str | None] = mapped_column(String(60))
    school: Mapped[str | None] = mapped_column(String(8))
    import_id: Mapped[int] = mapped_column(ForeignKey("register_imports.id"))
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When a complete register import found the resident missing; None while they are on the register.

    A resident who left keeps their row, history and redemptions but gets no entitlements.
    """
    left_import_id: Mapped[int | None] = mapped_column(ForeignKey("register_imports.id"))


class ResidentHistory(Base):
    """The values a resident had before an import changed them."""

    __tablename__ = "resident_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resident_pk: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("register_imports.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_columns: Mapped[str] = mapped_column(String(200))
    previous: Mapped[dict[str, Any]] = mapped_column(JSON)


class ProgrammeRule(Base):
    """Benefit kind, PIN requirement and eligibility of a programme, beside its row in programmes.

    The desil range stays in programmes.desil_min/desil_max. eligibility is a
    JSON object checked by server.programmes.Eligibility.
    """

    __tablename__ = "programme_rules"

    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"), primary_key=True)
    benefit_kind: Mapped[str] = mapped_column(String(16))
    pin_required: Mapped[bool] = mapped_column(Boolean)
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Offline rule sent to terminals with the entitlements: the hours a terminal may serve the programme
    # without a sync, then "refuse" or "warn". Both are NULL when the programme has no offline limit.
    offline_max_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    offline_action: Mapped[str | None] = mapped_column(String(8), nullable=True)


class Entitlement(Base):
    """One computed entitlement: a household, or one member of it, for one programme.

    subject distinguishes entitlements of the same programme and household:
    "household", "resident:<id>" or "event:<code>".
    """

    __tablename__ = "entitlements"
    __table_args__ = (
        UniqueConstraint("program", "household_pk", "subject", name="uq_entitlements_program_household_subject"),
        Index("ix_entitlements_program_household_id", "program", "household_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    program: Mapped[str] = mapped_column(ForeignKey("programmes.code"))
    household_pk: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    subject: Mapped[str] = mapped_column(String(80))
    resident_pk: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    household_id: Mapped[bytes | None] = mapped_column(LargeBinary(8))
    amount: Mapped[int | None] = mapped_column(Integer)
    valid_until: Mapped[date | None] = mapped_column(Date)
    event: Mapped[str | None] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
