"""The issuance station's own time per card, and card-face rendering time per card.

Setup: a fresh station (file issuer key) in a temporary directory, and a
synthetic register. Each chip card is a reference card driven in this
process through a direct connection, so no reader or vpcd time is counted.
The time spent inside the card (key generation, signing, PIN and state file
writes) is measured around every APDU and subtracted.

Measured, per card, with issuance.batch.issue_card as a batch runs it:
  * station time (chip): the portrait (read from the station's photo store
    when it has one, else a placeholder drawn per card), credential signing (chip and QR),
    both card certificates, read-back checks with signature verification,
    derived keys, and the journal transaction in station.db
    (synchronous=FULL), minus the card's own time;
  * card time: the card's share, reported for reference, not a station figure;
  * station time (QR only): the same for a QR-only card;
  * face rendering: issuance.batch.render_face, both PNGs written at 300 dpi.
The printer is not involved. Targets: station time at most 300 ms, face
rendering at most 100 ms; the ratio column is median / target.

Run: .venv/bin/python bench/issuance_station.py [--count N]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

# Python puts this file's folder first on the import path of a script. It is dropped,
# so a bench script never hides a project package of the same name.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

from card.apdu import build_apdu  # noqa: E402
from card.piv import INS  # noqa: E402
from card.reference import ATR, ReferenceCard  # noqa: E402
from card.reference_state import CardState  # noqa: E402
from issuance.batch import issue_card, render_face  # noqa: E402
from issuance.reissue import prepare_journal  # noqa: E402
from issuance.station import Station, create_station_keys  # noqa: E402
from issuance.synth import generate_register  # noqa: E402

ISSUED = date(2026, 12, 1)
STATION_TARGET_MS = 300.0
FACE_TARGET_MS = 100.0
CLERK = "Bench"


class TimedCardConnection:
    """A direct connection to a reference card that adds up the time the card spends on each command."""

    def __init__(self, card: ReferenceCard):
        self.card = card
        self.card_seconds = 0.0

    def atr(self) -> bytes:
        return ATR

    def _process(self, apdu: bytes) -> bytes:
        start = time.perf_counter()
        response = self.card.process(apdu)
        self.card_seconds += time.perf_counter() - start
        return response

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        response = self._process(apdu)
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        while sw >> 8 == 0x61:
            response = self._process(build_apdu(0x00, INS.GET_RESPONSE, 0x00, 0x00, le=sw & 0xFF or 256))
            data += response[:-2]
            sw = int.from_bytes(response[-2:], "big")
        return data, sw


def _store_portraits(station_dir: Path, residents) -> None:
    """Put an accepted portrait for every resident into the station, where issue_card reads it.

    NOTE: the station's photo store (issuance.photo_store) is new; without it,
    issue_card draws a placeholder portrait itself and nothing is stored here.
    """
    if importlib.util.find_spec("issuance.photo_store") is None:
        return
    from issuance.photo import placeholder_photo
    from issuance.photo_store import PHOTOS_DIR, store_photo

    for resident in residents:
        store_photo(station_dir / PHOTOS_DIR, resident.nik, placeholder_photo(resident.name, seed=int(resident.nik[-4:])))


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def run(count: int) -> dict[str, list[float]]:
    residents = generate_register(count, seed=7)
    times: dict[str, list[float]] = {"station_chip": [], "card": [], "station_qr": [], "face": []}
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        create_station_keys(directory / "station")
        _store_portraits(directory / "station", residents)
        station = Station(directory / "station")
        prepare_journal(station.journal)
        try:
            for index, resident in enumerate(residents):
                connection = TimedCardConnection(ReferenceCard(CardState.open(directory / f"card-{index}.json")))
                start = time.perf_counter()
                issued = issue_card(station, resident, connection, ISSUED, CLERK)
                elapsed = time.perf_counter() - start
                times["station_chip"].append(elapsed - connection.card_seconds)
                times["card"].append(connection.card_seconds)

                start = time.perf_counter()
                render_face(issued.card, resident, issued.photo, directory / "faces")
                times["face"].append(time.perf_counter() - start)

                start = time.perf_counter()
                issue_card(station, resident, None, ISSUED, CLERK)
                times["station_qr"].append(time.perf_counter() - start)
        finally:
            station.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="cards to issue (default 20)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count {args.count} must be at least 1")
    times = run(args.count)
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}, Python {platform.python_version()}")
    print(f"cards: {args.count}")
    rows = [
        ("station time per chip card", times["station_chip"], STATION_TARGET_MS),
        ("station time per QR-only card", times["station_qr"], STATION_TARGET_MS),
        ("face rendering per card", times["face"], FACE_TARGET_MS),
        ("card's own time per chip card (not a station figure)", times["card"], None),
    ]
    failed = False
    for label, values, target in rows:
        median = _median_ms(values)
        line = f"{label}: median {median:.1f} ms, max {max(values) * 1000:.1f} ms"
        if target is not None:
            line += f", target {target:.0f} ms, ratio {median / target:.2f}"
            failed |= median > target
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
