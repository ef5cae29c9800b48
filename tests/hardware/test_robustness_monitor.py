"""CardMonitor keeps delivering insert and remove events through pcscd restarts, reader loss and bad cards."""

from __future__ import annotations

import pytest

from hardware.monitor import CardMonitor, EventKind, ReaderEvent
from hardware.pcsc import MalformedResponse, NoReader, PcscContext, ServiceUnavailable
from hardware.vpcd import VpcdBridge
from tests.conftest import READER, SECOND_READER
from tests.hardware.pcscd_control import pcscd_control  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("pcsc_available")

ATR = bytes.fromhex("3B80800101")
EVENT_WAIT_SECONDS = 20


class SilentCard:
    """Answers every command with one byte: a card that breaks ISO 7816-4."""

    def reset(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        return b"\x6F"


class PlainCard:
    def reset(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        return b"\x90\x00"


def expect(monitor: CardMonitor, kind: EventKind) -> ReaderEvent:
    """Return the next event of kind, skipping others; fail when none arrives in EVENT_WAIT_SECONDS."""
    skipped = []
    while True:
        event = monitor.next_event(EVENT_WAIT_SECONDS)
        assert event is not None, f"no {kind.value} event; saw {[e.kind.value for e in skipped]}"
        if event.kind is kind:
            return event
        skipped.append(event)


def test_insert_and_remove_events() -> None:
    with CardMonitor(READER) as monitor:
        assert expect(monitor, EventKind.READER_READY).reader == READER
        with VpcdBridge(PlainCard(), ATR):
            inserted = expect(monitor, EventKind.CARD_INSERTED)
        removed = expect(monitor, EventKind.CARD_REMOVED)

    assert inserted.reader == READER
    assert inserted.atr == ATR
    assert inserted.already_present is False
    assert removed.reader == READER


def test_monitor_watches_configured_reader_only() -> None:
    with CardMonitor(SECOND_READER) as monitor:
        expect(monitor, EventKind.READER_READY)
        with VpcdBridge(PlainCard(), ATR, port=35963), VpcdBridge(PlainCard(), ATR, port=35964):
            inserted = expect(monitor, EventKind.CARD_INSERTED)
        expect(monitor, EventKind.CARD_REMOVED)
    assert inserted.reader == SECOND_READER


def test_events_continue_after_pcscd_restart(pcscd_control) -> None:
    with CardMonitor(READER) as monitor:
        expect(monitor, EventKind.READER_READY)
        with VpcdBridge(PlainCard(), ATR, reconnect=True):
            assert expect(monitor, EventKind.CARD_INSERTED).already_present is False
            pcscd_control.stop()
            # While pcscd shuts down, a pending SCardGetStatusChange can first fail with
            # SCARD_W_SECURITY_VIOLATION (0x8010006A); the service error follows it.
            unavailable = expect(monitor, EventKind.READER_UNAVAILABLE)
            while not isinstance(unavailable.error, ServiceUnavailable):
                unavailable = expect(monitor, EventKind.READER_UNAVAILABLE)
            pcscd_control.start()
            expect(monitor, EventKind.READER_READY)
            back = expect(monitor, EventKind.CARD_INSERTED)
        expect(monitor, EventKind.CARD_REMOVED)
        with VpcdBridge(PlainCard(), ATR):
            next_card = expect(monitor, EventKind.CARD_INSERTED)

    assert isinstance(unavailable.error, ServiceUnavailable)
    assert "pcscd" in unavailable.error.message("id")
    assert back.already_present is True
    assert next_card.already_present is False


def test_events_continue_after_reader_loss(pcscd_control, tmp_path) -> None:
    no_readers = tmp_path / "reader.conf.d"
    no_readers.mkdir()
    with CardMonitor(READER) as monitor:
        expect(monitor, EventKind.READER_READY)
        pcscd_control.restart(config_dir=no_readers)
        errors = [expect(monitor, EventKind.READER_UNAVAILABLE).error]
        while not isinstance(errors[-1], NoReader):
            errors.append(expect(monitor, EventKind.READER_UNAVAILABLE).error)
        pcscd_control.restart()
        expect(monitor, EventKind.READER_READY)
        with VpcdBridge(PlainCard(), ATR):
            inserted = expect(monitor, EventKind.CARD_INSERTED)
        expect(monitor, EventKind.CARD_REMOVED)

    assert "Tidak ada pembaca kartu" in errors[-1].message("id")
    assert inserted.reader == READER


def test_events_continue_after_broken_card() -> None:
    with CardMonitor(READER) as monitor, PcscContext() as context:
        expect(monitor, EventKind.READER_READY)
        with VpcdBridge(SilentCard(), ATR):
            expect(monitor, EventKind.CARD_INSERTED)
            with context.connect(READER) as connection, pytest.raises(MalformedResponse):
                connection.send_and_receive(bytes.fromhex("00A4040000"))
        expect(monitor, EventKind.CARD_REMOVED)
        with VpcdBridge(PlainCard(), ATR):
            inserted = expect(monitor, EventKind.CARD_INSERTED)
    assert inserted.already_present is False
