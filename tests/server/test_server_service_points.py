"""Service points and enrolment codes (administrator calls)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.enrolment_codes import hash_code
from server.models import EnrolmentCode

CODE_PATTERN = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$")


def test_create_service_point(kit):
    response = kit.admin.post(
        "/api/v1/service-points", json={"name": "Agen LPG Pasar Angso Duo", "kind": "lpg_agent", "programmes": ["lpg"]}
    )
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body["id"], int)
    assert body == {"id": body["id"], "name": "Agen LPG Pasar Angso Duo", "kind": "lpg_agent", "programmes": ["lpg"]}
    assert kit.stats()["service_points"] == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"programmes": ["zakat"]}, "programmes: names a programme that does not exist (got 'zakat')"),
        ({"programmes": []}, "programmes: List should have at least 1 item after validation, not 0 (got [])"),
        ({"programmes": ["lpg", "lpg"]}, "programmes: lists a programme more than once (got ['lpg', 'lpg'])"),
        ({"programmes": ["LPG"]}, "programmes.0: must be 1 to 32 lower-case letters, digits or '_'"),
        ({"kind": "LPG Agent"}, "kind: must be 1 to 40 lower-case letters, digits or '_', such as 'lpg_agent'"),
        ({"name": ""}, "name: String should have at least 1 character (got '')"),
        ({"name": "x" * 201}, "name: String should have at most 200 characters"),
    ],
)
def test_invalid_service_point(kit, change, message):
    payload = {"name": "Agen", "kind": "lpg_agent", "programmes": ["lpg"]} | change
    response = kit.admin.post("/api/v1/service-points", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)
    assert kit.stats()["service_points"] == 0


def test_create_enrolment_code(kit):
    service_point_id = kit.service_point()
    response = kit.admin.post(f"/api/v1/service-points/{service_point_id}/enrolment-codes")
    assert response.status_code == 201
    body = response.json()
    assert CODE_PATTERN.match(body["code"])
    assert body["service_point_id"] == service_point_id
    expected_expiry = datetime.fromtimestamp(kit.clock(), timezone.utc) + timedelta(hours=24)
    assert datetime.fromisoformat(body["expires_at"]) == expected_expiry


def test_enrolment_code_stored_hashed(kit):
    code = kit.enrolment_code(kit.service_point())
    with Session(kit.live.app.state.engine) as session:
        rows = session.scalars(select(EnrolmentCode)).all()
    assert len(rows) == 1
    assert rows[0].code_hash == hash_code(code)
    assert code.replace("-", "").encode() not in rows[0].code_hash


def test_enrolment_codes_differ(kit):
    service_point_id = kit.service_point()
    codes = {kit.enrolment_code(service_point_id) for _ in range(5)}
    assert len(codes) == 5


def test_enrolment_code_unknown_service_point(kit):
    response = kit.admin.post("/api/v1/service-points/999/enrolment-codes")
    assert response.status_code == 404
    assert response.json() == {"detail": "service point 999 not found"}


def test_enrolment_code_bad_service_point_id(kit):
    response = kit.admin.post("/api/v1/service-points/abc/enrolment-codes")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("service_point_id: Input should be a valid integer")
