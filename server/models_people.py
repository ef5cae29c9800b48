"""Tables for staff accounts, their login sessions and the personal-data audit log.

Migration 0004 creates these tables, and the index on redemptions.tapped_at
that the dashboard's per-day chart reads; the classes must match it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models import Base, Redemption, UTCDateTime

__all__ = ["StaffUser", "StaffSession", "AuditEntry", "ROLE_ADMINISTRATOR", "ROLE_OPERATOR", "ROLE_AUDITOR", "ROLES"]

ROLE_ADMINISTRATOR = "administrator"
ROLE_OPERATOR = "operator"
ROLE_AUDITOR = "auditor"
ROLES = (ROLE_ADMINISTRATOR, ROLE_OPERATOR, ROLE_AUDITOR)


class StaffUser(Base):
    """A person who logs in to the API or the dashboard.

    An operator belongs to one OPD and sees only the programmes whose
    owner_opd is that OPD; administrators and auditors have no OPD.
    """

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('administrator', 'operator', 'auditor')", name="role_kind"),
        CheckConstraint("(role = 'operator') = (opd IS NOT NULL)", name="opd_only_for_operator"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    opd: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A login session, stored as the SHA-256 of its opaque token so a database leak reveals no token."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user: Mapped[StaffUser] = relationship(lazy="joined")


class AuditEntry(Base):
    """One read of personal data: who read which record, when, through which request."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    """'user:<username>' for a staff member, 'admin-token' for the bootstrap token."""
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    action: Mapped[str] = mapped_column(String(32))
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    request: Mapped[str] = mapped_column(String(300))


# The per-day chart reads the last 30 days of redemptions; without this index
# that query scans the whole table, which grows by about 18 million rows a year.
REDEMPTIONS_BY_TAP_TIME = Index("ix_redemptions_tapped_at", Redemption.tapped_at)
