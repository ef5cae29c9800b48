"""Offline issuance: registrations and revocations journalled at the station and sent when the server is back."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from issuance import audit, pending
from issuance.batch import issue_card
from issuance.server_client import registration_body
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, open_station, residents, run_cli, station, station_dir,
)
from tests.server.conftest import database_url, live, postgres_database  # noqa: F401 (fixtures)

ISSUED = date(2026, 12, 1)
SERVER = "http://127.0.0.1:8470"
TOKEN = "t" * 40


class RecordingServer:
    """A mock server that registers each card once and returns 200 for a repeat, as the real one does."""

    def __init__(self, answers: dict[str, int] | None = None):
        self.answers = answers or {}
        self.requests: list[tuple[str, dict]] = []
        self.cards: dict[str, dict] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        status = self.answers.get(request.url.path)
        if status is not None:
            return httpx.Response(status, json={"detail": "rejected by the test"})
        if request.url.path == "/api/v1/cards":
            known = body["card_number"] in self.cards
            self.cards[body["card_number"]] = body
            return httpx.Response(200 if known else 201, json=body)
        return httpx.Response(200, json={"status": "revoked"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def _registered(station, card_number: str) -> bool:
    return bool(station.journal.execute("SELECT registered FROM cards WHERE card_number = ?", (card_number,)).fetchone()[0])


def test_offline_issue_keeps_registration_body(station, residents):
    issued = issue_card(station, residents[0], None, ISSUED, CLERK)
    [call] = pending.pending_calls(station.journal)
    assert call.kind == pending.REGISTRATION
    assert call.body == registration_body(issued.card, residents[0], station.issuer.kid)
    assert not _registered(station, issued.card.card_number)


def test_revocations_sent_before_registrations(station, residents):
    issue_card(station, residents[0], None, ISSUED, CLERK)
    pending.journal_revocation(station.journal, "1571010000000019", "lost", "2026-12-01")
    server = RecordingServer()
    report = pending.send_pending(station.journal, SERVER, TOKEN, CLERK, server.client())
    assert [path for path, _ in server.requests] == ["/api/v1/cards/1571010000000019/revocation", "/api/v1/cards"]
    assert server.requests[0][1] == {"reason": "lost", "revoked_from": "2026-12-01"}
    assert len(report.sent) == 2
    assert report.left == 0
    assert pending.pending_calls(station.journal) == []


def test_sent_registration_marks_card(station, residents):
    issued = issue_card(station, residents[0], None, ISSUED, CLERK)
    pending.send_pending(station.journal, SERVER, TOKEN, CLERK, RecordingServer().client())
    assert _registered(station, issued.card.card_number)
    [entry] = audit.entries(station.journal, action="register")
    assert (entry.card_number, entry.clerk) == (issued.card.card_number, CLERK)


def test_rejected_call_stays_pending(station, residents):
    issue_card(station, residents[0], None, ISSUED, CLERK)
    pending.journal_revocation(station.journal, "1571010000000019", "stolen", "2026-12-01")
    server = RecordingServer({"/api/v1/cards/1571010000000019/revocation": 404})
    report = pending.send_pending(station.journal, SERVER, TOKEN, CLERK, server.client())
    assert [call.kind for call in report.sent] == [pending.REGISTRATION]
    assert [call.card_number for call, _ in report.rejected] == ["1571010000000019"]
    assert report.left == 1
    [left] = pending.pending_calls(station.journal)
    assert (left.kind, left.attempts) == (pending.REVOCATION, 1)
    assert "404" in left.last_error


def test_unreachable_server_stops_and_keeps_all(station, residents):
    for resident in residents[:3]:
        issue_card(station, resident, None, ISSUED, CLERK)

    def connection_refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report = pending.send_pending(station.journal, SERVER, TOKEN, CLERK, httpx.Client(transport=httpx.MockTransport(connection_refused)))
    assert report.unreachable is not None
    assert report.left == 3
    assert len(pending.pending_calls(station.journal)) == 3


def test_second_revocation_request_kept_once(station):
    pending.journal_revocation(station.journal, "1571010000000019", "lost", "2026-12-01")
    pending.journal_revocation(station.journal, "1571010000000019", "stolen", "2026-12-02")
    [call] = pending.pending_calls(station.journal)
    assert call.body["reason"] == "lost"


class DropAnswer(httpx.BaseTransport):
    """Send each request to the real server, then lose the first `drops` responses, as a dropped connection does."""

    def __init__(self, drops: int):
        self.inner = httpx.HTTPTransport()
        self.drops = drops
        self.delivered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.delivered += 1
        if self.drops > 0:
            self.drops -= 1
            raise httpx.ReadError("connection reset before the answer arrived", request=request)
        return response


def _server_cards(live) -> int:
    response = httpx.get(f"{live.base_url}/api/v1/stats", headers={"Authorization": f"Bearer {live.admin_token}"})
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def test_dropped_answer_registers_once(live, station, residents):
    issued = [issue_card(station, resident, None, ISSUED, CLERK) for resident in residents[:2]]
    transport = DropAnswer(drops=1)
    with httpx.Client(transport=transport) as client:
        first = pending.send_pending(station.journal, live.base_url, live.admin_token, CLERK, client)
        assert first.unreachable is not None
        assert first.left == 2
        assert _server_cards(live) == 1  # the server stored the card whose response was lost
        second = pending.send_pending(station.journal, live.base_url, live.admin_token, CLERK, client)
    assert second.left == 0
    assert [call.card_number for call in second.sent] == [card.card.card_number for card in issued]
    assert transport.delivered == 3
    assert _server_cards(live) == 2
    assert all(_registered(station, card.card.card_number) for card in issued)


def test_register_pending_command(live, station_dir, residents, tmp_path, capsys):
    station = open_station(station_dir)
    try:
        issue_card(station, residents[0], None, ISSUED, CLERK)
    finally:
        station.close()
    token_file = tmp_path / "admin.token"
    token_file.write_text(live.admin_token)
    token_file.chmod(0o600)
    argv = ["issuance", "register-pending", "--station", str(station_dir), "--server", live.base_url,
            "--admin-token-file", str(token_file), "--clerk", CLERK]
    assert run_cli(argv) == 0
    assert "1 sent to the server" in capsys.readouterr().out
    assert run_cli(argv) == 0
    assert "0 sent to the server" in capsys.readouterr().out
    assert _server_cards(live) == 1


def test_register_pending_command_unreachable(station_dir, residents, tmp_path, capsys):
    import socket

    station = open_station(station_dir)
    try:
        issue_card(station, residents[0], None, ISSUED, CLERK)
    finally:
        station.close()
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    argv = ["issuance", "register-pending", "--station", str(station_dir), "--server", f"http://127.0.0.1:{port}",
            "--admin-token-file", str(token_file), "--clerk", CLERK]
    assert run_cli(argv) == 1
    assert "1 calls still pending" in capsys.readouterr().out


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_register_pending_token_file_mode(station_dir, tmp_path, capsys, mode):
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN)
    token_file.chmod(mode)
    argv = ["issuance", "register-pending", "--station", str(station_dir), "--server", SERVER,
            "--admin-token-file", str(token_file), "--clerk", CLERK]
    assert run_cli(argv) == 2
    assert "chmod 600" in capsys.readouterr().err


def test_card_without_body_reported(station, residents):
    from card.cardnumber import make_card_number

    orphan = make_card_number(9 * 10**9 + 1)
    station.record_card(orphan, residents[0].nik, b"\x01" * 8, "qr", "2026-12-01", "2031-12-01", "KB1:x")
    issue_card(station, residents[1], None, ISSUED, CLERK)
    report = pending.send_pending(station.journal, SERVER, TOKEN, CLERK, RecordingServer().client())
    assert report.without_body == [orphan]
    assert len(report.sent) == 1
