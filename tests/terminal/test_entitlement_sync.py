"""`kartu terminal sync` against a real server: signed sets are applied, and a set the terminal cannot verify is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from card.keys import FileSigner, generate_private_key, save_public_key
from kartu.cli import main
from server.api import sync as server_sync
from terminal.enrol import enrol_terminal, open_terminal
from terminal.entitlement_check import NO_TRUST_LIST, NOT_SYNC_KEY
from terminal.sync import EntitlementSetRejected, SyncError
from tests.terminal.live_server import enrol, live_server, register_qr_cards, sync


def stored_entitlements(directory: Path) -> tuple[int | None, dict[bytes, int]]:
    """Return the LPG set's generation and every household's use, which a rejected pull must leave alone."""
    store, _signer = open_terminal(directory)
    try:
        entitlement_set = store.entitlement_set("lpg")
        rows = store.execute("SELECT household_id, used FROM entitlements WHERE program = 'lpg'").fetchall()
        return (entitlement_set.generation if entitlement_set else None), dict(rows)
    finally:
        store.close()


def test_signed_pull_applied(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        cards = register_qr_cards(kit, station, residents[:2])
        enrol(kit, station, directory).close()
        report = sync(directory)
    assert report.programmes_pulled == ["lpg"]
    assert report.trust_list_sequence == 1
    assert stored_entitlements(directory) == (1, {card.household_id: 0 for card in cards})


def test_set_from_unknown_key_not_applied(station, residents, tmp_path, capsys, monkeypatch) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        register_qr_cards(kit, station, residents[:1])
        enrol(kit, station, directory).close()
        sync(directory)
        before = stored_entitlements(directory)
        kit.register_card()
        # The server returns 503 for an untrusted sync key, so skip that check to reach the terminal's own check.
        monkeypatch.setattr(server_sync, "require_trusted_sync_key", lambda *args: None)
        kit.live.app.state.sync_signer = FileSigner(generate_private_key())
        with pytest.raises(EntitlementSetRejected) as caught:
            sync(directory)
        assert caught.value.error.template == NOT_SYNC_KEY
        assert stored_entitlements(directory) == before

        status = main(["--lang", "id", "terminal", "sync", "--dir", str(directory)])
    assert status == 2
    assert "Daftar hak untuk lpg ditandatangani dengan kunci" in capsys.readouterr().err


def test_server_without_sync_key_changes_nothing(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        register_qr_cards(kit, station, residents[:1])
        enrol(kit, station, directory).close()
        sync(directory)
        before = stored_entitlements(directory)
        kit.live.app.state.sync_signer = None
        with pytest.raises(SyncError, match="no sync key"):
            sync(directory)
    assert stored_entitlements(directory) == before


def test_terminal_without_root_key_pulls_nothing(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    issuer_file = tmp_path / "issuer.pem"
    with live_server(tmp_path) as kit:
        register_qr_cards(kit, station, residents[:1])
        save_public_key(station.issuer.public_key, issuer_file)
        code = kit.enrolment_code(kit.service_point())
        enrol_terminal(directory, kit.live.base_url, code, [issuer_file], "Kasir 1").close()
        with pytest.raises(EntitlementSetRejected) as caught:
            sync(directory)
    assert caught.value.error.template == NO_TRUST_LIST
    assert caught.value.message("en").endswith("Enrol the terminal with the city root key (--root-key) and sync again.")
    assert stored_entitlements(directory) == (None, {})
