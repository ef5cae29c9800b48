"""Redemptions indexed by card and tap time, for the check for a card used at two distant places.

The check looks up each card's taps within a time window. With an index on
the card number alone, PostgreSQL combined it with the tap time index, whose
histogram ends before the newest taps, and read every tap of the window for
each card. One index on both columns answers the lookup on its own, and
still serves lookups by card number alone.

NOTE: the index is built without CONCURRENTLY, so pushes wait while it is
built. On a table of millions of redemptions, upgrade in a quiet hour.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_redemptions_card_number_tapped_at", "redemptions", ["card_number", "tapped_at"])
    op.drop_index("ix_redemptions_card_number", table_name="redemptions")


def downgrade() -> None:
    op.create_index("ix_redemptions_card_number", "redemptions", ["card_number"])
    op.drop_index("ix_redemptions_card_number_tapped_at", table_name="redemptions")
