"""Reconciliation after each push: quota over-use, distant use, QR records, terminal volume."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.geo import distance_km
from server.db import make_sessionmaker
from server.fields import encode_base64
from server.models_findings import Finding, finding_records
from server.reconcile_queue import QueuedBatch, Reconciler
from tests.server.test_server_people import log_in

FINDINGS = "/api/v1/findings"
# Alam Barajo (west) and Paal Merah (south-east) are across the city from each other.
WEST = "1571091001"
EAST = "1571111001"


def findings(kit, kind: str | None = None) -> list[dict]:
    response = kit.admin.get(FINDINGS, params={"kind": kind} if kind else None)
    assert response.status_code == 200, response.text
    return response.json()["findings"]


def place(kit, service_point_id: int, kelurahan: str) -> None:
    response = kit.admin.put(f"/api/v1/service-points/{service_point_id}/kelurahan", json={"kelurahan": kelurahan})
    assert response.status_code == 200, response.text


def accepted(kit, terminal, records) -> list[str]:
    body = kit.push(terminal, records).json()
    assert body["rejected"] == []
    return body["accepted"]


def test_quota_overuse_across_terminals(kit):
    first = kit.enrol_terminal()
    second = kit.enrol_terminal()
    card = kit.register_card()
    ids = accepted(kit, first, [kit.record(first, card, quantity=2)])
    assert findings(kit, "quota_overuse") == []
    ids += accepted(kit, second, [kit.record(second, card, quantity=2)])

    [finding] = findings(kit, "quota_overuse")
    assert finding["subject"] == card.household_id.hex()
    assert finding["program"] == "lpg"
    assert finding["detail"] == {"used": 4, "quota": 3, "period": "2026-03", "per": "household"}
    assert finding["record_ids"] == sorted(ids)


def test_quota_within_limit_no_finding(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    accepted(kit, terminal, [kit.record(terminal, card, quantity=1), kit.record(terminal, card, quantity=2)])
    assert findings(kit, "quota_overuse") == []


def test_overuse_finding_grows_not_repeats(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    batch = [kit.record(terminal, card, quantity=2), kit.record(terminal, card, quantity=2)]
    ids = accepted(kit, terminal, batch)
    assert kit.push(terminal, batch).json()["duplicates"] == ids
    ids += accepted(kit, terminal, [kit.record(terminal, card, quantity=1)])

    [finding] = findings(kit, "quota_overuse")
    assert finding["detail"]["used"] == 5
    assert finding["record_ids"] == sorted(ids)


def test_distant_use_within_minutes(kit):
    west_point, east_point = kit.service_point(), kit.service_point()
    place(kit, west_point, WEST)
    place(kit, east_point, EAST)
    west, east = kit.enrol_terminal(west_point), kit.enrol_terminal(east_point)
    card = kit.register_card()
    ids = accepted(kit, west, [kit.record(west, card)])
    kit.clock.advance(10 * 60)
    ids += accepted(kit, east, [kit.record(east, card)])

    [finding] = findings(kit, "distant_use")
    assert finding["subject"] == card.number
    assert finding["record_ids"] == sorted(ids)
    assert finding["detail"]["minutes"] == 10.0
    assert finding["detail"]["distance_km"] == round(distance_km(WEST, EAST), 1)
    assert finding["detail"]["distance_km"] > 10


def test_distant_use_hours_apart_allowed(kit):
    west_point, east_point = kit.service_point(), kit.service_point()
    place(kit, west_point, WEST)
    place(kit, east_point, EAST)
    west, east = kit.enrol_terminal(west_point), kit.enrol_terminal(east_point)
    card = kit.register_card()
    accepted(kit, west, [kit.record(west, card)])
    kit.clock.advance(90 * 60)
    accepted(kit, east, [kit.record(east, card)])
    assert findings(kit, "distant_use") == []


def test_neighbouring_points_not_flagged(kit):
    first_point, second_point = kit.service_point(), kit.service_point()
    place(kit, first_point, WEST)
    place(kit, second_point, WEST)
    first, second = kit.enrol_terminal(first_point), kit.enrol_terminal(second_point)
    card = kit.register_card()
    accepted(kit, first, [kit.record(first, card)])
    kit.clock.advance(60)
    accepted(kit, second, [kit.record(second, card)])
    assert findings(kit, "distant_use") == []


def test_qr_record_flagged(kit):
    terminal = kit.enrol_terminal()
    qr_card = kit.register_card(assurance="qr")
    chip_card = kit.register_card()
    [qr_id, _] = accepted(kit, terminal, [kit.record(terminal, qr_card), kit.record(terminal, chip_card)])

    [finding] = findings(kit, "no_card_signature")
    assert finding["subject"] == qr_card.number
    assert finding["record_ids"] == [qr_id]
    assert finding["detail"] == {"terminal_id": terminal.terminal_id, "assurance": "qr", "card_has_chip": False}


def test_terminal_volume_far_above_peers(kit):
    service_point = kit.service_point()
    peers = [kit.enrol_terminal(service_point) for _ in range(3)]
    for peer in peers:
        accepted(kit, peer, [kit.record(peer, kit.register_card(), quantity=2)])
    busy = kit.enrol_terminal(service_point)
    ids = accepted(kit, busy, [kit.record(busy, kit.register_card(), quantity=3) for _ in range(7)])

    [finding] = findings(kit, "terminal_volume")
    assert finding["subject"] == busy.terminal_id
    assert finding["detail"] == {"quantity": 21, "peer_median": 2, "peers": 3, "period": "2026-03"}
    assert finding["record_ids"] == sorted(ids)


def test_terminal_volume_needs_peers(kit):
    lone = kit.enrol_terminal()
    accepted(kit, lone, [kit.record(lone, kit.register_card(), quantity=3) for _ in range(10)])
    assert findings(kit, "terminal_volume") == []


def test_full_reconcile_adds_nothing_new(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    qr_card = kit.register_card(assurance="qr")
    accepted(kit, terminal, [kit.record(terminal, card, quantity=4), kit.record(terminal, qr_card)])
    response = kit.admin.post(f"{FINDINGS}/reconcile")
    assert response.status_code == 200
    assert response.json() == {"changed": 0}
    assert len(findings(kit, "quota_overuse")) == 1
    assert len(findings(kit, "no_card_signature")) == 1


def test_full_reconcile_finds_missed_patterns(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    accepted(kit, terminal, [kit.record(terminal, card, quantity=4)])
    with Session(kit.live.app.state.engine) as session:
        session.execute(delete(finding_records))
        session.execute(delete(Finding))
        session.commit()
    assert kit.admin.post(f"{FINDINGS}/reconcile").json() == {"changed": 1}
    assert len(findings(kit, "quota_overuse")) == 1


def test_findings_need_admin(kit):
    assert kit.anonymous.get(FINDINGS).status_code == 401
    assert kit.anonymous.post(f"{FINDINGS}/reconcile").status_code == 401


def test_unknown_kelurahan_rejected(kit):
    service_point = kit.service_point()
    response = kit.admin.put(f"/api/v1/service-points/{service_point}/kelurahan", json={"kelurahan": "1571999001"})
    assert response.status_code == 422
    assert response.json()["detail"] == "kelurahan: is not a kelurahan of Kota Jambi (got '1571999001')"


def test_kelurahan_of_missing_service_point(kit):
    response = kit.admin.put("/api/v1/service-points/999/kelurahan", json={"kelurahan": WEST})
    assert response.status_code == 404
    assert response.json() == {"detail": "service point 999 not found"}


def test_operator_sees_own_programmes(kit):
    terminal = kit.enrol_terminal()
    accepted(kit, terminal, [kit.record(terminal, kit.register_card(), quantity=4)])
    lpg_operator = log_in(kit, "rina", "operator", "Dinas Perindustrian dan Perdagangan")
    social_operator = log_in(kit, "budi", "operator", "Dinas Sosial")

    response = lpg_operator.get(FINDINGS)
    assert response.status_code == 200
    assert [finding["kind"] for finding in response.json()["findings"]] == ["quota_overuse"]
    assert social_operator.get(FINDINGS).json() == {"count": 0, "findings": []}


def test_findings_read_audited(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    accepted(kit, terminal, [kit.record(terminal, card, quantity=4)])
    auditor = log_in(kit, "sari", "auditor")
    assert len(auditor.get(FINDINGS).json()["findings"]) == 1

    log = kit.admin.get("/api/v1/audit-log", params={"subject_kind": "finding"}).json()
    assert [(entry["actor"], entry["subject_id"]) for entry in log] == [("user:sari", card.household_id.hex())]
    assert log[0]["request"] == "GET /api/v1/findings"


def test_auditor_cannot_reconcile(kit):
    auditor = log_in(kit, "sari", "auditor")
    assert auditor.get(FINDINGS).status_code == 200
    response = auditor.post(f"{FINDINGS}/reconcile")
    assert response.status_code == 403
    assert "this needs the role administrator" in response.json()["detail"]


def test_terminal_volume_found_over_pushes(kit):
    service_point = kit.service_point()
    peers = [kit.enrol_terminal(service_point) for _ in range(3)]
    for peer in peers:
        accepted(kit, peer, [kit.record(peer, kit.register_card(), quantity=2)])
    busy = kit.enrol_terminal(service_point)
    for _ in range(6):
        accepted(kit, busy, [kit.record(busy, kit.register_card(), quantity=3)])
    assert findings(kit, "terminal_volume") == []

    accepted(kit, busy, [kit.record(busy, kit.register_card(), quantity=3)])
    [finding] = findings(kit, "terminal_volume")
    assert finding["detail"]["quantity"] == 21
    assert len(finding["record_ids"]) == 7


def test_queued_batch_survives_restart(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    engine = kit.live.app.state.engine
    kit.live.app.state.reconciler.stop()  # the process "crashes" before it reconciles
    records = [encode_base64(kit.record(terminal, card, quantity=2)) for _ in range(2)]
    response = terminal.client.post("/api/v1/sync/redemptions", json={"records": records})
    assert len(response.json()["accepted"]) == 2
    with Session(engine) as session:
        assert session.query(QueuedBatch).count() == 1
    assert findings(kit, "quota_overuse") == []

    restarted = Reconciler(engine, make_sessionmaker(engine))
    assert restarted.drain() == 1
    [finding] = findings(kit, "quota_overuse")
    assert finding["detail"]["used"] == 4
    assert restarted.drain() == 0
    with Session(engine) as session:
        assert session.query(QueuedBatch).count() == 0
