"""server.intake: a record id stored by a concurrent push, periods at the WIB month boundary, record id forms."""

from __future__ import annotations

import cbor2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from card import cose
from server import intake
from server.models import Redemption

# 2026-03-31 16:59:59 UTC is 23:59:59 WIB on 31 March; one second later it is 1 April in WIB.
LAST_MARCH_SECOND = 1_774_976_399


def record_id_of(record: bytes) -> str:
    return cbor2.loads(cose.decode_sign1(record).payload)[1]


def stored_count(kit) -> int:
    with Session(kit.live.app.state.engine) as session:
        return session.scalar(select(func.count()).select_from(Redemption))


def hide_stored_once(monkeypatch) -> None:
    """Make the batch's first read of stored ids return none, as when a concurrent push commits just after it."""
    real_load_stored = intake._load_stored
    calls = []

    def load_stored(session, verified):
        calls.append(len(verified))
        return {} if len(calls) == 1 else real_load_stored(session, verified)

    monkeypatch.setattr(intake, "_load_stored", load_stored)


def test_id_stored_concurrently_is_duplicate(kit, monkeypatch):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    first = kit.record(terminal, card)
    assert kit.push(terminal, [first]).json()["accepted"] == [record_id_of(first)]

    hide_stored_once(monkeypatch)
    fresh = [kit.record(terminal, card) for _ in range(3)]
    response = kit.push(terminal, [fresh[0], first, *fresh[1:]]).json()

    assert response["accepted"] == [record_id_of(record) for record in fresh]
    assert response["duplicates"] == [record_id_of(first)]
    assert response["rejected"] == []
    assert stored_count(kit) == 4


def test_id_stored_concurrently_other_content_rejected(kit, monkeypatch):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    stored = kit.record(terminal, card, quantity=1)
    assert kit.push(terminal, [stored]).json()["accepted"] == [record_id_of(stored)]

    hide_stored_once(monkeypatch)
    changed = kit.record(terminal, card, quantity=2, record_id=record_id_of(stored))
    fresh = kit.record(terminal, card)
    response = kit.push(terminal, [changed, fresh]).json()

    assert response["accepted"] == [record_id_of(fresh)]
    assert response["rejected"] == [
        {"index": 0, "record_id": record_id_of(stored), "reason": "record id is already stored with different content"}
    ]
    assert stored_count(kit) == 2


def test_periods_across_wib_month_boundary(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    march = kit.record(terminal, card, tapped_at=LAST_MARCH_SECOND, period="2026-03")
    april = kit.record(terminal, card, tapped_at=LAST_MARCH_SECOND + 1, period="2026-04")
    march_as_april = kit.record(terminal, card, tapped_at=LAST_MARCH_SECOND, period="2026-04")
    april_as_march = kit.record(terminal, card, tapped_at=LAST_MARCH_SECOND + 1, period="2026-03")

    response = kit.push(terminal, [march, april, march_as_april, april_as_march]).json()

    assert response["accepted"] == [record_id_of(march), record_id_of(april)]
    reasons = [rejection["reason"] for rejection in response["rejected"]]
    assert reasons[0].startswith("period '2026-04' is not the WIB month 2026-03")
    assert reasons[1].startswith("period '2026-03' is not the WIB month 2026-04")


@pytest.mark.parametrize(
    "record_id",
    [
        "6f9619ff8b86d011b42d00c04fc964ff",
        "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
        "urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "6f9619ff-8b86-d011-b42d-00c04fc964ff\n",
        "6f9619ff-8b86-d011-b42d-00c04fc964fg",
        "6f9619ff-8b86-d011-b42d-00c04fc964f",
    ],
)
def test_non_canonical_record_id_rejected(kit, record_id):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    response = kit.push(terminal, [kit.record(terminal, card, record_id=record_id)]).json()
    assert response["accepted"] == []
    assert response["rejected"][0]["reason"] == "record id is not a canonical lower-case UUID"


def test_canonical_record_id_accepted(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, record_id="6f9619ff-8b86-d011-b42d-00c04fc964ff")
    assert kit.push(terminal, [record]).json()["accepted"] == ["6f9619ff-8b86-d011-b42d-00c04fc964ff"]


@pytest.mark.parametrize("fields, reason", [
    ({"record_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff\x00"}, "record id is not a canonical lower-case UUID"),
    ({"record_id": "6f9619ff-8b86,d011-b42d-00c04fc964ff"}, "record id is not a canonical lower-case UUID"),
    ({"card_number": "157100000000042\x00"}, "card 157100000000042\x00 is not registered"),
    ({"card_number": "1571000000000429,1571000000000437"}, "card 1571000000000429,1571000000000437 is not registered"),
])
def test_nul_or_comma_in_ids_rejected(kit, fields, reason):
    """A NUL byte, which PostgreSQL text cannot hold, or a comma is rejected for that record alone."""
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    good = kit.record(terminal, card)
    response = kit.push(terminal, [kit.record(terminal, card, **fields), good])
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["accepted"]) == 1
    assert [rejection["reason"] for rejection in body["rejected"]] == [reason]
