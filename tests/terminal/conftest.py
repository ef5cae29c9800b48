"""Fixtures for terminal tests: personalised reference cards and an offline terminal store."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from card.keys import FileSigner, generate_private_key, kid_of, save_private_key, spki_of
from card.reference_state import CardState
from hardware.pcsc import PcscContext
from issuance.personalise import IssuedCard, issue_qr_only, personalise_chip_card
from card.piv import PivSession
from issuance.photo import placeholder_photo
from issuance.register import Resident
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.store import EntitlementSet, HouseholdUse, TerminalStore
from tests.card.trust_kit import City
from tests.conftest import READER, EmulatedCard

TERMINAL_ID = "TRM-TEST0001"
# Pull time of make_terminal's set: the day after the fixture cards' issue day (2026-12-01), so a household
# missing from the set is not entitled instead of possibly newer than the set (terminal.unlisted_card).
PULLED_AT = int(datetime(2026, 12, 2, tzinfo=timezone.utc).timestamp())


@pytest.fixture
def pcsc(pcsc_available):
    with PcscContext() as context:
        yield context


@pytest.fixture
def city() -> City:
    return City()


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


def adult_per_household() -> list[Resident]:
    """Return one adult of each household of a small synthetic register."""
    adults = [r for r in generate_register(60, seed=7) if r.birth_date < date(2000, 1, 1)]
    by_household: dict[str, Resident] = {}
    for resident in adults:
        by_household.setdefault(resident.kk, resident)
    return list(by_household.values())


@pytest.fixture
def residents() -> list[Resident]:
    return adult_per_household()


def insert(context: PcscContext, state_file: Path) -> EmulatedCard:
    card = EmulatedCard(state_file).insert()
    context.wait_for_card(READER, 10)
    return card


def eject(context: PcscContext, card: EmulatedCard) -> None:
    card.remove()
    context.wait_for_removal(READER, 10)


def personalise(context: PcscContext, station: Station, resident: Resident, state_file: Path) -> IssuedCard:
    CardState.blank(state_file)
    card = insert(context, state_file)
    try:
        with context.connect(READER) as connection:
            photo = placeholder_photo(resident.name, seed=1)
            return personalise_chip_card(PivSession(connection), resident, station, photo, date(2026, 12, 1))
    finally:
        eject(context, card)


def make_terminal(directory: Path, station: Station, entitled: dict[bytes, int | HouseholdUse], quota: int = 3,
                  period: str = "2026-12", program: str = "lpg",
                  unit: str = "tabung", pulled_at: int = PULLED_AT) -> tuple[TerminalStore, FileSigner]:
    """Create an offline terminal that pins the station's issuer key and caches one programme's entitlements."""
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    save_private_key(key, directory / KEY_NAME)
    store = TerminalStore(directory / STORE_NAME)
    issuer_key = station.issuer.public_key
    store.add_issuer(kid_of(issuer_key), spki_of(issuer_key))
    with store.transaction() as db:
        store.set_meta({"terminal_id": TERMINAL_ID, "server_url": "http://127.0.0.1:9", "service_point_id": "1",
                        "programmes": json.dumps([program])}, db)
    store.replace_entitlements([(EntitlementSet(program, period, quota, unit, 0), entitled)], pulled_at=pulled_at)
    return store, FileSigner(key)


def qr_card(station: Station, resident: Resident) -> IssuedCard:
    return issue_qr_only(resident, station, date(2026, 12, 1))
