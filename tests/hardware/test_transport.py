"""PC/SC transport behaviour with scripted cards in the real vpcd reader."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from card.apdu import build_apdu
from hardware.pcsc import (
    CardRemoved, MalformedResponse, PcscContext, ReaderAmbiguous, ReaderNotFound, ServiceUnavailable, TransmitFailed,
)
from hardware.vpcd import VpcdBridge
from tests.conftest import READER, SECOND_READER

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


def run_with(card: ScriptedCard, context: PcscContext, apdu: bytes, exchanges: list | None = None) -> tuple[bytes, int]:
    with VpcdBridge(card, ATR):
        context.wait_for_card(READER, 10)
        with context.connect(READER) as connection:
            connection.exchange_log = exchanges
            try:
                result = connection.send_and_receive(apdu)
            finally:
                connection.exchange_log = None
    context.wait_for_removal(READER, 10)
    return result


def failure_with(card: ScriptedCard, context: PcscContext, apdu: bytes) -> Exception:
    with pytest.raises(Exception) as raised:
        run_with(card, context, apdu)
    context.wait_for_removal(READER, 10)
    return raised.value


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


def test_wrong_le_zero_means_256(context) -> None:
    command = bytes.fromhex("00CA010005")
    answer = os.urandom(256)
    card = ScriptedCard({command: b"\x6C\x00", bytes.fromhex("00CA010000"): answer + b"\x90\x00"})
    data, sw = run_with(card, context, command)
    assert (data, sw) == (answer, 0x9000)
    assert card.received == [command, bytes.fromhex("00CA010000")]


def test_wrong_le_added_to_case_3_command(context) -> None:
    command = bytes.fromhex("00CB3FFF035C017E")
    card = ScriptedCard({command: b"\x6C\x03", command + b"\x03": b"abc\x90\x00"})
    assert run_with(card, context, command) == (b"abc", 0x9000)


def test_wrong_le_twice_is_malformed(context) -> None:
    command = bytes.fromhex("00CA010000")
    card = ScriptedCard({command: b"\x6C\x05", bytes.fromhex("00CA010005"): b"\x6C\x07"})
    error = failure_with(card, context, command)
    assert isinstance(error, MalformedResponse)
    assert "6Cxx twice" in error.detail


def test_endless_get_response_is_malformed(context) -> None:
    command = bytes.fromhex("00CB3FFF00")
    card = ScriptedCard({command: b"\x61\x10", bytes.fromhex("00C0000010"): bytes(16) + b"\x61\x10"})
    error = failure_with(card, context, command)
    assert isinstance(error, MalformedResponse)
    assert len(card.received) == 1 + 256


def test_extended_answer_of_vpcd_maximum(context) -> None:
    # vpcd frames are 2-byte length prefixed: 65,535 bytes is the longest response, status word included.
    command = bytes.fromhex("00CB3FFF000003") + b"\x5C\x01\x7E" + b"\x00\x00"
    answer = os.urandom(65533)
    exchanges: list = []
    card = ScriptedCard({command: answer + b"\x90\x00"})
    data, sw = run_with(card, context, command, exchanges)
    assert sw == 0x9000
    assert data == answer
    assert [(exchange.command_length, exchange.response_length) for exchange in exchanges] == [(len(command), 65535)]


def test_one_byte_answer_is_malformed(context) -> None:
    error = failure_with(ScriptedCard({bytes.fromhex("00A4040000"): b"\x90"}), context, bytes.fromhex("00A4040000"))
    assert isinstance(error, MalformedResponse)
    assert "no status word" in error.detail
    assert "standar" in error.message("id")


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
    assert context.choose_reader("Virtual PCD 00 01") == SECOND_READER


def test_reader_chosen_by_full_name(context) -> None:
    assert context.choose_reader(SECOND_READER) == SECOND_READER
    assert context.choose_reader(READER) == READER


def test_reader_prefix_matching_two_readers_is_ambiguous(context) -> None:
    with pytest.raises(ReaderAmbiguous) as raised:
        context.choose_reader("Virtual PCD")
    assert READER in raised.value.message("en")
    assert SECOND_READER in raised.value.message("id")


def test_service_not_running_message() -> None:
    code = (
        "from hardware.pcsc import PcscContext, ServiceUnavailable\n"
        "try:\n    PcscContext()\nexcept ServiceUnavailable as exc:\n    print(exc.message('id'))\n"
    )
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert "pcscd" in result.stdout
    assert "tidak berjalan" in result.stdout
