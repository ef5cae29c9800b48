"""Offline rules set on the server reach the terminal with each pull of the entitlements."""

from __future__ import annotations

from datetime import datetime, timezone

from card.decision import Reason
from terminal.enrol import open_terminal
from terminal.offline_rules import OfflineAction, OfflineRule, RuledTapService, load_rules, save_rule
from tests.terminal.live_server import enrol, live_server, register_qr_cards, sync


def set_offline_rule(kit, program: str, hours: int | None, action: str | None):
    """Replace the programme's rule on the server, keeping its eligibility, with the given offline rule."""
    listed = {item["code"]: item for item in kit.admin.get("/api/v1/programmes").json()["programmes"]}[program]
    rule = {"desil_min": listed["desil_min"], "desil_max": listed["desil_max"],
            "pin_required": listed["pin_required"], "eligibility": listed["eligibility"]}
    if hours is not None:
        rule |= {"offline_max_hours": hours, "offline_action": action}
    return kit.admin.put(f"/api/v1/programmes/{program}/rule", json=rule)


def test_server_rule_pulled_and_removed(station, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        enrol(kit, station, directory).close()
        response = set_offline_rule(kit, "lpg", 48, "refuse")
        assert response.status_code == 200, response.text
        assert response.json()["programme"]["offline_max_hours"] == 48
        sync(directory)
        store, _signer = open_terminal(directory)
        assert load_rules(store) == {"lpg": OfflineRule("lpg", 48 * 3600, OfflineAction.REFUSE)}

        assert set_offline_rule(kit, "lpg", None, None).status_code == 200
        sync(directory)
        assert load_rules(store) == {}


def test_pull_without_rule_keeps_local_rule(station, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        enrol(kit, station, directory).close()
        store, _signer = open_terminal(directory)
        local = OfflineRule("lpg", 3600, OfflineAction.WARN)
        save_rule(store, local)
        sync(directory)
    assert load_rules(store) == {"lpg": local}


def test_server_rule_refuses_after_limit(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        cards = register_qr_cards(kit, station, residents[:1])
        enrol(kit, station, directory).close()
        assert set_offline_rule(kit, "lpg", 24, "refuse").status_code == 200
        sync(directory)
    store, signer = open_terminal(directory)
    pulled_at = store.execute("SELECT pulled_at FROM entitlement_sets WHERE program = 'lpg'").fetchone()[0]
    later = datetime.fromtimestamp(pulled_at + 25 * 3600, timezone.utc)
    outcome = RuledTapService(store, signer).scan_qr(cards[0].qr_text, "lpg", later)
    assert outcome.decision.reason is Reason.OFFLINE_TOO_LONG
    assert store.count_by_status() == {}


def test_invalid_offline_rule_rejected(station, tmp_path) -> None:
    with live_server(tmp_path) as kit:
        without_action = set_offline_rule(kit, "lpg", 48, None)
        unknown_action = set_offline_rule(kit, "lpg", 48, "ignore")
        zero_hours = set_offline_rule(kit, "lpg", 0, "warn")
    assert without_action.status_code == 422
    assert "given together" in without_action.text
    assert unknown_action.status_code == 422
    assert zero_hours.status_code == 422
