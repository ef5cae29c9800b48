"""PIN hand-overs on the server: the 9A key registered with the card, and the PIN signature checked on push."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from card.keys import compress_point, generate_private_key
from card.records import tap_digest
from issuance.personalise import IssuedCard as IssuedFromStation
from issuance.server_client import registration_body
from issuance.synth import generate_register
from tests.server.conftest import IssuedCard

FINDINGS = "/api/v1/findings"


def sign_prehashed(key: ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def require_pin(kit, program: str = "lpg") -> None:
    rule = {"desil_min": 1, "desil_max": 10, "pin_required": True, "eligibility": {}}
    response = kit.admin.put(f"/api/v1/programmes/{program}/rule", json=rule)
    assert response.status_code == 200, response.text


def register_pin_card(kit, pin_key: ec.EllipticCurvePrivateKey | None) -> IssuedCard:
    payload, card_key = kit.card_payload()
    if pin_key is not None:
        payload["authentication_key"] = compress_point(pin_key.public_key()).hex()
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 201, response.text
    return IssuedCard(payload["card_number"], bytes.fromhex(payload["household_id"]), "chip", card_key)


def pin_record(kit, terminal, card: IssuedCard, signing_key: ec.EllipticCurvePrivateKey | None) -> bytes:
    """Return a chip record signed by the card, with a PIN signature by signing_key (none when None)."""
    nonce = secrets.token_bytes(16)
    tapped_at = int(kit.clock())
    if signing_key is None:
        return kit.record(terminal, card, nonce=nonce, tapped_at=tapped_at)
    digest = tap_digest(nonce, terminal.terminal_id, "lpg", 1, tapped_at)
    return kit.record(terminal, card, nonce=nonce, tapped_at=tapped_at,
                      pin_signature=sign_prehashed(signing_key, digest))


def pin_findings(kit) -> list[dict]:
    response = kit.admin.get(FINDINGS, params={"kind": "pin_unproven"})
    assert response.status_code == 200, response.text
    return response.json()["findings"]


def test_valid_pin_signature_accepted(kit) -> None:
    require_pin(kit)
    pin_key = generate_private_key()
    card = register_pin_card(kit, pin_key)
    terminal = kit.enrol_terminal()
    body = kit.push(terminal, [pin_record(kit, terminal, card, pin_key)]).json()
    assert body["rejected"] == []
    assert len(body["accepted"]) == 1
    assert pin_findings(kit) == []


def test_wrong_pin_signature_rejected(kit) -> None:
    require_pin(kit)
    card = register_pin_card(kit, generate_private_key())
    terminal = kit.enrol_terminal()
    body = kit.push(terminal, [pin_record(kit, terminal, card, generate_private_key())]).json()
    assert body["accepted"] == []
    [rejection] = body["rejected"]
    assert "PIN signature does not verify" in rejection["reason"]
    assert card.number in rejection["reason"]


def test_missing_pin_signature_found(kit) -> None:
    require_pin(kit)
    card = register_pin_card(kit, generate_private_key())
    terminal = kit.enrol_terminal()
    body = kit.push(terminal, [pin_record(kit, terminal, card, None)]).json()
    assert body["rejected"] == []
    [finding] = pin_findings(kit)
    assert finding["detail"]["problem"] == "missing"
    assert finding["subject"] == card.number
    assert finding["record_ids"] == body["accepted"]


def test_unregistered_pin_key_found(kit) -> None:
    require_pin(kit)
    card = register_pin_card(kit, None)
    terminal = kit.enrol_terminal()
    body = kit.push(terminal, [pin_record(kit, terminal, card, generate_private_key())]).json()
    assert body["rejected"] == []
    [finding] = pin_findings(kit)
    assert finding["detail"]["problem"] == "no_registered_key"


def test_qr_record_of_pin_programme_found(kit) -> None:
    require_pin(kit)
    card = kit.register_card(assurance="qr")
    terminal = kit.enrol_terminal()
    body = kit.push(terminal, [kit.record(terminal, card)]).json()
    assert body["rejected"] == []
    [finding] = pin_findings(kit)
    assert (finding["detail"]["problem"], finding["detail"]["assurance"]) == ("missing", "qr")


def test_no_pin_programme_no_finding(kit) -> None:
    card = register_pin_card(kit, generate_private_key())
    terminal = kit.enrol_terminal()
    body = kit.push(terminal, [pin_record(kit, terminal, card, None)]).json()
    assert len(body["accepted"]) == 1
    assert pin_findings(kit) == []


def test_reconcile_again_no_repeat(kit) -> None:
    require_pin(kit)
    card = register_pin_card(kit, None)
    terminal = kit.enrol_terminal()
    kit.push(terminal, [pin_record(kit, terminal, card, None)])
    response = kit.admin.post(f"{FINDINGS}/reconcile")
    assert response.status_code == 200, response.text
    assert len(pin_findings(kit)) == 1


def test_registration_returns_pin_key(kit) -> None:
    payload, _ = kit.card_payload()
    key = compress_point(generate_private_key().public_key()).hex()
    payload["authentication_key"] = key
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 201, response.text
    assert response.json()["authentication_key"] == key
    assert kit.admin.post("/api/v1/cards", json=payload).status_code == 200
    payload["authentication_key"] = compress_point(generate_private_key().public_key()).hex()
    conflict = kit.admin.post("/api/v1/cards", json=payload)
    assert conflict.status_code == 409
    assert "authentication_key" in conflict.text


@pytest.mark.parametrize("assurance, key, fragment", [
    ("qr", "02" + "11" * 32, "must be null when assurance is 'qr'"),
    ("chip", "02" + "ff" * 32, "is not a compressed P-256 point"),
])
def test_registration_checks_pin_key(kit, assurance, key, fragment) -> None:
    payload, _ = kit.card_payload(assurance=assurance)
    payload["authentication_key"] = key
    response = kit.admin.post("/api/v1/cards", json=payload)
    assert response.status_code == 422
    assert fragment in response.text
    assert "authentication_key" in response.text


def test_station_body_registers_pin_key(kit) -> None:
    """The station's registration body carries the 9A key, and the server stores it."""
    resident = generate_register(1, seed=3)[0]
    card_key, pin_key = generate_private_key(), generate_private_key()
    issued = IssuedFromStation(
        card_number=kit.card_payload()[0]["card_number"], household_id=secrets.token_bytes(8),
        issued=date(2026, 1, 31), expires=date(2031, 1, 31), qr_text="-", chip_credential=b"chip",
        card_key=compress_point(card_key.public_key()), authentication_key=compress_point(pin_key.public_key()),
    )
    body = registration_body(issued, resident, bytes.fromhex("a1b2c3d4e5f60718"))
    assert body["authentication_key"] == issued.authentication_key.hex()
    response = kit.admin.post("/api/v1/cards", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["authentication_key"] == issued.authentication_key.hex()
