"""Chip tap time through pyscard, pcscd and vpcd, and the modelled contactless time of the same bytes.

Setup: one reference card personalised for a synthetic resident runs in its
own process (`kartu card emulate`) in 'Virtual PCD 00 00', and a terminal
store serves its household with a quota large enough for every tap.

Measured, per tap (TapService.tap_card on a fresh SCardConnect):
  * card I/O: SELECT, GET DATA of the credential, GENERAL AUTHENTICATE 9E
    (and GET DATA of the facial image with --check-photo), as TapService
    times them;
  * verification: trust store load, credential signature and validity, the
    card's signature over the challenge (and the photo digest);
  * commit: quota check and the record written to SQLite (synchronous=FULL);
  * tap: SCardConnect to SCardDisconnect, everything above included.

Modelled contactless time: the command and response bytes of one tap on an
ISO 14443-4 link at 106 kbit/s (--bit-rate for the faster rates). Each byte
takes 9 bit times (8 data bits and the parity bit of ISO 14443-A). Each frame
adds a 3-byte prologue and epilogue (PCB and CRC_A) and 2 bit times (start
and end of frame), and carries at most 253 bytes of APDU (FSD = FSC = 256).
Each chained frame is acknowledged by a 3-byte R(ACK) block. Every APDU exchange adds 5 ms for
frame delay times and card processing. The card's signature time and the
card's activation (REQA to ATS) are excluded. This is an estimate for
comparison with the 500 ms that EMV contactless allows for a whole tap.

Run with `make bench`, or by hand while holding the card reader lock:
    flock /tmp/kartu-bahagia-pcsc.lock .venv/bin/python bench/tap.py [--count N] [--check-photo] [--bit-rate B]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

# Python puts bench/ first on the import path of a script. The repository root goes before it,
# so a bench script never hides a project package of the same name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from card.keys import FileSigner, generate_private_key, kid_of, spki_of  # noqa: E402
from card.piv import INS, PivSession  # noqa: E402
from card.reference_state import CardState  # noqa: E402
from hardware.pcsc import Exchange, PcscContext  # noqa: E402
from issuance.personalise import personalise_chip_card  # noqa: E402
from issuance.photo import placeholder_photo  # noqa: E402
from issuance.station import Station, create_station_keys  # noqa: E402
from issuance.synth import generate_register  # noqa: E402
from terminal.store import EntitlementSet, TerminalStore  # noqa: E402
from terminal.tap import TapService, period_of  # noqa: E402

READER = "Virtual PCD 00 00"
PROGRAM = "lpg"
WARM_UP_TAPS = 10
CARD_WAIT_SECONDS = 15

DEFAULT_BIT_RATE = 106_000
BITS_PER_BYTE = 9
FRAME_OVERHEAD_BYTES = 3
FRAME_DELIMITER_BITS = 2
MAX_FRAME_APDU_BYTES = 253
ACK_BLOCK_BYTES = 3
PER_EXCHANGE_SECONDS = 0.005
EMV_TAP_BUDGET_MS = 500.0


def message_seconds(length: int, bit_rate: int = DEFAULT_BIT_RATE) -> float:
    """Air time of one APDU (command or response) of length bytes, with chaining and its R(ACK) blocks."""
    frames = max(1, math.ceil(length / MAX_FRAME_APDU_BYTES))
    bits = (length + frames * FRAME_OVERHEAD_BYTES) * BITS_PER_BYTE + frames * FRAME_DELIMITER_BITS
    ack_bits = (frames - 1) * (ACK_BLOCK_BYTES * BITS_PER_BYTE + FRAME_DELIMITER_BITS)
    return (bits + ack_bits) / bit_rate


def modelled_contactless_ms(exchanges: list[Exchange], bit_rate: int = DEFAULT_BIT_RATE) -> float:
    seconds = sum(
        message_seconds(exchange.command_length, bit_rate) + message_seconds(exchange.response_length, bit_rate)
        + PER_EXCHANGE_SECONDS
        for exchange in exchanges
    )
    return seconds * 1000


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "p95": percentile(samples, 0.95), "max": max(samples)}


def personalise_card(workdir: Path, context: PcscContext) -> tuple[Path, bytes, Station]:
    """Issue a chip card for a synthetic adult into a state file; return it, its household id and the station."""
    create_station_keys(workdir / "station")
    station = Station(workdir / "station")
    resident = next(r for r in generate_register(40, seed=7) if r.birth_date < date(2000, 1, 1))
    card_file = workdir / "card.json"
    CardState.blank(card_file)
    with EmulatedCard(card_file, context) as connection:
        issued = personalise_chip_card(PivSession(connection), resident, station,
                                       placeholder_photo(resident.name, seed=1), date.today())
    return card_file, issued.household_id, station


class EmulatedCard:
    """`kartu card emulate` for a state file, with a connection to it while inside the block."""

    def __init__(self, card_file: Path, context: PcscContext):
        self.card_file = card_file
        self.context = context

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kartu", "card", "emulate", "--state", str(self.card_file)],
            stdout=subprocess.DEVNULL,
        )
        self.context.wait_for_card(READER, CARD_WAIT_SECONDS)
        self.connection = self.context.connect(READER)
        return self.connection

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        self.context.wait_for_removal(READER, CARD_WAIT_SECONDS)


def make_terminal(workdir: Path, station: Station, household_id: bytes, taps: int) -> TapService:
    store = TerminalStore(workdir / "terminal.db")
    issuer_key = station.issuer.public_key
    store.add_issuer(kid_of(issuer_key), spki_of(issuer_key))
    with store.transaction() as db:
        store.set_meta({"terminal_id": "TRM-BENCH0001", "server_url": "http://127.0.0.1:9",
                        "service_point_id": "1", "programmes": json.dumps([PROGRAM])}, db)
    period = period_of(datetime.now(timezone.utc))
    store.replace_entitlements([(EntitlementSet(PROGRAM, period, taps + WARM_UP_TAPS, "tabung", 0), {household_id: 0})],
                               pulled_at=0)
    return TapService(store, FileSigner(generate_private_key()))


def run_taps(context: PcscContext, service: TapService, count: int, check_photo: bool) -> tuple[dict, list[Exchange]]:
    samples: dict[str, list[float]] = {"card_io": [], "verify": [], "card_io_and_verify": [], "commit": [], "tap": []}
    exchanges: list[Exchange] = []
    for index in range(WARM_UP_TAPS + count):
        exchanges = []
        start = time.perf_counter()
        with context.connect(READER) as connection:
            connection.exchange_log = exchanges
            outcome = service.tap_card(connection, PROGRAM, datetime.now(timezone.utc), check_photo=check_photo)
        elapsed = (time.perf_counter() - start) * 1000
        if not outcome.decision.accepted:
            raise RuntimeError(f"tap {index} refused: {outcome.decision.message_en}")
        if index < WARM_UP_TAPS:
            continue
        timings = outcome.timings
        samples["card_io"].append(timings.card_io_ms)
        samples["verify"].append(timings.verify_ms)
        samples["card_io_and_verify"].append(timings.card_io_ms + timings.verify_ms)
        samples["commit"].append(timings.commit_ms)
        samples["tap"].append(elapsed)
    return {name: summary(values) for name, values in samples.items()}, exchanges


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="taps measured after 10 warm-up taps (default 300)")
    parser.add_argument("--check-photo", action="store_true", help="identity-checking mode: also read the facial image")
    parser.add_argument("--bit-rate", type=int, choices=[106_000, 212_000, 424_000, 848_000], default=DEFAULT_BIT_RATE,
                        help="ISO 14443 bit rate of the modelled contactless link in bit/s (default 106000)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.count < 200:
        parser.error(f"--count must be at least 200 for a stable p95, got {args.count}")

    with PcscContext() as context, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        card_file, household_id, station = personalise_card(workdir, context)
        service = make_terminal(workdir, station, household_id, args.count)
        with EmulatedCard(card_file, context):
            results, exchanges = run_taps(context, service, args.count, args.check_photo)
        service.store.close()
        station.close()

    commands = [exchange for exchange in exchanges if exchange.ins != INS.GET_RESPONSE]
    modelled = modelled_contactless_ms(exchanges, args.bit_rate)
    report = {
        "taps": args.count, "check_photo": args.check_photo, "results_ms": results,
        "commands": len(commands), "exchanges": len(exchanges),
        "bytes_sent": sum(exchange.command_length for exchange in exchanges),
        "bytes_received": sum(exchange.response_length for exchange in exchanges),
        "bit_rate": args.bit_rate, "modelled_contactless_ms": modelled,
        "share_of_emv_budget": modelled / EMV_TAP_BUDGET_MS,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    mode = "identity check (4 commands)" if args.check_photo else "fast path"
    print(f"{args.count} taps, {mode}, {len(commands)} commands in {len(exchanges)} exchanges, "
          f"{report['bytes_sent']} bytes sent, {report['bytes_received']} received")
    for name, values in results.items():
        print(f"{name:<20} median {values['median']:7.3f} ms  p95 {values['p95']:7.3f} ms  max {values['max']:7.3f} ms")
    print(f"modelled contactless time at {args.bit_rate // 1000} kbit/s: {modelled:.1f} ms = "
          f"{modelled / EMV_TAP_BUDGET_MS:.3f} of the {EMV_TAP_BUDGET_MS:.0f} ms EMV tap budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
