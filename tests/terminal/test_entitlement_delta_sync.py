"""`kartu terminal sync` against a real server: the second pull is a delta since the stored revision."""

from __future__ import annotations

from pathlib import Path
import httpx

from terminal.enrol import open_terminal
from terminal.sync import SyncClient
from tests.terminal.live_server import enrol, live_server, register_qr_cards, sync


def stored_entitlements(directory: Path) -> tuple[int, dict[bytes, int]]:
    """Return the stored LPG revision and every household's use."""
    store, _signer = open_terminal(directory)
    try:
        rows = store.execute("SELECT household_id, used FROM entitlements WHERE program = 'lpg'").fetchall()
        return store.entitlement_set("lpg").revision, dict(rows)
    finally:
        store.close()


def set_stored_revision(directory: Path, revision: int) -> None:
    store, _signer = open_terminal(directory)
    try:
        store.execute("UPDATE entitlement_sets SET revision = ? WHERE program = 'lpg'", (revision,))
    finally:
        store.close()


class ReplayingTransport(httpx.HTTPTransport):
    """An HTTP transport that forwards requests but replays a recorded response to a pull with since=replay_since."""

    def __init__(self, replay_since: str, recorded: httpx.Response):
        super().__init__()
        self.replay_since = replay_since
        self.recorded = recorded
        self.cursors: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/sync/entitlements":
            since = request.url.params["since"]
            self.cursors.append(since)
            if since == self.replay_since:
                return httpx.Response(200, content=self.recorded.content, headers={"Content-Type": "application/json"})
        return super().handle_request(request)


class RecordingTransport(httpx.HTTPTransport):
    """An HTTP transport that forwards every request and records the last entitlement response."""

    last: httpx.Response | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/api/v1/sync/entitlements":
            response.read()
            self.last = response
        return response


def sync_through(directory: Path, transport: httpx.BaseTransport):
    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"), transport=transport)
    try:
        return client.sync()
    finally:
        client.close()
        store.close()


def test_second_pull_is_delta(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        cards = register_qr_cards(kit, station, residents[:2])
        enrol(kit, station, directory).close()
        first = sync(directory)
        assert first.deltas_applied == []
        added = kit.register_card()
        second = sync(directory)
    assert second.programmes_pulled == ["lpg"]
    assert second.deltas_applied == ["lpg"]
    households = {cards[0].household_id: 0, cards[1].household_id: 0, added.household_id: 0}
    assert stored_entitlements(directory) == (2, households)


def test_redemption_elsewhere_updates_one_household(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        redeemed, untouched = kit.register_card(), kit.register_card()
        enrol(kit, station, directory).close()
        sync(directory)
        other = kit.enrol_terminal()
        assert kit.push(other, [kit.record(other, redeemed, quantity=2)]).json()["accepted"]
        report = sync(directory)
    assert report.deltas_applied == ["lpg"]
    assert stored_entitlements(directory) == (2, {redeemed.household_id: 2, untouched.household_id: 0})


def test_revoked_card_removed_by_delta(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        revoked, remaining = kit.register_card(), kit.register_card()
        enrol(kit, station, directory).close()
        sync(directory)
        response = kit.admin.post(f"/api/v1/cards/{revoked.number}/revocation", json={"reason": "kartu hilang"})
        assert response.status_code in (200, 201), response.text
        report = sync(directory)
    assert report.deltas_applied == ["lpg"]
    assert stored_entitlements(directory) == (2, {remaining.household_id: 0})


def test_cursor_ahead_gets_full_set(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        cards = register_qr_cards(kit, station, residents[:2])
        enrol(kit, station, directory).close()
        sync(directory)
        set_stored_revision(directory, 999)
        report = sync(directory)
    assert report.deltas_applied == []
    assert stored_entitlements(directory) == (1, {card.household_id: 0 for card in cards})


def test_delta_on_other_base_refetched_in_full(station, residents, tmp_path) -> None:
    """A delta from revision 1 sent to a terminal at revision 2 is dropped and the full set pulled instead."""
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        first = kit.register_card()
        enrol(kit, station, directory).close()
        sync(directory)
        second = kit.register_card()
        recorder = RecordingTransport()
        assert sync_through(directory, recorder).deltas_applied == ["lpg"]
        third = kit.register_card()
        replaying = ReplayingTransport("2", recorder.last)
        report = sync_through(directory, replaying)
    assert replaying.cursors == ["2", "0"]
    assert report.deltas_applied == []
    households = {first.household_id: 0, second.household_id: 0, third.household_id: 0}
    assert stored_entitlements(directory) == (3, households)


class ConcurrentPullTransport(httpx.HTTPTransport):
    """An HTTP transport that forwards every request and changes the stored revision after the first entitlement pull.

    The change simulates another process that pulled in between.
    """

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory
        self.cursors: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/api/v1/sync/entitlements":
            self.cursors.append(request.url.params["since"])
            if len(self.cursors) == 1:
                set_stored_revision(self.directory, 5)
        return response


def test_base_changed_before_apply_refetched_in_full(station, residents, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        first = kit.register_card()
        enrol(kit, station, directory).close()
        sync(directory)
        second = kit.register_card()
        transport = ConcurrentPullTransport(directory)
        report = sync_through(directory, transport)
    assert transport.cursors == ["1", "0"]
    assert report.deltas_applied == []
    assert stored_entitlements(directory) == (2, {first.household_id: 0, second.household_id: 0})
