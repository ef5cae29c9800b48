"""server.intake key cache: a card given a new key is verified with the new key, and the cache is bounded."""

from __future__ import annotations

import dataclasses

from sqlalchemy import update
from sqlalchemy.orm import Session

from card.keys import compress_point, generate_private_key
from server import intake
from server.models import Card


def set_card_key(kit, card, private_key) -> None:
    with Session(kit.live.app.state.engine) as session:
        session.execute(
            update(Card).where(Card.card_number == card.number).values(card_key=compress_point(private_key.public_key()))
        )
        session.commit()


def test_rekeyed_card_uses_new_key(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    first = kit.push(terminal, [kit.record(terminal, card)]).json()
    assert len(first["accepted"]) == 1
    old_key_loads = intake._card_public_key.cache_info().currsize

    rekeyed = dataclasses.replace(card, private_key=generate_private_key())
    set_card_key(kit, card, rekeyed.private_key)
    body = kit.push(terminal, [kit.record(terminal, rekeyed), kit.record(terminal, card)]).json()

    assert len(body["accepted"]) == 1
    [rejection] = body["rejected"]
    assert rejection["index"] == 1
    assert "card signature does not verify" in rejection["reason"]
    assert intake._card_public_key.cache_info().currsize == old_key_loads + 1


def test_card_key_cache_bounded():
    assert intake._card_public_key.cache_info().maxsize == intake._CARD_KEY_CACHE_SIZE
    assert intake._terminal_public_key.cache_info().maxsize == intake._TERMINAL_KEY_CACHE_SIZE
