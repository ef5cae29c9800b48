"""Support for the PIV card tests: a reference card in the vpcd reader and raw APDUs through pyscard.

The card runs in this process behind VpcdBridge, so a test can read what
reached it through pcscd; pcscd, vpcd and pyscard are the real ones.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from smartcard import scard
from smartcard.System import readers

from card.piv import DEFAULT_MANAGEMENT_KEY, PivSession
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState
from hardware.pcsc import CardConnection, PcscContext
from hardware.vpcd import VpcdBridge
from tests.conftest import READER

CARD_WAIT_SECONDS = 10


class RecordingCard(ReferenceCard):
    """A reference card that keeps every command APDU it receives."""

    def __init__(self, state: CardState):
        super().__init__(state)
        self.received: list[bytes] = []

    def process(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        return super().process(apdu)


class RawConnection:
    """Raw APDU exchange through pyscard: no GET RESPONSE or Le correction on the host side."""

    def __init__(self, reader_name: str = READER):
        reader = next(r for r in readers() if str(r) == reader_name)
        self._connection = reader.createConnection()
        self._connection.connect()

    def transmit(self, apdu: bytes | str) -> tuple[bytes, int]:
        if isinstance(apdu, str):
            apdu = bytes.fromhex(apdu)
        data, sw1, sw2 = self._connection.transmit(list(apdu))
        return bytes(data), (sw1 << 8) | sw2

    def reset_card(self) -> None:
        """Warm-reset the card through pcscd (SCardReconnect with SCARD_RESET_CARD)."""
        self._connection.reconnect(disposition=scard.SCARD_RESET_CARD)

    def close(self) -> None:
        self._connection.disconnect()


class InsertedCard:
    """A reference card in 'Virtual PCD 00 00' with its state file, for the length of one test."""

    def __init__(self, context: PcscContext, state_file: Path):
        self.context = context
        self.state = CardState.open(state_file)
        self.card = RecordingCard(self.state)
        self._bridge: VpcdBridge | None = None

    def insert(self) -> "InsertedCard":
        """Put the card into the reader; a removed card can be inserted again, as a real one can."""
        self._bridge = VpcdBridge(self.card, ATR).start()
        self.context.wait_for_card(READER, CARD_WAIT_SECONDS)
        return self

    def remove(self) -> None:
        if self._bridge is None:
            return
        self._bridge.stop()
        self._bridge = None
        self.context.wait_for_removal(READER, CARD_WAIT_SECONDS)

    @contextmanager
    def connection(self) -> Iterator[CardConnection]:
        with self.context.connect(READER) as connection:
            yield connection

    @contextmanager
    def session(self, extended_length: bool | None = None) -> Iterator[PivSession]:
        with self.connection() as connection:
            yield PivSession(connection, extended_length=extended_length)

    @contextmanager
    def raw(self) -> Iterator[RawConnection]:
        connection = RawConnection()
        try:
            yield connection
        finally:
            connection.close()


@pytest.fixture
def pcsc(pcsc_available) -> Iterator[PcscContext]:
    with PcscContext() as context:
        yield context


@pytest.fixture
def piv_card(pcsc, tmp_path) -> Iterator[InsertedCard]:
    """A blank reference card in the reader."""
    inserted = InsertedCard(pcsc, tmp_path / "card.json").insert()
    yield inserted
    inserted.remove()


def authenticated(session: PivSession) -> PivSession:
    session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
    return session
