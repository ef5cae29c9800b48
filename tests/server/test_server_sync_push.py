"""POST /api/v1/sync/redemptions: verification, idempotency and per-record verdicts."""

from __future__ import annotations

import base64
import random
import threading
import uuid

import cbor2
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from card import cose
from card.records import Assurance
from server.models import Card, Redemption


def used(kit, terminal) -> dict[str, int]:
    return {row["household_id"]: row["used"] for row in kit.pulled(terminal)["households"]}


def stored_ids(kit) -> set[str]:
    with Session(kit.live.app.state.engine) as session:
        return set(session.scalars(select(Redemption.record_id)))


def record_id_of(record: bytes) -> str:
    return cbor2.loads(cose.decode_sign1(record).payload)[1]


def test_push_accepts_chip_and_qr(kit):
    terminal = kit.enrol_terminal()
    chip = kit.register_card()
    qr = kit.register_card(assurance="qr")
    records = [kit.record(terminal, chip, quantity=2), kit.record(terminal, qr)]
    response = kit.push(terminal, records)
    assert response.status_code == 200
    assert response.json() == {
        "accepted": [record_id_of(record) for record in records], "duplicates": [], "rejected": []
    }
    stats = kit.stats()
    assert stats["redemptions"] == 2
    assert stats["redemptions_by_assurance"] == {"chip": 1, "qr": 1}


def test_push_closes_connection(kit):
    """Each batch comes on a new connection, so the worker processes share the batches."""
    terminal = kit.enrol_terminal()
    response = kit.push(terminal, [kit.record(terminal, kit.register_card())])
    assert response.status_code == 200
    assert response.headers["connection"] == "close"


def test_stored_row_matches_record(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, quantity=2)
    assert kit.push(terminal, [record]).status_code == 200
    with Session(kit.live.app.state.engine) as session:
        row = session.get(Redemption, record_id_of(record))
    assert row.signed_record == record
    assert row.card_number == card.number
    assert row.household_id == card.household_id
    assert row.terminal_id == terminal.terminal_id
    assert (row.program, row.quantity, row.period, row.assurance) == ("lpg", 2, "2026-03", "chip")
    assert row.tapped_at.timestamp() == kit.clock()
    assert row.card_signature is not None


def test_qr_on_chip_card_accepted(kit):
    """A chip card's printed QR code is the fallback when the reader fails."""
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, assurance=Assurance.QR)
    assert kit.push(terminal, [record]).json()["accepted"] == [record_id_of(record)]


def test_over_quota_and_revoked_stored(kit):
    """Both are evidence for reconciliation: the hand-over has already happened."""
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    with Session(kit.live.app.state.engine) as session:
        session.execute(update(Card).where(Card.card_number == card.number).values(status="revoked"))
        session.commit()
    records = [kit.record(terminal, card, quantity=3), kit.record(terminal, card, quantity=3)]
    response = kit.push(terminal, records).json()
    assert response["accepted"] == [record_id_of(record) for record in records]
    assert kit.stats()["redemptions"] == 2


def test_empty_batch(kit):
    terminal = kit.enrol_terminal()
    response = kit.push(terminal, [])
    assert response.status_code == 200
    assert response.json() == {"accepted": [], "duplicates": [], "rejected": []}


def test_push_twice_and_shuffled_is_idempotent(kit):
    terminal = kit.enrol_terminal()
    cards = [kit.register_card() for _ in range(3)]
    batches = [[kit.record(terminal, card, quantity=1 + i % 2) for i, card in enumerate(cards)] for _ in range(3)]
    for batch in batches:
        assert not kit.push(terminal, batch).json()["rejected"]
    count = kit.stats()["redemptions"]
    use = used(kit, terminal)
    assert count == 9
    assert sorted(use.values()) == [3, 3, 6]

    every_record = [record for batch in batches for record in batch]
    for batch in batches:
        again = kit.push(terminal, batch).json()
        assert again["accepted"] == []
        assert sorted(again["duplicates"]) == sorted(record_id_of(record) for record in batch)
    shuffled = every_record * 2
    random.Random(1571).shuffle(shuffled)
    response = kit.push(terminal, shuffled).json()
    assert response["accepted"] == []
    assert response["rejected"] == []
    assert len(response["duplicates"]) == len(shuffled)

    assert kit.stats()["redemptions"] == count
    assert used(kit, terminal) == use


def test_duplicate_within_batch(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card)
    response = kit.push(terminal, [record, record, record]).json()
    record_id = record_id_of(record)
    assert response == {"accepted": [record_id], "duplicates": [record_id, record_id], "rejected": []}
    assert kit.stats()["redemptions"] == 1


