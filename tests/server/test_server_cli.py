"""`kartu server`: options, admin token sources, loopback guard, start and stop."""

from __future__ import annotations

import argparse
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from card.i18n import set_argument_language
from server.cli import add_commands, is_loopback, main

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"server listening on http://127\.0\.0\.1:(\d+), database (\S+)")
TOKEN = "t" * 43


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """Check the English texts here; test_server_cli_language checks the Indonesian ones."""
    monkeypatch.setenv("KARTU_LANG", "en")
    set_argument_language(None)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kartu")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_defaults():
    args = parse(["server"])
    assert (args.db, args.host, args.port) == ("sqlite:///kartu-server.db", "127.0.0.1", 8470)
    assert args.admin_token_file is None
    assert args.allow_remote is False
    assert args.workers == 1
    assert args.handler.__name__ == "run_server"


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_invalid_workers_rejected(capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        parse(["server", "--workers", value])
    assert exit_info.value.code == 2
    assert f"argument --workers: invalid worker count '{value}': give a whole number of at least 1" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.org", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_remote_host_rejected(capsys, tmp_path):
    status = main(["server", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert status == 2
    assert "--host 0.0.0.0 is not a loopback address; pass --allow-remote to listen on it" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "admin-token").exists()


def test_loose_token_file_rejected(capsys, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    status = main(["server", "--admin-token-file", str(token_file), "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert status == 2
    err = capsys.readouterr().err
    assert f"admin token file {token_file} has mode 0644; restrict it with 'chmod 600 {token_file}'" in err
    assert TOKEN not in err


def test_short_token_rejected(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KARTU_ADMIN_TOKEN", "changeme")
    status = main(["server", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", "0"])
    assert status == 2
    err = capsys.readouterr().err
    assert "the admin token must be at least 32 printable characters" in err
    assert "changeme" not in err


def test_postgresql_needs_token(capsys, monkeypatch):
    monkeypatch.delenv("KARTU_ADMIN_TOKEN", raising=False)
    status = main(["server", "--db", "postgresql://kartu@127.0.0.1/kartu"])
    assert status == 2
    assert "no admin token: set KARTU_ADMIN_TOKEN or pass --admin-token-file" in capsys.readouterr().err


def test_unreachable_database_hides_password(capsys, monkeypatch):
    monkeypatch.setenv("KARTU_ADMIN_TOKEN", TOKEN)
    status = main(["server", "--db", "postgresql://kartu:s3cret-pw@127.0.0.1:1/kartu", "--port", "0"])
    assert status == 2
    err = capsys.readouterr().err
    assert "failed to open database postgresql://kartu:***@127.0.0.1:1/kartu: connection failed" in err
    assert "s3cret-pw" not in err


class ServerProcess:
    """`python -m server.cli server ...` in a subprocess, read until it logs the port it listens on."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "server", "--port", "0", *args],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # A server that never logs its port would block readline forever; the timer ends it.
        self.watchdog = threading.Timer(60, self.process.kill)
        self.watchdog.start()
        self.log: list[str] = []
        self.port = None
        for line in self.process.stderr:
            self.log.append(line)
            match = LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                self.database = match.group(2)
                break
        assert self.port is not None, "".join(self.log)

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        stdout, stderr = self.process.communicate(timeout=30)
        self.watchdog.cancel()
        return self.process.returncode, stdout, "".join(self.log) + stderr


def _environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "KARTU_ADMIN_TOKEN"}
    env.update(extra)
    return env


def test_serves_with_generated_token_file(tmp_path):
    database = tmp_path / "data" / "kartu-server.db"
    database.parent.mkdir()
    server = ServerProcess(["--db", f"sqlite:///{database}"], _environment())
    try:
        token_file = tmp_path / "data" / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 43
        response = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/stats",
                             headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["cards"] == 0
    finally:
        status, stdout, log = server.stop()
    assert status == 0
    assert stdout == f"Created admin token file {token_file}\n"
    assert token not in log
    assert "server stopped" in log


def test_token_file_reused(tmp_path):
    database = tmp_path / "kartu-server.db"
    token_file = tmp_path / "admin-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server = ServerProcess(["--db", f"sqlite:///{database}"], _environment())
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/stats",
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
    finally:
        _, stdout, _ = server.stop()
    assert stdout == f"Admin token file: {token_file}\n"
    assert token_file.read_text() == TOKEN + "\n"


def test_token_from_environment(tmp_path):
    server = ServerProcess(["--db", f"sqlite:///{tmp_path / 'kartu-server.db'}"],
                           _environment(KARTU_ADMIN_TOKEN=TOKEN))
    try:
        base = f"http://127.0.0.1:{server.port}/api/v1/stats"
        assert httpx.get(base, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert httpx.get(base, headers={"Authorization": "Bearer " + "u" * 43}).status_code == 401
    finally:
        status, stdout, _ = server.stop()
    assert status == 0
    assert stdout == ""
    assert not (tmp_path / "admin-token").exists()


def test_token_file_option(tmp_path):
    token_file = tmp_path / "secret"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    server = ServerProcess(
        ["--db", f"sqlite:///{tmp_path / 'kartu-server.db'}", "--admin-token-file", str(token_file)],
        _environment(KARTU_ADMIN_TOKEN="v" * 43),
    )
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/stats",
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
    finally:
        server.stop()


def test_serves_each_database(database_url):
    server = ServerProcess(["--db", database_url], _environment(KARTU_ADMIN_TOKEN=TOKEN))
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/api/v1/stats",
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
    finally:
        status, _, _ = server.stop()
    assert status == 0


def test_serves_with_workers(database_url):
    server = ServerProcess(["--db", database_url, "--workers", "2"], _environment(KARTU_ADMIN_TOKEN=TOKEN))
    try:
        ready = 0
        for line in server.process.stderr:
            server.log.append(line)
            ready += "Application startup complete" in line
            if ready == 2:
                break
        with httpx.Client(timeout=60) as client:
            for _ in range(4):
                response = client.get(f"http://127.0.0.1:{server.port}/api/v1/stats",
                                      headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status_code == 200
    finally:
        status, _, log = server.stop()
    assert status == 0
    assert ", 2 worker processes" in log
    assert len(re.findall(r"Started server process \[\d+\]", log)) == 2
    assert log.count("closed database") == 2
    assert "server stopped" in log
    assert TOKEN not in log


def test_garbage_collector_tuned():
    """A serving process scans fewer times and leaves the startup objects out (checked in a child process)."""
    code = ("import gc; from server.cli import _tune_garbage_collector; _tune_garbage_collector(); "
            "print(*gc.get_threshold(), gc.get_freeze_count())")
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    *thresholds, frozen = map(int, output.stdout.split())
    assert thresholds == [20_000, 20, 50]
    assert frozen > 10_000
