"""GET /api/v1/stats: counts for the dashboard and the readiness check."""

from __future__ import annotations


def test_stats_empty(kit):
    assert kit.stats() == {
        "cards": 0,
        "service_points": 0,
        "terminals": 0,
        "redemptions": 0,
        "redemptions_by_program": {},
        "redemptions_by_assurance": {"chip": 0, "qr": 0},
    }


def test_stats_counts(kit):
    service_point_id = kit.service_point()
    terminals = [kit.enrol_terminal(service_point_id) for _ in range(2)]
    chip = kit.register_card()
    qr = kit.register_card(assurance="qr")
    kit.push(terminals[0], [kit.record(terminals[0], chip), kit.record(terminals[0], qr)])
    kit.push(terminals[1], [kit.record(terminals[1], chip)])
    kit.push(terminals[1], [kit.record(terminals[1], chip, program="pbi")])
    assert kit.stats() == {
        "cards": 2,
        "service_points": 1,
        "terminals": 2,
        "redemptions": 3,
        "redemptions_by_program": {"lpg": 3},
        "redemptions_by_assurance": {"chip": 2, "qr": 1},
    }


def test_stats_needs_admin(kit):
    response = kit.anonymous.get("/api/v1/stats")
    assert response.status_code == 401
    assert response.json()["detail"].startswith(
        "missing Authorization header; send 'Authorization: Bearer <session token or admin token>'"
    )


def test_stats_rejects_terminal(kit):
    terminal = kit.enrol_terminal()
    response = terminal.client.get("/api/v1/stats")
    assert response.status_code == 401


def test_unknown_route_and_method(kit):
    assert kit.admin.get("/api/v1/nothing").status_code == 404
    response = kit.admin.delete("/api/v1/stats")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
