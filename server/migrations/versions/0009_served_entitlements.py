"""Entitlement lists as served to terminals, with a revision per programme, for delta pulls.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entitlement_revisions",
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("horizon", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"],
                                name="fk_entitlement_revisions_program_programmes"),
        sa.PrimaryKeyConstraint("program", name="pk_entitlement_revisions"),
    )
    op.create_table(
        "served_entitlements",
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("household_id", sa.LargeBinary(8), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("present_since", sa.BigInteger(), nullable=False),
        sa.Column("known_since", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"], name="fk_served_entitlements_program_programmes"),
        sa.PrimaryKeyConstraint("program", "household_id", name="pk_served_entitlements"),
    )


def downgrade() -> None:
    op.drop_table("served_entitlements")
    op.drop_table("entitlement_revisions")
