"""POST /api/v1/cards: registration, idempotent retries, conflicts and input checks."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from card.keys import decompress_point, uncompress_point
from server.models import Card


def test_register_chip_card(kit):
    payload, _ = kit.card_payload()
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 201
    body = response.json()
    for name, value in payload.items():
        assert body[name] == value, name
    assert body["status"] == "active"
    assert body["created_at"] == "2026-03-15T03:00:00Z"
    assert kit.stats()["cards"] == 1


def test_register_qr_card(kit):
    payload, _ = kit.card_payload(assurance="qr")
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 201
    assert response.json()["card_key"] is None


def test_hex_input_normalised(kit):
    payload, _ = kit.card_payload()
    payload["household_id"] = "ABCDEF0123456789"
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 201
    assert response.json()["household_id"] == "abcdef0123456789"


def test_same_card_again_is_idempotent(kit):
    payload, _ = kit.card_payload()
    first = kit.admin.post("/api/v1/cards", json=payload)
    second = kit.admin.post("/api/v1/cards", json=payload)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == first.json()
    assert kit.stats()["cards"] == 1


@pytest.mark.parametrize(
    "field, value",
    [("desil", 3), ("household_id", "00" * 8), ("expires", "2032-01-31"), ("kelurahan", "1571021002")],
)
def test_same_number_other_data_conflicts(kit, field, value):
    payload, _ = kit.card_payload()
    assert kit.admin.post("/api/v1/cards", json=payload).status_code == 201
    response = kit.admin.post("/api/v1/cards", json=payload | {field: value})
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"card {payload['card_number']} is already registered with different {field}; "
        "a reissued card needs a new card number"
    }


def test_conflict_keeps_first_registration(kit):
    payload, _ = kit.card_payload()
    kit.admin.post("/api/v1/cards", json=payload)
    kit.admin.post("/api/v1/cards", json=payload | {"desil": 9})
    again = kit.admin.post("/api/v1/cards", json=payload)
    assert again.status_code == 200
    assert again.json()["desil"] == payload["desil"]


NOT_A_POINT = "02" + "ff" * 32  # x = 2^256 - 1 is larger than the field prime, so no point has it.

INVALID_CARDS = [
    ("card_number", "1571000000000001",
     "card_number: is not a valid card number (16 digits starting with 1571 and ending in a Luhn check digit) "
     "(got '1571000000000001')"),
    ("card_number", "3171000000000011", "card_number: is not a valid card number"),
    ("card_number", 1571000000000429, "card_number: Input should be a valid string (got 1571000000000429)"),
    ("household_id", "00" * 7, "household_id: must be 8 bytes written as 16 hex digits (got '00000000000000')"),
    ("household_id", "zz" * 8, "household_id: must be 8 bytes written as 16 hex digits (got 'zzzzzzzzzzzzzzzz')"),
    ("kelurahan", "15.71.01.1001",
     "kelurahan: must be a 10-digit Kemendagri kelurahan code of Kota Jambi, starting with 1571, without dots "
     "(got '15.71.01.1001')"),
    ("desil", 0, "desil: Input should be greater than or equal to 1 (got 0)"),
    ("desil", 11, "desil: Input should be less than or equal to 10 (got 11)"),
    ("desil", "3", "desil: Input should be a valid integer (got '3')"),
    ("desil", True, "desil: Input should be a valid integer (got True)"),
    ("issued", "2026-02-30", "issued: is not a calendar date (got '2026-02-30')"),
    ("issued", "31/01/2026", "issued: must be a date written YYYY-MM-DD (got '31/01/2026')"),
    ("expires", 1900000000, "expires: must be a date written YYYY-MM-DD (got 1900000000)"),
    ("expires", "2026-01-31", "expires: must be after issued 2026-01-31 (got '2026-01-31')"),
    ("issuer_kid", "a1b2", "issuer_kid: must be 8 bytes written as 16 hex digits (got 'a1b2')"),
    ("assurance", "nfc", "assurance: Input should be 'chip' or 'qr' (got 'nfc')"),
    ("card_key", None, "card_key: is required when assurance is 'chip' (got null)"),
    ("card_key", NOT_A_POINT, "card_key: is not a compressed P-256 point (got '02ffff"),
    ("card_key", "04" + "11" * 32, "card_key: is not a compressed P-256 point"),
    ("card_key", "02" + "11" * 31, "card_key: must be 33 bytes written as 66 hex digits"),
]


@pytest.mark.parametrize("field, value, message", INVALID_CARDS, ids=[f"{f}-{v!r}"[:40] for f, v, _ in INVALID_CARDS])
def test_invalid_field(kit, field, value, message):
    payload, _ = kit.card_payload()
    response = kit.admin.post("/api/v1/cards", json=payload | {field: value})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)
    assert response.json()["errors"][0]["field"] == field
    assert kit.stats()["cards"] == 0


def test_qr_card_with_key_rejected(kit):
    payload, _ = kit.card_payload()
    payload["assurance"] = "qr"
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("card_key: must be null when assurance is 'qr'")


def test_missing_field(kit):
    payload, _ = kit.card_payload()
    del payload["desil"]
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == "desil: Field required"


def test_unknown_field(kit):
    payload, _ = kit.card_payload()
    response = kit.admin.post("/api/v1/cards", json=payload | {"nik": "1571010101010001"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("nik: Extra inputs are not permitted")


def test_several_errors_listed(kit):
    payload, _ = kit.card_payload()
    response = kit.admin.post("/api/v1/cards", json=payload | {"desil": 0, "issuer_kid": ""})
    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["desil", "issuer_kid"]


def test_malformed_json(kit):
    response = kit.admin.post(
        "/api/v1/cards", content=b'{"card_number": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "body: is not valid JSON: Expecting value at character 16"


def test_oversized_body(kit):
    response = kit.admin.post(
        "/api/v1/cards", content=b"[" + b"0," * (1024 * 1024) + b"0]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body is larger than 2097152 bytes; send less data per request"}


def test_keys_stored_uncompressed_and_shown_as_registered(kit):
    """The server stores the 65-byte point, which a push loads faster, and shows the registered 33 bytes."""
    payload, _ = kit.card_payload()
    assert kit.admin.post("/api/v1/cards", json=payload).status_code == 201
    with Session(kit.live.app.state.engine) as session:
        stored = bytes(session.get(Card, payload["card_number"]).card_key)
    registered = bytes.fromhex(payload["card_key"])
    assert len(stored) == 65
    assert stored == uncompress_point(decompress_point(registered))
    listed = kit.admin.post("/api/v1/cards", json=payload)
    assert (listed.status_code, listed.json()["card_key"]) == (200, payload["card_key"])