def test_same_id_other_content_rejected(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record_id = str(uuid.uuid4())
    first = kit.record(terminal, card, record_id=record_id, quantity=1)
    second = kit.record(terminal, card, record_id=record_id, quantity=3)
    assert kit.push(terminal, [first]).json()["accepted"] == [record_id]
    response = kit.push(terminal, [second]).json()
    assert response["accepted"] == []
    assert response["rejected"] == [
        {"index": 0, "record_id": record_id, "reason": "record id is already stored with different content"}
    ]
    assert list(used(kit, terminal).values()) == [1]


def test_same_id_other_content_in_one_batch(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record_id = str(uuid.uuid4())
    first = kit.record(terminal, card, record_id=record_id, quantity=1)
    second = kit.record(terminal, card, record_id=record_id, quantity=3)
    response = kit.push(terminal, [first, second]).json()
    assert response["accepted"] == [record_id]
    assert response["rejected"] == [
        {"index": 1, "record_id": record_id, "reason": "record id is already stored with different content"}
    ]


def test_tampered_record_rejected(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, quantity=1)
    message = cose.decode_sign1(record)
    payload = cbor2.loads(message.payload)
    payload[6] = 3
    tampered = cbor2.dumps(
        cbor2.CBORTag(18, [message.protected, {}, cbor2.dumps(payload, canonical=True), message.signature])
    )
    response = kit.push(terminal, [tampered]).json()
    assert response["rejected"] == [
        {"index": 0, "record_id": payload[1], "reason": "terminal signature on the record does not verify"}
    ]
    assert kit.stats()["redemptions"] == 0


def test_flipped_byte_rejected(kit):
    terminal = kit.enrol_terminal()
    record = bytearray(kit.record(terminal, kit.register_card()))
    record[-1] ^= 0x01
    response = kit.push(terminal, [bytes(record)]).json()
    assert response["rejected"][0]["reason"] == "terminal signature on the record does not verify"


def test_card_signature_invalid(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    other = kit.register_card()
    stranger_tap = other.sign_tap(b"\x00" * 32)
    record = kit.record(terminal, card, card_signature=stranger_tap)
    response = kit.push(terminal, [record]).json()
    assert response["rejected"] == [{
        "index": 0, "record_id": record_id_of(record),
        "reason": f"card signature does not verify with the registered key of card {card.number}",
    }]


def test_card_signature_of_other_tap(kit):
    """A signature copied from an earlier tap does not cover a new record's nonce and time."""
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    first = kit.record(terminal, card)
    old_signature = cbor2.loads(cose.decode_sign1(first).payload)[11]
    replayed = kit.record(terminal, card, card_signature=old_signature)
    response = kit.push(terminal, [replayed]).json()
    assert response["rejected"][0]["reason"].startswith("card signature does not verify")


def test_record_of_other_terminal_rejected(kit):
    service_point_id = kit.service_point()
    terminal = kit.enrol_terminal(service_point_id)
    other = kit.enrol_terminal(service_point_id)
    card = kit.register_card()
    claimed = kit.record(other, card, signer=terminal.signer)
    response = kit.push(terminal, [claimed]).json()
    assert response["rejected"] == [{
        "index": 0, "record_id": record_id_of(claimed),
        "reason": f"record names terminal '{other.terminal_id}' but was pushed by '{terminal.terminal_id}'",
    }]


def test_record_signed_by_other_terminal_rejected(kit):
    terminal = kit.enrol_terminal()
    other = kit.enrol_terminal()
    card = kit.register_card()
    foreign = kit.record(other, card)
    response = kit.push(terminal, [foreign]).json()
    assert response["rejected"][0]["reason"] == "terminal signature on the record does not verify"


def test_programme_of_other_service_point_rejected(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, program="pbi")
    response = kit.push(terminal, [record]).json()
    assert response["rejected"][0]["reason"] == (
        f"programme 'pbi' is not offered at service point {terminal.service_point_id}"
    )


def test_unregistered_card_rejected(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    ghost = type(card)(number="1571000000009996", household_id=card.household_id, assurance="chip",
                       private_key=card.private_key)
    record = kit.record(terminal, ghost)
    response = kit.push(terminal, [record]).json()
    assert response["rejected"][0]["reason"] == "card 1571000000009996 is not registered"


def test_household_mismatch_rejected(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, household_id=b"\x01" * 8)
    response = kit.push(terminal, [record]).json()
    assert response["rejected"][0]["reason"] == (
        f"household id does not match the registration of card {card.number}"
    )


def test_chip_claim_on_qr_card_rejected(kit):
    terminal = kit.enrol_terminal()
    qr_card = kit.register_card(assurance="qr")
    chip_key_holder = kit.register_card()
    pretend = type(qr_card)(number=qr_card.number, household_id=qr_card.household_id, assurance="chip",
                            private_key=chip_key_holder.private_key)
    record = kit.record(terminal, pretend)
    response = kit.push(terminal, [record]).json()
    assert response["rejected"][0]["reason"] == f"record claims a chip tap but card {qr_card.number} is QR-only"


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"period": "2026-02"}, "period '2026-02' is not the WIB month 2026-03 of tapped_at 1773543600"),
        ({"period": "2026-3"}, "period '2026-3' is not the WIB month 2026-03"),
        ({"quantity": 10_001}, "quantity 10001 is outside 1..10000"),
        ({"record_id": "not-a-uuid"}, "record id is not a canonical lower-case UUID"),
        ({"record_id": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}, "record id is not a canonical lower-case UUID"),
        ({"tapped_at": 10**15, "period": "2026-03"}, "tapped_at 1000000000000000 is not a usable Unix time"),
    ],
)
def test_invalid_record_fields(kit, fields, reason):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    record = kit.record(terminal, card, **fields)
    response = kit.push(terminal, [record]).json()
    assert response["accepted"] == []
    assert response["rejected"][0]["reason"].startswith(reason)


