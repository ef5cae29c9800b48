"""Server-side card revocations and served trust/revocation lists.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_root",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("kid", sa.LargeBinary(8), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trust_root"),
        sa.CheckConstraint("id = 1", name="ck_trust_root_single_row"),
    )
    op.create_table(
        "trust_lists",
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_trust_lists"),
    )
    op.create_table(
        "revocation_lists",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issued_at", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("delta", sa.LargeBinary(), nullable=False),
        sa.Column("full", sa.LargeBinary(), nullable=True),
        sa.Column("signer_kid", sa.LargeBinary(8), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_revocation_lists"),
        sa.CheckConstraint("version >= 1", name="ck_revocation_lists_version_positive"),
    )
    op.create_table(
        "card_revocations",
        sa.Column("card_number", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("revoked_from", sa.Date(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("list_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("card_number", name="pk_card_revocations"),
        sa.ForeignKeyConstraint(
            ["card_number"], ["cards.card_number"], name="fk_card_revocations_card_number_cards"
        ),
        sa.ForeignKeyConstraint(
            ["list_version"], ["revocation_lists.version"], name="fk_card_revocations_list_version_revocation_lists"
        ),
    )
    op.create_index("ix_card_revocations_list_version", "card_revocations", ["list_version"])


def downgrade() -> None:
    op.drop_index("ix_card_revocations_list_version", table_name="card_revocations")
    op.drop_table("card_revocations")
    op.drop_table("revocation_lists")
    op.drop_table("trust_lists")
    op.drop_table("trust_root")
