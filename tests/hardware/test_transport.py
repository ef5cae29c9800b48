"""PC/SC transport behaviour with scripted cards in the real vpcd reader."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from card.apdu import build_apdu
from hardware.pcsc import CardRemoved, PcscContext, ReaderNotFound, ServiceUnavailable, TransmitFailed
from hardware.vpcd import VpcdBridge
from tests.conftest import READER

pytestmark = pytest.mark.usefixtures("pcsc_available")

ATR = bytes.fromhex("3B80800101")


class ScriptedCard:
    """A card that answers from a table and records every APDU it receives."""

    def __init__(self, answers: dict[bytes, bytes]):
        self.answers = answers
        self.received: list[bytes] = []
        self.on_apdu = None

    def reset(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        if self.on_apdu:
            self.on_apdu(apdu)
        return self.answers.get(apdu, b"\x6D\x00")


@pytest.fixture
def context():
    with PcscContext() as ctx:
        yield ctx


def run_with(card: ScriptedCard, context: PcscContext, apdu: bytes) -> tuple[bytes, int]:
    with VpcdBridge(card, ATR):
        context.wait_for_card(READER, 10)
        with context.connect(READER) as connection:
            result = connection.send_and_receive(apdu)
    context.wait_for_removal(READER, 10)
    return result


def test_get_response_rounds_are_joined(context) -> None:
    command = build_apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5C\x01\x7E", le=0)
    part1, part2, part3 = os.urandom(256), os.urandom(256), os.urandom(10)
    card = ScriptedCard({
        command: part1 + b"\x61\x00",
        bytes.fromhex("00C0000000"): part2 + b"\x61\x0A",
        bytes.fromhex("00C000000A"): part3 + b"\x90\x00",
    })
    data, sw = run_with(card, context, command)
    assert sw == 0x9000
    assert data == part1 + part2 + part3
    assert card.received[1:] == [bytes.fromhex("00C0000000"), bytes.fromhex("00C000000A")]


def test_wrong_le_is_resent_with_card_le(context) -> None:
    command = bytes.fromhex("00CA010000")
    card = ScriptedCard({command: b"\x6C\x05", bytes.fromhex("00CA010005"): b"hello\x90\x00"})
    data, sw = run_with(card, context, command)
    assert (data, sw) == (b"hello", 0x9000)
    assert card.received == [command, bytes.fromhex("00CA010005")]


def test_card_removed_during_command(context) -> None:
    card = ScriptedCard({})
    bridge = VpcdBridge(card, ATR)
    card.on_apdu = lambda _apdu: threading.Thread(target=bridge.stop).start()
    with bridge:
        context.wait_for_card(READER, 10)
        with context.connect(READER) as connection:
            with pytest.raises((CardRemoved, TransmitFailed)) as raised:
                for _ in range(50):
                    connection.send_and_receive(bytes.fromhex("00A4040000"))
    assert "again" in raised.value.message("en")
    context.wait_for_removal(READER, 10)


def test_unknown_reader_names_available_readers(context) -> None:
    with pytest.raises(ReaderNotFound) as raised:
        context.choose_reader("ACS ACR1252")
    assert "Virtual PCD 00 00" in raised.value.message("en")
    assert "ACS ACR1252" in raised.value.message("id")


def test_reader_chosen_by_name_prefix(context) -> None:
    assert context.choose_reader("Virtual PCD 00 01") == "Virtual PCD 00 01"


def test_service_not_running_message() -> None:
    code = (
        "from hardware.pcsc import PcscContext, ServiceUnavailable\n"
        "try:\n    PcscContext()\nexcept ServiceUnavailable as exc:\n    print(exc.message('id'))\n"
    )
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert "pcscd" in result.stdout
    assert "tidak berjalan" in result.stdout
