"""Offline rules of programmes, sent to terminals with the entitlements.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("programme_rules", sa.Column("offline_max_hours", sa.Integer(), nullable=True))
    op.add_column("programme_rules", sa.Column("offline_action", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("programme_rules") as batch:
        batch.drop_column("offline_action")
        batch.drop_column("offline_max_hours")
