"""server.keyed_rows: rows by key on SQLite and PostgreSQL, including keys that the joined text cannot carry."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from server.app import create_app
from server.keyed_rows import select_by_keys
from server.models import Card, Programme

NUMBERS = ["1571000000000429", "1571000000000437", "1571000000000445"]


@pytest.fixture
def session(database_url):
    app = create_app(database_url, "t" * 32)
    with app.state.engine.begin() as connection:
        connection.execute(insert(Card.__table__), [
            {"card_number": number, "household_id": bytes([index]) * 8, "kelurahan": "1571011001", "desil": 2,
             "issued": date(2026, 1, 31), "expires": date(2031, 1, 31), "issuer_kid": b"\x02" * 8,
             "assurance": "qr", "card_key": None, "status": "active", "created_at": datetime.now(timezone.utc)}
            for index, number in enumerate(NUMBERS)
        ])
    with Session(app.state.engine) as session:
        yield session
    app.state.engine.dispose()


@pytest.mark.parametrize("keys, found", [
    (NUMBERS[:2], NUMBERS[:2]),
    ([NUMBERS[2], "9999999999999999", NUMBERS[0]], [NUMBERS[0], NUMBERS[2]]),
    ([NUMBERS[1] + "," + NUMBERS[2], NUMBERS[0]], [NUMBERS[0]]),
    ([""], []),
    (["", NUMBERS[1]], [NUMBERS[1]]),
    ([NUMBERS[0] + "0"], []),
    ([NUMBERS[1], NUMBERS[1], NUMBERS[0]], NUMBERS[:2]),
])
def test_select_by_keys(session, keys, found):
    rows = session.execute(select_by_keys(session, Card.card_number, keys, (Card.card_number, Card.household_id)))
    assert sorted(row.card_number for row in rows) == found


def test_extra_condition_and_join(session):
    query = select_by_keys(session, Card.card_number, NUMBERS, (Card.card_number, Programme.code),
                           Card.household_id != b"\x01" * 8, joins=((Programme, Programme.code == "lpg"),))
    assert sorted(session.execute(query).all()) == [(NUMBERS[0], "lpg"), (NUMBERS[2], "lpg")]
