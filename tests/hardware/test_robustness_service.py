"""PcscContext against a pcscd that stops, restarts or has no readers, through the real pcscd and vpcd.

vpcd readers cannot be unplugged: they exist while pcscd runs with the vpcd
driver configured. A reader unplugged mid-command is modelled by pcscd
stopping mid-command, and "no reader connected" by pcscd running with an
empty reader configuration directory.
"""

from __future__ import annotations

import threading

import pytest

from card.apdu import build_apdu
from card.piv import PIV_AID
from hardware.pcsc import NoReader, PcscContext, ServiceUnavailable
from hardware.vpcd import VpcdBridge
from tests.conftest import READER
from tests.hardware.pcscd_control import pcscd_control  # noqa: F401 (fixture)

ATR = bytes.fromhex("3B80800101")
SELECT = build_apdu(0x00, 0xA4, 0x04, 0x00, PIV_AID, le=0)
READ_BINARY = bytes.fromhex("00B0000000")


class BlockingCard:
    """Answers 9000 to everything, but holds READ BINARY until released, as a slow card would."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def reset(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and not self.release.is_set():
            self.entered.set()
            self.release.wait(30)
        return b"\x90\x00"


def test_context_survives_pcscd_restart(pcscd_control) -> None:
    with PcscContext() as context:
        assert READER in context.list_readers()
        pcscd_control.stop()

        with pytest.raises(ServiceUnavailable) as raised:
            context.list_readers()
        assert "pcscd" in raised.value.message("en")
        assert "tidak berjalan" in raised.value.message("id")

        pcscd_control.start()
        assert READER in context.list_readers()
        assert context.generation == 2


def test_context_created_while_pcscd_down(pcscd_control) -> None:
    pcscd_control.stop()
    context = PcscContext(lazy=True)
    try:
        with pytest.raises(ServiceUnavailable):
            context.list_readers()
        pcscd_control.start()
        assert READER in context.list_readers()
    finally:
        context.close()


def test_pcscd_stopped_mid_command(pcscd_control) -> None:
    card = BlockingCard()
    failures: list[Exception] = []
    with PcscContext() as context, VpcdBridge(card, ATR, reconnect=True):
        context.wait_for_card(READER, 10)
        connection = context.connect(READER)

        def transmit() -> None:
            try:
                connection.send_and_receive(READ_BINARY)
            except Exception as exc:  # noqa: BLE001 (the test inspects whatever the transmit raised)
                failures.append(exc)

        sender = threading.Thread(target=transmit)
        sender.start()
        assert card.entered.wait(10)
        pcscd_control.stop()
        sender.join(15)
        card.release.set()
        connection.close()

        assert not sender.is_alive()
        assert [type(error) for error in failures] == [ServiceUnavailable]
        assert "pcscd" in failures[0].message("id")

        pcscd_control.start()
        context.wait_for_card(READER, 15)
        with context.connect(READER) as again:
            assert again.send_and_receive(SELECT)[1] == 0x9000


def test_no_reader_then_reader_back(pcscd_control, tmp_path) -> None:
    no_readers = tmp_path / "reader.conf.d"
    no_readers.mkdir()
    with PcscContext() as context:
        pcscd_control.restart(config_dir=no_readers)
        assert context.list_readers() == []
        with pytest.raises(NoReader) as raised:
            context.choose_reader(READER)
        assert "Plug in the reader" in raised.value.message("en")
        assert raised.value.message("id") != raised.value.message("en")

        pcscd_control.restart()
        assert context.choose_reader(READER) == READER
