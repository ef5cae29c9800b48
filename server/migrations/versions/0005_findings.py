"""Reconciliation findings, service point locations and terminal totals.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("first_found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"], name="fk_findings_program_programmes"),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.UniqueConstraint("key", name="uq_findings_key"),
    )
    op.create_index("ix_findings_kind", "findings", ["kind"])
    op.create_table(
        "finding_records",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["findings.id"], name="fk_finding_records_finding_id_findings"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["redemptions.record_id"], name="fk_finding_records_record_id_redemptions"
        ),
        sa.PrimaryKeyConstraint("finding_id", "record_id", name="pk_finding_records"),
    )
    op.create_table(
        "terminal_volumes",
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.terminal_id"], name="fk_terminal_volumes_terminal_id_terminals"
        ),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"], name="fk_terminal_volumes_program_programmes"),
        sa.PrimaryKeyConstraint("terminal_id", "program", "period", name="pk_terminal_volumes"),
    )
    op.create_table(
        "service_point_areas",
        sa.Column("service_point_id", sa.Integer(), nullable=False),
        sa.Column("kelurahan", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_point_id"], ["service_points.id"], name="fk_service_point_areas_service_point_id_service_points"
        ),
        sa.PrimaryKeyConstraint("service_point_id", name="pk_service_point_areas"),
    )


def downgrade() -> None:
    op.drop_table("service_point_areas")
    op.drop_table("terminal_volumes")
    op.drop_table("finding_records")
    op.drop_table("findings")
