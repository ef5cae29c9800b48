"""Decision time after the card's answer, with 250,000 cards' entitlements cached in the terminal store.

Setup: a terminal store (SQLite, WAL, synchronous=FULL) on the local disk
holds one LPG entitlement row per household for --cards households, pinned
issuer key, as after a pull. Each tap uses a chip credential signed by that
issuer and a card key made in software, and the card's signature over the
tap digest is made before the clock starts, because it is the card's answer.

Measured per tap, from the card's answer to the decision on screen data
(what TapService does after its last APDU): trust store load, credential
signature and validity check, the card's signature check, the quota check and
the signed record committed with fsync. The same taps run against a store
of --baseline-cards households to give the ratio that the cache size costs.

The cache size on disk is the store file after a WAL checkpoint, before any tap.

Run: .venv/bin/python bench/terminal.py [--cards N] [--taps N] [--baseline-cards N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

# Python puts this script's folder first on sys.path, where this file would
# hide the terminal package, so the folder is replaced by the repository root.
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(BENCH_DIR.parent))

from card.cardnumber import make_card_number  # noqa: E402
from card.credential import Credential, Holder, Profile, sign_credential  # noqa: E402
from card.keys import FileSigner, compress_point, generate_private_key, kid_of, spki_of  # noqa: E402
from card.records import NONCE_SIZE, Assurance, Redemption, tap_digest  # noqa: E402
from card.verify import verify_chip, verify_tap_signature  # noqa: E402
from terminal.store import EntitlementSet, TerminalStore  # noqa: E402
from terminal.tap import TapService, period_of  # noqa: E402

TARGET_P95_MS = 50.0
TERMINAL_ID = "TRM-BENCH001"
PROGRAM = "lpg"


def build_store(path: Path, households: list[bytes], issuer_public, now: datetime) -> TerminalStore:
    store = TerminalStore(path)
    store.add_issuer(kid_of(issuer_public), spki_of(issuer_public))
    store.set_meta({"terminal_id": TERMINAL_ID, "programmes": json.dumps([PROGRAM]), "service_point_id": "1"})
    used = {household: index % 3 for index, household in enumerate(households)}
    entitlement_set = EntitlementSet(PROGRAM, period_of(now), 1000, "tabung", 0)
    store.replace_entitlements([(entitlement_set, used)], pulled_at=int(now.timestamp()))
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store


def card_answers(households: list[bytes], issuer: FileSigner, count: int, now: datetime, seed: int) -> list[tuple]:
    """Return (credential bytes, record without signature, card signature) per tap, prepared before timing."""
    randomness = random.Random(seed)
    answers = []
    for serial in range(1, count + 1):
        card_key = generate_private_key()
        credential = Credential(
            profile=Profile.CHIP, card_number=make_card_number(serial),
            holder=Holder("SITI AMINAH BINTI ABDULLAH", date(1980, 5, 17), "P", "1571011001"),
            household_id=randomness.choice(households), issued=date(2026, 1, 31), expires=date(2031, 1, 31),
            photo_digest=os.urandom(32), card_key=compress_point(card_key.public_key()),
        )
        tapped_at = int(now.timestamp())
        nonce = os.urandom(NONCE_SIZE)
        digest = tap_digest(nonce, TERMINAL_ID, PROGRAM, 1, tapped_at)
        signature = card_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        record = Redemption(
            record_id=str(uuid.uuid4()), terminal_id=TERMINAL_ID, card_number=credential.card_number,
            household_id=credential.household_id, program=PROGRAM, quantity=1, period=period_of(now),
            tapped_at=tapped_at, nonce=nonce, assurance=Assurance.CHIP, card_signature=signature,
        )
        answers.append((sign_credential(credential, issuer), record, digest, signature))
    return answers


def time_decisions(service: TapService, answers: list[tuple], now: datetime) -> list[float]:
    timings = []
    for credential_bytes, record, digest, signature in answers:
        start = time.perf_counter()
        trust = service.store.trust_store()
        verification = verify_chip(credential_bytes, trust, now)
        if not verification.accepted or not verify_tap_signature(verification.credential, digest, signature):
            raise SystemExit(f"bench card refused: {verification.decision.message_en}")
        outcome = service._commit(verification.credential, record)
        timings.append((time.perf_counter() - start) * 1000)
        if not outcome.decision.accepted:
            raise SystemExit(f"bench tap refused: {outcome.decision.message_en}")
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(cards: int, taps: int, directory: Path, now: datetime, seed: int) -> dict[str, float]:
    randomness = random.Random(seed)
    households = [randomness.randbytes(8) for _ in range(cards)]
    issuer_key = generate_private_key()
    store_path = directory / f"terminal-{cards}.db"
    started = time.perf_counter()
    store = build_store(store_path, households, issuer_key.public_key(), now)
    build_seconds = time.perf_counter() - started
    size = store_path.stat().st_size
    answers = card_answers(households, FileSigner(issuer_key), taps, now, seed)
    timings = time_decisions(TapService(store, FileSigner(generate_private_key())), answers, now)
    store.close()
    return {
        "cards": cards, "taps": taps, "store_bytes": size, "bytes_per_card": round(size / cards, 1),
        "build_s": round(build_seconds, 1), "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(percentile(timings, 0.95), 2), "max_ms": round(max(timings), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=250_000, help="households in the cache (default 250000)")
    parser.add_argument("--baseline-cards", type=int, default=1_000, help="households in the baseline cache")
    parser.add_argument("--taps", type=int, default=300, help="timed taps per cache size (default 300)")
    parser.add_argument("--seed", type=int, default=2026, help="seed for households and card choice")
    parser.add_argument("--dir", type=Path, help="directory for the stores (default: a temporary one)")
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        baseline = run(args.baseline_cards, args.taps, Path(directory), now, args.seed)
        result = run(args.cards, args.taps, Path(directory), now, args.seed)
    result["baseline_p95_ms"] = baseline["p95_ms"]
    result["ratio_p95_to_baseline"] = round(result["p95_ms"] / baseline["p95_ms"], 2)
    print(json.dumps({"baseline": baseline, "result": result}))
    ok = result["p95_ms"] <= TARGET_P95_MS
    print(f"decision after the card's answer, {result['cards']} cards cached: median {result['median_ms']} ms, "
          f"p95 {result['p95_ms']} ms (target {TARGET_P95_MS} ms: {'met' if ok else 'MISSED'}), "
          f"cache {result['store_bytes'] / 1e6:.1f} MB on disk ({result['bytes_per_card']} bytes per card)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
