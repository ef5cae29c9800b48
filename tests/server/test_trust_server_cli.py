"""`kartu server --sync-key`: the key that signs card revocation lists."""

from __future__ import annotations

from card.keys import generate_private_key, save_private_key
from server.cli import main
from tests.server.test_server_cli import TOKEN, parse


def test_sync_key_option_parsed():
    assert parse(["server"]).sync_key is None
    assert parse(["server", "--sync-key", "sync.key"]).sync_key == "sync.key"


def test_sync_key_loose_mode_rejected(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KARTU_ADMIN_TOKEN", TOKEN)
    key_file = tmp_path / "sync.key"
    save_private_key(generate_private_key(), key_file)
    key_file.chmod(0o644)
    status = main(["server", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", "0", "--sync-key", str(key_file)])
    assert status == 2
    assert f"key file {key_file} has mode 0644" in capsys.readouterr().err


def test_sync_key_missing_rejected(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KARTU_ADMIN_TOKEN", TOKEN)
    missing = tmp_path / "absent.key"
    status = main(["server", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", "0", "--sync-key", str(missing)])
    assert status == 2
    assert f"cannot read key file {missing}" in capsys.readouterr().err
