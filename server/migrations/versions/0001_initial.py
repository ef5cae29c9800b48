"""Create the walking-skeleton schema and seed the LPG programme.

Revision ID: 0001
Revises:
Create Date: 2026-01-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    programmes = op.create_table(
        "programmes",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_opd", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("quota_scope", sa.String(16), nullable=False),
        sa.Column("quota_period", sa.String(16), nullable=False),
        sa.Column("desil_min", sa.Integer(), nullable=False),
        sa.Column("desil_max", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_programmes"),
    )
    op.create_table(
        "cards",
        sa.Column("card_number", sa.String(16), nullable=False),
        sa.Column("household_id", sa.LargeBinary(8), nullable=False),
        sa.Column("kelurahan", sa.String(10), nullable=False),
        sa.Column("desil", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Date(), nullable=False),
        sa.Column("expires", sa.Date(), nullable=False),
        sa.Column("issuer_kid", sa.LargeBinary(8), nullable=False),
        sa.Column("assurance", sa.String(8), nullable=False),
        sa.Column("card_key", sa.LargeBinary(33), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("card_number", name="pk_cards"),
        sa.CheckConstraint("desil BETWEEN 1 AND 10", name="ck_cards_desil_range"),
        sa.CheckConstraint("assurance IN ('chip', 'qr')", name="ck_cards_assurance_kind"),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_cards_status_kind"),
        sa.CheckConstraint(
            "(assurance = 'chip' AND card_key IS NOT NULL) OR (assurance = 'qr' AND card_key IS NULL)",
            name="ck_cards_card_key_matches_assurance",
        ),
    )
    op.create_index("ix_cards_household_id", "cards", ["household_id"])
    op.create_table(
        "service_points",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_service_points"),
    )
    op.create_table(
        "service_point_programmes",
        sa.Column("service_point_id", sa.Integer(), nullable=False),
        sa.Column("program", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_point_id"], ["service_points.id"],
            name="fk_service_point_programmes_service_point_id_service_points",
        ),
        sa.ForeignKeyConstraint(
            ["program"], ["programmes.code"], name="fk_service_point_programmes_program_programmes"
        ),
        sa.PrimaryKeyConstraint("service_point_id", "program", name="pk_service_point_programmes"),
    )
    op.create_table(
        "enrolment_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("service_point_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_point_id"], ["service_points.id"],
            name="fk_enrolment_codes_service_point_id_service_points",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_codes"),
        sa.UniqueConstraint("code_hash", name="uq_enrolment_codes_code_hash"),
    )
    op.create_table(
        "terminals",
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("kid", sa.LargeBinary(8), nullable=False),
        sa.Column("service_point_id", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_point_id"], ["service_points.id"],
            name="fk_terminals_service_point_id_service_points",
        ),
        sa.PrimaryKeyConstraint("terminal_id", name="pk_terminals"),
        sa.UniqueConstraint("kid", name="uq_terminals_kid"),
    )
    op.create_index("ix_terminals_service_point_id", "terminals", ["service_point_id"])
    op.create_table(
        "redemptions",
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("card_number", sa.String(16), nullable=False),
        sa.Column("household_id", sa.LargeBinary(8), nullable=False),
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("tapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assurance", sa.String(8), nullable=False),
        sa.Column("card_signature", sa.LargeBinary(), nullable=True),
        sa.Column("signed_record", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.terminal_id"], name="fk_redemptions_terminal_id_terminals"
        ),
        sa.ForeignKeyConstraint(
            ["card_number"], ["cards.card_number"], name="fk_redemptions_card_number_cards"
        ),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"], name="fk_redemptions_program_programmes"),
        sa.PrimaryKeyConstraint("record_id", name="pk_redemptions"),
        sa.CheckConstraint("quantity > 0", name="ck_redemptions_quantity_positive"),
        sa.CheckConstraint("assurance IN ('chip', 'qr')", name="ck_redemptions_assurance_kind"),
    )
    op.create_index("ix_redemptions_terminal_id", "redemptions", ["terminal_id"])
    op.create_index("ix_redemptions_card_number", "redemptions", ["card_number"])
    op.create_index(
        "ix_redemptions_program_period_household", "redemptions", ["program", "period", "household_id"]
    )

    op.bulk_insert(
        programmes,
        [
            {
                "code": "lpg",
                "name": "LPG 3 kg",
                "owner_opd": "Dinas Perindustrian dan Perdagangan",
                "unit": "tabung",
                "quota": 3,
                "quota_scope": "household",
                "quota_period": "month",
                "desil_min": 1,
                "desil_max": 4,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("redemptions")
    op.drop_table("terminals")
    op.drop_table("enrolment_codes")
    op.drop_table("service_point_programmes")
    op.drop_table("service_points")
    op.drop_table("cards")
    op.drop_table("programmes")
