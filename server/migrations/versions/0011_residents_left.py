"""Residents who left the register: marked by a complete register import, kept for history and audit.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("register_imports") as batch:
        batch.add_column(sa.Column("complete", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("left", sa.Integer(), nullable=False, server_default="0"))
    # NULL while the resident is on the register.
    with op.batch_alter_table("residents") as batch:
        batch.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("left_import_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_residents_left_import_id_register_imports", "register_imports",
                                 ["left_import_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("residents") as batch:
        batch.drop_constraint("fk_residents_left_import_id_register_imports", type_="foreignkey")
        batch.drop_column("left_import_id")
        batch.drop_column("left_at")
    with op.batch_alter_table("register_imports") as batch:
        batch.drop_column("left")
        batch.drop_column("complete")
