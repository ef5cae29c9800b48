"""POST /api/v1/terminals/enrol: one-time codes, expiry and key checks."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from card.keys import kid_of
from issuance.regions import KELURAHAN
from server.models import Terminal

USED = "enrolment code was already used; ask an administrator for a new one"
UNKNOWN = "enrolment code is not valid; check it or ask an administrator for a new one"


def test_enrol_terminal(kit):
    service_point_id = kit.service_point()
    payload, signer = kit.enrolment_payload(kit.enrolment_code(service_point_id), "T-0001")
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload)
    assert response.status_code == 201
    assert response.json() == {"terminal_id": "T-0001", "service_point_id": service_point_id,
                               "service_point_name": "Agen LPG Talang Banjar", "kelurahan": None,
                               "kelurahan_name": None, "programmes": ["lpg"]}
    with Session(kit.live.app.state.engine) as session:
        terminal = session.get(Terminal, "T-0001")
        assert terminal.kid == kid_of(signer.public_key)
        assert terminal.service_point_id == service_point_id
    assert kit.stats()["terminals"] == 1


def test_enrol_answer_names_kelurahan(kit):
    kelurahan = KELURAHAN[0]
    service_point_id = kit.service_point()
    area = kit.admin.put(f"/api/v1/service-points/{service_point_id}/kelurahan", json={"kelurahan": kelurahan.code})
    assert area.status_code == 200, area.text
    payload, _signer = kit.enrolment_payload(kit.enrolment_code(service_point_id))
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload)
    assert response.status_code == 201, response.text
    assert response.json()["kelurahan"] == kelurahan.code
    assert response.json()["kelurahan_name"] == kelurahan.name


def test_code_typed_loosely(kit):
    code = kit.enrolment_code(kit.service_point())
    payload, _ = kit.enrolment_payload(code.replace("-", " ").lower())
    assert kit.anonymous.post("/api/v1/terminals/enrol", json=payload).status_code == 201


def test_code_used_twice(kit):
    code = kit.enrolment_code(kit.service_point())
    first, _ = kit.enrolment_payload(code)
    second, _ = kit.enrolment_payload(code)
    assert kit.anonymous.post("/api/v1/terminals/enrol", json=first).status_code == 201
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=second)
    assert response.status_code == 403
    assert response.json() == {"detail": USED}
    assert kit.stats()["terminals"] == 1


def test_unknown_code(kit):
    kit.enrolment_code(kit.service_point())
    payload, _ = kit.enrolment_payload("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload)
    assert response.status_code == 403
    assert response.json() == {"detail": UNKNOWN}


def test_expired_code(kit):
    code = kit.enrolment_code(kit.service_point())
    kit.clock.advance(24 * 3600)
    payload, _ = kit.enrolment_payload(code)
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "enrolment code expired at 2026-03-16T03:00:00+00:00; ask an administrator for a new one"
    }


def test_code_valid_until_last_second(kit):
    code = kit.enrolment_code(kit.service_point())
    kit.clock.advance(24 * 3600 - 1)
    payload, _ = kit.enrolment_payload(code)
    assert kit.anonymous.post("/api/v1/terminals/enrol", json=payload).status_code == 201


def test_code_not_echoed(kit):
    payload, _ = kit.enrolment_payload(123456)
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == "code: Input should be a valid string"
    assert "123456" not in response.text


def test_terminal_id_taken_keeps_code(kit):
    service_point_id = kit.service_point()
    kit.enrol_terminal(service_point_id, terminal_id="T-0001")
    code = kit.enrolment_code(service_point_id)
    duplicate, _ = kit.enrolment_payload(code, "T-0001")
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=duplicate)
    assert response.status_code == 409
    assert response.json() == {"detail": "terminal 'T-0001' is already enrolled; choose another terminal id"}
    retry, _ = kit.enrolment_payload(code, "T-0002")
    assert kit.anonymous.post("/api/v1/terminals/enrol", json=retry).status_code == 201


def test_public_key_taken(kit):
    service_point_id = kit.service_point()
    first, signer = kit.enrolment_payload(kit.enrolment_code(service_point_id))
    assert kit.anonymous.post("/api/v1/terminals/enrol", json=first).status_code == 201
    second, _ = kit.enrolment_payload(kit.enrolment_code(service_point_id), signer=signer)
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=second)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "this public key is already enrolled for another terminal; generate a new key pair"
    }


RSA_SPKI_PREFIX = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("public_key", "not base64", "public_key: is not a base64 SubjectPublicKeyInfo DER of a P-256 key"),
        ("public_key", "AAAA", "public_key: is not a base64 SubjectPublicKeyInfo DER of a P-256 key (got 'AAAA')"),
        ("public_key", RSA_SPKI_PREFIX, "public_key: is not a base64 SubjectPublicKeyInfo DER of a P-256 key"),
        ("terminal_id", "T 1", "terminal_id: must be 1 to 64 letters, digits, '.', '_' or '-'"),
        ("terminal_id", "T" * 65, "terminal_id: must be 1 to 64 letters"),
        ("name", "", "name: String should have at least 1 character"),
    ],
)
def test_invalid_enrolment(kit, field, value, message):
    code = kit.enrolment_code(kit.service_point())
    payload, _ = kit.enrolment_payload(code)
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload | {field: value})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)
    valid, _ = kit.enrolment_payload(code)
    assert kit.anonymous.post("/api/v1/terminals/enrol", json=valid).status_code == 201


def test_bad_code_checked_before_key(kit):
    payload, _ = kit.enrolment_payload("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload | {"public_key": "AAAA"})
    assert response.status_code == 403
    assert response.json() == {"detail": UNKNOWN}


def test_enrolled_terminal_can_call(kit):
    terminal = kit.enrol_terminal()
    assert kit.entitlements(terminal).status_code == 200
