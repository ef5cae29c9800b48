"""The kiosk's request for a household's history at every service point, against a live server, without a reader."""

from __future__ import annotations

import secrets
import time
from datetime import date

import httpx
import pytest

from card.records import tap_digest
from issuance.personalise import issue_qr_only
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from terminal.enrol import open_terminal
from terminal.kiosk_history import KioskHistoryError, fetch_server_history
from terminal.tap import CardPresence
from terminal.web.serve import build_counter
from tests.server.conftest import IssuedCard as ServerCard
from tests.terminal.kiosk_support import AGENT_NAME, enrol_kiosk, push_agent_hand_over
from tests.terminal.live_server import enrol, live_server
from tests.terminal.web_support import make_mode_terminal

KIOSK_PROGRAM = "kiosk"


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


def _presence(terminal_id: str, card: ServerCard) -> CardPresence:
    """Return a chip read of card at terminal_id, signed with the card's key as its 9E slot would sign it."""
    nonce = secrets.token_bytes(16)
    tapped_at = int(time.time())
    digest = tap_digest(nonce, terminal_id, KIOSK_PROGRAM, 1, tapped_at)
    return CardPresence(nonce, KIOSK_PROGRAM, 1, tapped_at, card.sign_tap(digest))


def test_fetch_lists_household_history(station, tmp_path) -> None:
    with live_server(tmp_path) as kit:
        card = kit.register_card()
        push_agent_hand_over(kit, card.household_id, int(time.time()) - 3600, quantity=2)
        push_agent_hand_over(kit, secrets.token_bytes(8), int(time.time()) - 60, quantity=1)
        enrol_kiosk(kit, station, tmp_path / "kiosk").close()
        store, signer = open_terminal(tmp_path / "kiosk")

        entries = fetch_server_history(store, signer, card.number, _presence(store.terminal_id, card))

    [entry] = entries
    assert entry.program == "lpg"
    assert entry.quantity == 2
    assert entry.service_point == AGENT_NAME
    assert abs(entry.tapped_at - (time.time() - 3600)) < 60


def test_fetch_rejected_for_non_kiosk(station, tmp_path) -> None:
    with live_server(tmp_path) as kit:
        card = kit.register_card()
        enrol(kit, station, tmp_path / "agent").close()
        store, signer = open_terminal(tmp_path / "agent")

        with pytest.raises(KioskHistoryError) as raised:
            fetch_server_history(store, signer, card.number, _presence(store.terminal_id, card))

    assert "403" in str(raised.value)
    assert "not_a_kiosk" in str(raised.value)


def test_fetch_unreachable_server_raises(station, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "kiosk", station, {"lpg": (3, "tabung", {})})
    store, signer = open_terminal(directory)
    presence = CardPresence(bytes(16), KIOSK_PROGRAM, 1, int(time.time()), b"\x30\x06\x02\x01\x01\x02\x01\x01")

    with pytest.raises(KioskHistoryError) as raised:
        fetch_server_history(store, signer, "1234567890123452", presence)

    assert "unreachable" in str(raised.value)


def test_fetch_rejects_malformed_response(station, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "kiosk", station, {"lpg": (3, "tabung", {})})
    store, signer = open_terminal(directory)
    presence = CardPresence(bytes(16), KIOSK_PROGRAM, 1, int(time.time()), b"\x30\x06\x02\x01\x01\x02\x01\x01")
    answers = [
        {"redemptions": "none"},
        {"redemptions": [{"tapped_at": "yesterday", "program": "lpg", "quantity": 1, "service_point": "A"}]},
        {"redemptions": [{"tapped_at": "2026-12-01T10:00:00+00:00", "program": "lpg", "quantity": "1",
                          "service_point": "A"}]},
        {"other": []},
    ]
    for answer in answers:
        transport = httpx.MockTransport(lambda request, body=answer: httpx.Response(200, json=body))
        with pytest.raises(KioskHistoryError):
            fetch_server_history(store, signer, "1234567890123452", presence, transport=transport)


def test_kiosk_qr_scan_notes_chip_needed(station, tmp_path) -> None:
    qr = issue_qr_only(generate_register(1, seed=5)[0], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "kiosk", station, {"lpg": (3, "tabung", {qr.household_id: 1})})
    counter = build_counter(directory, "kiosk")
    counter.reader_check = lambda name: False

    screen = counter.scan_qr(qr.qr_text)
    counter.stop()

    indonesian = screen.render("id")
    english = screen.render("en")
    assert indonesian["accepted"] is True
    assert indonesian["history"] == []
    assert indonesian["history_note"].startswith("Kode QR hanya menampilkan penyerahan")
    assert english["history_note"] == ("A QR code shows only hand-overs recorded at this terminal. "
                                       "Tap the card on the reader for the full history.")
    assert english["no_history"] == "No hand-overs recorded at this terminal."


def test_counter_screen_has_no_history_note(station, tmp_path) -> None:
    qr = issue_qr_only(generate_register(1, seed=5)[0], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "lpg", station, {"lpg": (3, "tabung", {qr.household_id: 0})})
    counter = build_counter(directory, "lpg")
    counter.reader_check = lambda name: False

    screen = counter.scan_qr(qr.qr_text)
    counter.stop()

    assert screen.render("en")["history_note"] == ""
