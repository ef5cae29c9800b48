"""Support for the web UI tests: a station with a synthetic register, and the app built on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from issuance.photo_store import PHOTOS_DIR
from issuance.register import Resident, write_register
from issuance.station import create_station_keys
from issuance.synth import generate_register
from issuance.web.actions import StationSettings
from issuance.web.security import AccessGuard

CLERK = "Rina Marlina"
TEST_TOKEN = "test-access-token-0123456789abcdef"


@dataclass(frozen=True)
class WebStation:
    settings: StationSettings
    residents: list[Resident]


def make_web_station(root: Path, *, print_queue: str | None = None, count: int = 12) -> WebStation:
    """Create station keys and a register of count synthetic residents under root; QR-only issuing."""
    station_dir = root / "station"
    create_station_keys(station_dir)
    residents = generate_register(count, seed=33)
    register = root / "register.csv"
    write_register(residents, register)
    settings = StationSettings(
        station_dir=station_dir, register=register, clerk=CLERK, faces_dir=station_dir / "faces",
        photos_dir=station_dir / PHOTOS_DIR, print_queue=print_queue, qr_only=True,
    )
    return WebStation(settings, residents)


def guard_for(port: int) -> AccessGuard:
    return AccessGuard(TEST_TOKEN, port)
