"""Revocation list sizes and lookup times for Kota Jambi (250,000 cards, 5 % revoked) and at national size.

Cards get serials the way issuance stations allocate them: station number
times 10**9 plus a counter, spread evenly over the stations. The revoked
cards are a seeded random 5 %, and a daily delta revokes 500 more.

Measured:
  - size of the signed full list and of the signed daily delta, against the
    baseline of 8 bytes per revoked serial (a plain array of 64-bit integers);
  - lookup time per card in the verifier's in-memory set (RevokedSerials, a
    frozenset) and in the terminal's SQLite table (primary-key B-tree). The
    baseline is a plain Python set (hash lookup). Half the lookups hit a revoked card;
  - time to verify and apply the full list and the delta to a terminal store.

Run: .venv/bin/python bench/revocation.py [--cards N] [--stations S] [--seed K]
"""

from __future__ import annotations

import argparse
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from array import array
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from card.keys import FileSigner, generate_private_key  # noqa: E402
from card.revocation import ListKind, RevocationList, RevokedSerials, sign_revocation_list  # noqa: E402
from card.trustlist import KeyEntry, Role, TrustList, sign_trust_list  # noqa: E402
from terminal.store import TerminalStore  # noqa: E402
from terminal.trust import apply_revocation_list, apply_trust_list  # noqa: E402

REVOKED_SHARE = 0.05
DAILY_REVOCATIONS = 500
LOOKUP_BATCH = 1_000
LOOKUP_BATCHES = 200


def card_serials(cards: int, stations: int) -> list[int]:
    per_station = -(-cards // stations)
    serials = [station * 10**9 + counter for station in range(1, stations + 1) for counter in range(1, per_station + 1)]
    return serials[:cards]


def median_ns_per_lookup(lookup, probes: list[int]) -> float:
    """Median over batches of the time per lookup, in nanoseconds."""
    timings = []
    for batch in range(LOOKUP_BATCHES):
        chunk = probes[(batch * LOOKUP_BATCH) % len(probes):][:LOOKUP_BATCH]
        start = time.perf_counter_ns()
        for serial in chunk:
            lookup(serial)
        timings.append((time.perf_counter_ns() - start) / len(chunk))
    return statistics.median(timings)


def timed_ms(action) -> tuple[object, float]:
    start = time.perf_counter()
    result = action()
    return result, (time.perf_counter() - start) * 1000


def run(cards: int, stations: int, seed: int) -> dict:
    rng = random.Random(seed)
    serials = card_serials(cards, stations)
    revoked = sorted(rng.sample(serials, int(cards * REVOKED_SHARE)))
    revoked_set = set(revoked)
    newly_revoked = sorted(rng.sample([s for s in serials if s not in revoked_set], DAILY_REVOCATIONS))

    sync, root = FileSigner(generate_private_key()), FileSigner(generate_private_key())
    full = RevocationList(ListKind.FULL, 1, int(time.time()), array("Q", revoked), count=len(revoked))
    delta = RevocationList(ListKind.DELTA, 2, int(time.time()), array("Q", newly_revoked),
                           count=len(revoked) + DAILY_REVOCATIONS, base_version=1)
    signed_full, signed_delta = sign_revocation_list(full, sync), sign_revocation_list(delta, sync)

    with tempfile.TemporaryDirectory() as directory:
        store = TerminalStore(Path(directory) / "terminal.db")
        store.set_meta({"terminal_id": "TRM-BENCH"})
        store.pin_root_key(root.public_key)
        this_year = date.today().year
        sync_entry = KeyEntry(Role.SYNC, sync.public_key, date(this_year - 1, 1, 1), date(this_year + 1, 12, 31))
        apply_trust_list(store, sign_trust_list(TrustList(1, 0, (sync_entry,)), root))
        _, full_apply_ms = timed_ms(lambda: apply_revocation_list(store, signed_full))
        _, delta_apply_ms = timed_ms(lambda: apply_revocation_list(store, signed_delta))

        in_list = set(revoked) | set(newly_revoked)
        hits = rng.sample(sorted(in_list), LOOKUP_BATCH * 10)
        misses = rng.sample([s for s in serials if s not in in_list], LOOKUP_BATCH * 10)
        probes = [serial for pair in zip(hits, misses) for serial in pair]
        memory = RevokedSerials(in_list)
        results = {
            "cards": cards,
            "revoked": len(revoked),
            "full_bytes": len(signed_full),
            "delta_bytes": len(signed_delta),
            "baseline_full_bytes": 8 * len(revoked),
            "baseline_delta_bytes": 8 * DAILY_REVOCATIONS,
            "memory_ns": median_ns_per_lookup(memory.contains_serial, probes),
            "sqlite_ns": median_ns_per_lookup(store.is_revoked_serial, probes),
            "set_ns": median_ns_per_lookup(in_list.__contains__, probes),
            "full_apply_ms": full_apply_ms,
            "delta_apply_ms": delta_apply_ms,
        }
        assert all(store.is_revoked_serial(s) for s in hits[:100])
        assert not any(store.is_revoked_serial(s) for s in misses[:100])
        store.close()
    return results


def report(results: dict) -> None:
    print(f"cards {results['cards']:,}, revoked {results['revoked']:,} (+{DAILY_REVOCATIONS} in the delta)")
    print(f"full list   {results['full_bytes']:>9,} bytes  baseline {results['baseline_full_bytes']:>9,}  "
          f"ratio {results['full_bytes'] / results['baseline_full_bytes']:.3f}")
    print(f"daily delta {results['delta_bytes']:>9,} bytes  baseline {results['baseline_delta_bytes']:>9,}  "
          f"ratio {results['delta_bytes'] / results['baseline_delta_bytes']:.3f}")
    print(f"lookup median: RevokedSerials {results['memory_ns']:.0f} ns, SQLite {results['sqlite_ns']:.0f} ns, "
          f"baseline set {results['set_ns']:.0f} ns "
          f"(ratios {results['memory_ns'] / results['set_ns']:.1f}, {results['sqlite_ns'] / results['set_ns']:.1f})")
    print(f"verify and apply: full list {results['full_apply_ms']:.0f} ms, delta {results['delta_apply_ms']:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, nargs="+", default=[250_000, 10_000_000],
                        help="card counts to measure (default: 250000 for Kota Jambi and 10000000 at national size)")
    parser.add_argument("--stations", type=int, default=10, help="issuance stations the serials spread over (default 10)")
    parser.add_argument("--seed", type=int, default=1571, help="random seed (default 1571)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}")
    for cards in args.cards:
        report(run(cards, args.stations, args.seed))


if __name__ == "__main__":
    main()