def test_period_follows_wib(kit):
    """2026-03-31 17:30 UTC is already 1 April in Kota Jambi."""
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    tapped_at = 1_774_978_200
    accepted = kit.record(terminal, card, tapped_at=tapped_at, period="2026-04")
    wrong = kit.record(terminal, card, tapped_at=tapped_at, period="2026-03")
    response = kit.push(terminal, [accepted, wrong]).json()
    assert response["accepted"] == [record_id_of(accepted)]
    assert response["rejected"][0]["reason"].startswith("period '2026-03' is not the WIB month 2026-04")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("***", "record is not standard base64 (RFC 4648 section 4, with padding)"),
        (base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode(),
         "record is not standard base64 (RFC 4648 section 4, with padding)"),
        (base64.b64encode(b"\xa0").decode(), "signed record: not a tagged COSE_Sign1 message (tag 18)"),
        (base64.b64encode(b"\x00" * 1025).decode(), "record is 1025 bytes; the limit is 1024"),
    ],
)
def test_malformed_records(kit, text, reason):
    terminal = kit.enrol_terminal()
    response = terminal.client.post("/api/v1/sync/redemptions", json={"records": [text]})
    assert response.status_code == 200
    assert response.json()["rejected"] == [{"index": 0, "record_id": None, "reason": reason}]


def test_bad_record_does_not_block_batch(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    good = [kit.record(terminal, card) for _ in range(2)]
    bad = kit.record(terminal, card, program="pbi")
    response = kit.push(terminal, [good[0], bad, good[1]]).json()
    assert response["accepted"] == [record_id_of(good[0]), record_id_of(good[1])]
    assert [entry["index"] for entry in response["rejected"]] == [1]


def test_rejected_record_can_be_fixed(kit):
    """A record rejected for an unregistered card is accepted once the card is registered."""
    terminal = kit.enrol_terminal()
    payload, private_key = kit.card_payload()
    card = type(kit.register_card())(
        number=payload["card_number"], household_id=bytes.fromhex(payload["household_id"]), assurance="chip",
        private_key=private_key,
    )
    record = kit.record(terminal, card)
    assert kit.push(terminal, [record]).json()["rejected"][0]["reason"].endswith("is not registered")
    assert kit.admin.post("/api/v1/cards", json=payload).status_code == 201
    assert kit.push(terminal, [record]).json()["accepted"] == [record_id_of(record)]


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "records: Field required"),
        ({"records": "AAAA"}, "records: Input should be a valid list (got 'AAAA')"),
        ({"records": [1]}, "records.0: Input should be a valid string (got 1)"),
        ({"records": [], "extra": 1}, "extra: Extra inputs are not permitted (got 1)"),
    ],
)
def test_malformed_batch(kit, body, message):
    terminal = kit.enrol_terminal()
    response = terminal.client.post("/api/v1/sync/redemptions", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == message


def test_batch_over_limit(kit):
    terminal = kit.enrol_terminal()
    response = terminal.client.post("/api/v1/sync/redemptions", json={"records": ["AAAA"] * 1001})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "batch has 1001 records; the limit is 1000, so split it and send the parts"
    }


def test_full_batch_accepted(kit):
    terminal = kit.enrol_terminal()
    cards = [kit.register_card() for _ in range(4)]
    records = [kit.record(terminal, cards[i % 4]) for i in range(1000)]
    response = kit.push(terminal, records)
    assert response.status_code == 200
    assert len(response.json()["accepted"]) == 1000
    assert kit.stats()["redemptions"] == 1000


def test_concurrent_pushes_store_once(kit):
    terminal = kit.enrol_terminal()
    cards = [kit.register_card() for _ in range(3)]
    batch = [kit.record(terminal, cards[i % 3]) for i in range(30)]
    clients = [kit.terminal_client(terminal.signer, terminal.terminal_id) for _ in range(4)]
    results: list = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def push(index: int) -> None:
        start.wait()
        results[index] = clients[index].post(
            "/api/v1/sync/redemptions",
            json={"records": [base64.b64encode(record).decode() for record in batch]},
        )

    threads = [threading.Thread(target=push, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [result.status_code for result in results] == [200] * len(clients)
    for result in results:
        body = result.json()
        assert body["rejected"] == []
        assert sorted(body["accepted"] + body["duplicates"]) == sorted(map(record_id_of, batch))
    assert sum(len(result.json()["accepted"]) for result in results) == len(batch)
    assert stored_ids(kit) == set(map(record_id_of, batch))
