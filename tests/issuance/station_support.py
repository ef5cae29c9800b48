"""Support for the station tests: a prepared station, a register file, the CLI, and blank cards in vpcd.

Card failures are made on the card side: PulledOutCard leaves the reader in
the middle of writing (the vpcd socket closes, as when a clerk pulls the
card), and CorruptingCard reads back one byte different from what it stored.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from card.piv import INS
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState
from hardware.pcsc import CardConnection, PcscContext
from hardware.vpcd import VpcdBridge
from issuance import cli as issuance_cli
from issuance.photo import placeholder_photo
from issuance.photo_store import PHOTOS_DIR, store_photo
from issuance.queue import QueueEntry
from issuance.register import Resident, write_register
from issuance.reissue import prepare_journal
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from tests.conftest import READER

CARD_WAIT_SECONDS = 10
CLERK = "Rina Marlina"


def open_station(directory: Path) -> Station:
    station = Station(directory)
    prepare_journal(station.journal)
    return station


@pytest.fixture
def station_dir(tmp_path, residents) -> Path:
    """A station whose photos directory holds an accepted portrait for every resident, as chip cards need."""
    directory = tmp_path / "station"
    create_station_keys(directory)
    for resident in residents:
        store_photo(directory / PHOTOS_DIR, resident.nik, placeholder_photo(resident.name, seed=int(resident.nik[-4:])))
    return directory


@pytest.fixture
def station(station_dir) -> Iterator[Station]:
    opened = open_station(station_dir)
    yield opened
    opened.close()


@pytest.fixture
def residents() -> list[Resident]:
    return generate_register(8, seed=21)


@pytest.fixture
def register_file(tmp_path, residents) -> Path:
    path = tmp_path / "register.csv"
    write_register(residents, path)
    return path


def entries_of(residents: list[Resident]) -> list[QueueEntry]:
    return [QueueEntry(position, resident) for position, resident in enumerate(residents, start=1)]


def run_cli(argv: list[str]) -> int:
    """Run `kartu --lang en issuance ...` through the issuance parser only."""
    parser = argparse.ArgumentParser(prog="kartu")
    parser.add_argument("--lang", default="en")
    commands = parser.add_subparsers(dest="command", required=True)
    issuance_cli.add_commands(commands)
    args = parser.parse_args(["--lang", "en", *argv])
    return args.handler(args)


class PulledOutCard(ReferenceCard):
    """A card that leaves the reader when it receives its PUT DATA number pull_at (1 is the first)."""

    def __init__(self, state: CardState, pull_at: int = 3):
        super().__init__(state)
        self.pull_at = pull_at
        self.put_data_count = 0

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == INS.PUT_DATA:
            self.put_data_count += 1
            if self.put_data_count == self.pull_at:
                # The bridge closes the vpcd socket on OSError, so pcscd reports the card removed.
                raise OSError("card pulled out of the reader")
        return super().process(apdu)


class CorruptingCard(ReferenceCard):
    """A card whose long GET DATA responses come back with one byte changed, as a failing chip's would."""

    def process(self, apdu: bytes) -> bytes:
        response = super().process(apdu)
        if apdu[1] == INS.GET_DATA and len(response) > 40:
            return response[:20] + bytes([response[20] ^ 0x01]) + response[21:]
        return response


class CardInReader:
    """One card object in 'Virtual PCD 00 00' that can be put in and taken out."""

    def __init__(self, context: PcscContext, card: ReferenceCard):
        self.context = context
        self.card = card
        self._bridge: VpcdBridge | None = None

    def insert(self) -> "CardInReader":
        self._bridge = VpcdBridge(self.card, ATR).start()
        self.context.wait_for_card(READER, CARD_WAIT_SECONDS)
        return self

    def remove(self) -> None:
        if self._bridge is None:
            return
        self._bridge.stop()
        self._bridge = None
        self.context.wait_for_removal(READER, CARD_WAIT_SECONDS)


class BlankCardSlot:
    """A batch card slot that puts a fresh blank card into the reader for every queue entry.

    kinds maps a queue position to a card factory (state -> card) for the
    cards that should fail; every other position gets a plain ReferenceCard.
    """

    def __init__(self, context: PcscContext, directory: Path, kinds: dict | None = None):
        self.context = context
        self.directory = directory
        self.kinds = kinds or {}
        self.cards: dict[int, ReferenceCard] = {}
        self.calls = 0

    @contextmanager
    def __call__(self, entry: QueueEntry) -> Iterator[CardConnection]:
        self.calls += 1
        state = CardState.open(self.directory / f"card-{entry.position}-{self.calls}.json")
        card = self.kinds.get(entry.position, ReferenceCard)(state)
        self.cards[entry.position] = card
        inserted = CardInReader(self.context, card).insert()
        try:
            with self.context.connect(READER) as connection:
                yield connection
        finally:
            inserted.remove()
