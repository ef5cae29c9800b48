"""`kartu terminal enrol --root-key` and `kartu terminal trust`: pinning, updating and status."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from card.keys import save_public_key
from card.publish import RevocationPublisher, publish_trust_list
from kartu.cli import main
from kartu.demo_support import ServerThread
from terminal.enrol import STORE_NAME
from terminal.store import TerminalStore
from tests.card.trust_kit import City, unix_wib


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerThread:
    directory = tmp_path_factory.mktemp("server")
    thread = ServerThread(f"sqlite:///{directory / 'server.db'}", secrets.token_urlsafe(32)).start()
    yield thread
    thread.stop()


def _code(server: ServerThread) -> str:
    point = server.post("/api/v1/service-points", {"name": "Pangkalan Uji", "kind": "lpg_agent", "programmes": ["lpg"]})
    return server.post(f"/api/v1/service-points/{point['id']}/enrolment-codes", {})["code"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run kartu with English messages, which the assertions below quote."""
    code = main(["--lang", "en", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def city(tmp_path) -> City:
    city = City()
    save_public_key(city.root.public_key, tmp_path / "root.pub.pem")
    return city


def test_enrol_pins_root_and_applies_trust_list(tmp_path, capsys, server, city) -> None:
    (tmp_path / "trustlist.cose").write_bytes(city.trust_list(4))
    code, _, err = run(capsys, "terminal", "enrol", "--dir", str(tmp_path / "terminal"), "--server", server.url,
                       "--code", _code(server), "--root-key", str(tmp_path / "root.pub.pem"),
                       "--trust-list", str(tmp_path / "trustlist.cose"))
    assert code == 0, err
    code, out, _ = run(capsys, "terminal", "trust", "status", "--dir", str(tmp_path / "terminal"))
    status = json.loads(out)
    assert code == 0
    assert status["root_kid"] == city.root.kid.hex()
    assert status["trust_list_sequence"] == 4
    assert {key["kid"] for key in status["keys"]} == {city.issuer.kid.hex(), city.sync.kid.hex()}


def test_enrol_with_foreign_trust_list_fails_before_server(tmp_path, capsys, server, city) -> None:
    (tmp_path / "trustlist.cose").write_bytes(City().trust_list(1))
    code, _, err = run(capsys, "terminal", "enrol", "--dir", str(tmp_path / "terminal"), "--server", server.url,
                       "--code", "UNUSED-CODE", "--root-key", str(tmp_path / "root.pub.pem"),
                       "--trust-list", str(tmp_path / "trustlist.cose"))
    assert code == 2
    assert "not by the pinned root key" in err
    assert not (tmp_path / "terminal" / STORE_NAME).exists()


def test_enrol_needs_a_trust_anchor(tmp_path, capsys, server) -> None:
    code, _, err = run(capsys, "terminal", "enrol", "--dir", str(tmp_path / "terminal"), "--server", server.url,
                       "--code", "UNUSED-CODE")
    assert code == 2
    assert "--root-key" in err


def test_trust_update_from_publication(tmp_path, capsys, server, city) -> None:
    terminal = tmp_path / "terminal"
    run(capsys, "terminal", "enrol", "--dir", str(terminal), "--server", server.url, "--code", _code(server),
        "--root-key", str(tmp_path / "root.pub.pem"))
    publication = tmp_path / "publication"
    publish_trust_list(publication, city.trust_list(2))
    RevocationPublisher(publication, city.sync).publish([11, 12], issued_at=unix_wib(2026, 6, 1))

    code, out, err = run(capsys, "terminal", "trust", "update", "--dir", str(terminal), "--from", str(publication))

    assert code == 0, err
    assert "trust list sequence 2 (new), revocation list version 1 (deltas applied: 1)" in out
    store = TerminalStore(terminal / STORE_NAME)
    assert store.revoked_count() == 2
    store.close()


def test_trust_update_rejects_rollback(tmp_path, capsys, server, city) -> None:
    terminal = tmp_path / "terminal"
    (tmp_path / "trustlist.cose").write_bytes(city.trust_list(5))
    run(capsys, "terminal", "enrol", "--dir", str(terminal), "--server", server.url, "--code", _code(server),
        "--root-key", str(tmp_path / "root.pub.pem"), "--trust-list", str(tmp_path / "trustlist.cose"))
    publication = tmp_path / "publication"
    publish_trust_list(publication, city.trust_list(4))

    code, _, err = run(capsys, "terminal", "trust", "update", "--dir", str(terminal), "--from", str(publication))

    assert code == 2
    assert "older than the held sequence 5" in err


def test_trust_update_on_missing_terminal(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "terminal", "trust", "update", "--dir", str(tmp_path / "none"), "--from", str(tmp_path))
    assert code == 2
    assert "not a terminal directory" in err
    assert not (tmp_path / "none" / STORE_NAME).exists()


def test_issuer_key_enrolment_still_works(tmp_path, capsys, server, city) -> None:
    save_public_key(city.issuer.public_key, tmp_path / "issuer.pub.pem")
    code, _, err = run(capsys, "terminal", "enrol", "--dir", str(tmp_path / "terminal"), "--server", server.url,
                       "--code", _code(server), "--issuer-key", str(tmp_path / "issuer.pub.pem"))
    assert code == 0, err
    store = TerminalStore(Path(tmp_path / "terminal" / STORE_NAME))
    assert city.issuer.kid in store.trust_store().issuers
    assert store.root_key() is None
    store.close()
