"""The PIV Authentication (slot 9A) public key of a chip card, which verifies PIN signatures.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for QR-only cards and for chip cards registered before the key was sent.
    op.add_column("cards", sa.Column("authentication_key", sa.LargeBinary(33), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cards") as batch:
        batch.drop_column("authentication_key")
