"""Cost of signing an entitlement set on the server and verifying it on the terminal, for 250,000 households.

Builds a synthetic LPG set (seed 7): --households household ids, random use
0 to 3, no persons, amounts or end dates. Times per round, and prints the
median of each step:
  server:
    * json: the households as the unsigned JSON pull carried them (a dict
      per household, hex ids, json.dumps), the baseline;
    * encode: card.entitlement_set.encode_entitlements, the CBOR payload;
    * sign: card.cose.sign1 over that payload (SHA-256 and one ES256 signature);
    * base64: the signed set as the route sends it;
  terminal:
    * verify: COSE_Sign1 parsing and the signature check;
    * decode: decode_entitlements, every household checked;
    * apply: apply_entitlement_sets into a fresh terminal store (SQLite, WAL,
      synchronous=FULL), of which store.replace_entitlements alone is timed
      as its baseline.
The database query that collects the households (server.entitlements) is
not included; bench/entitlements.py times the computation behind it.

Then a daily delta: --changed households (default 50,000, drawn with seed
7) get a new use and --removed households (default 1,000) leave the list.
Per round it times:
  server:
    * diff: server.served_entitlements._diff, the in-memory comparison of
      the current households with the served rows that record_served runs
      (its database reads and writes are not included);
    * changes: changes_since, picking the delta's rows from the served state;
    * delta encode and sign, as for the full set;
  terminal:
    * delta verify, decode and apply onto the store holding the full set at
      the delta's base revision.
Once, on a fresh SQLite server database (WAL, synchronous=FULL), it also
times server.served_entitlements.lock_programme and record_served with the
commit: the first pull, which inserts every household, the daily delta, and
a pull that finds no change, with the rows kept in memory by the process
and read from the table by another process.

  .venv/bin/python bench/entitlement_pull.py [--households 250000] [--rounds 3] [--changed 50000] [--removed 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card import cose  # noqa: E402
from card.entitlement_set import (  # noqa: E402
    MAX_SET_BYTES,
    HouseholdEntry,
    ProgrammeEntitlements,
    ProgrammeRules,
    decode_entitlements,
    encode_entitlements,
)
from card.keys import FileSigner, generate_private_key  # noqa: E402
from card.trustlist import KeyEntry, Role, TrustList, sign_trust_list  # noqa: E402
from server.db import create_db_engine, upgrade_database  # noqa: E402
from server.entitlements import HouseholdEntitlement  # noqa: E402
from server.fields import encode_base64  # noqa: E402
from server.served_entitlements import (  # noqa: E402
    ServedState,
    _diff,
    changes_since,
    lock_programme,
    record_served,
    remember_served,
)
from terminal.entitlement_check import apply_entitlement_sets  # noqa: E402
from terminal.store import EntitlementSet, HouseholdUse, TerminalStore  # noqa: E402
from terminal.trust import apply_trust_list  # noqa: E402

ISSUED_AT = 1_773_543_600


def _timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def synthetic_set(count: int, issued_at_ms: int, revision: int = 1) -> ProgrammeEntitlements:
    rng = random.Random(7)
    ids = sorted({rng.getrandbits(64).to_bytes(8, "big") for _ in range(count)})
    return ProgrammeEntitlements(
        program="lpg", period="2026-03", quota=3, unit="tabung", rules=ProgrammeRules("quota", False, None),
        issued_at_ms=issued_at_ms, terminal_id="TRM-BENCH01", service_point_id=1,
        households=tuple(HouseholdEntry(household_id, rng.randrange(4)) for household_id in ids),
        revision=revision,
    )


def next_day(full: ProgrammeEntitlements, changed: int, removed: int) -> list[HouseholdEntitlement]:
    """Return the households a day after full: changed of them with a new use, removed of them gone (seed 7)."""
    rng = random.Random(7)
    picked = rng.sample(range(len(full.households)), changed + removed)
    removed_indexes = set(picked[:removed])
    changed_indexes = set(picked[removed:])
    households = []
    for index, entry in enumerate(full.households):
        if index in removed_indexes:
            continue
        used = (entry.used + 1) % 4 if index in changed_indexes else entry.used
        households.append(HouseholdEntitlement(entry.household_id, used, entry.persons, entry.amount,
                                               entry.valid_until))
    return households


def served_rows(full: ProgrammeEntitlements) -> dict:
    """Return the served rows as record_served leaves them after serving full at its revision."""
    current = [HouseholdEntitlement(h.household_id, h.used, h.persons, h.amount, h.valid_until)
               for h in full.households]
    rows: dict = {}
    _diff(full.program, rows, current, full.revision, None)
    return rows


def delta_round(full: ProgrammeEntitlements, today: list[HouseholdEntitlement], sync: FileSigner,
                store: TerminalStore, times: dict[str, list[float]]) -> tuple[int, int, int]:
    """Time one daily delta from full's revision; return its signed size, changed and removed counts."""
    rows = served_rows(full)
    revision = full.revision + 1
    seconds, _writes = _timed(lambda: _diff(full.program, rows, today, revision, None))
    times["server delta: diff served rows"].append(seconds)
    state = ServedState(full.program, revision, 0, today, rows)
    seconds, changes = _timed(lambda: changes_since(state, full.revision))
    times["server delta: changes_since"].append(seconds)
    delta = dataclasses.replace(
        full, issued_at_ms=full.issued_at_ms + 1, revision=revision, base_revision=full.revision,
        removed=tuple(changes.removed),
        households=tuple(HouseholdEntry(h.household_id, h.used, h.persons, h.amount, h.valid_until)
                         for h in changes.changed),
    )
    seconds, payload = _timed(lambda: encode_entitlements(delta))
    times["server delta: encode"].append(seconds)
    seconds, signed = _timed(lambda: cose.sign1(payload, sync))
    times["server delta: sign"].append(seconds)

    apply_entitlement_sets(store, [full], ISSUED_AT)
    seconds, verified = _timed(lambda: _verified(signed, sync))
    times["terminal delta: verify"].append(seconds)
    seconds, decoded = _timed(lambda: decode_entitlements(verified))
    times["terminal delta: decode"].append(seconds)
    seconds, _generation = _timed(lambda: apply_entitlement_sets(store, [decoded], ISSUED_AT))
    times["terminal delta: apply"].append(seconds)
    return len(signed), len(delta.households), len(delta.removed)


def _record(engine, households: list[HouseholdEntitlement]) -> float:
    with Session(engine) as session:
        start = time.perf_counter()
        state = record_served(session, lock_programme(session, "lpg"), households, ISSUED_AT)
        session.commit()
        remember_served(session, state)
        return time.perf_counter() - start


def record_on_sqlite(path: Path, full: ProgrammeEntitlements, today: list[HouseholdEntitlement]) -> dict[str, float]:
    """Time record_served with its commit on a fresh SQLite database, once for each kind of pull."""
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    other = create_db_engine(f"sqlite:///{path}")
    first = [HouseholdEntitlement(h.household_id, h.used, h.persons, h.amount, h.valid_until) for h in full.households]
    try:
        return {
            "first pull, every household inserted": _record(engine, first),
            "daily delta written": _record(engine, today),
            "no change, rows kept in memory": _record(engine, today),
            "no change, rows read from the table": _record(other, today),
        }
    finally:
        other.dispose()
        engine.dispose()


def _verified(signed: bytes, sync: FileSigner) -> bytes:
    message = cose.decode_sign1(signed, max_size=MAX_SET_BYTES)
    assert cose.verify_sign1(message, sync.public_key)
    return message.payload


def json_baseline(entitlements: ProgrammeEntitlements) -> bytes:
    households = [{"household_id": h.household_id.hex(), "used": h.used, "persons": h.persons, "amount": h.amount,
                   "valid_until": h.valid_until} for h in entitlements.households]
    body = {"program": entitlements.program, "households": households}
    return json.dumps(body, separators=(",", ":")).encode()


def terminal_store(path: Path, root: FileSigner, sync: FileSigner) -> TerminalStore:
    store = TerminalStore(path)
    store.set_meta({"terminal_id": "TRM-BENCH01", "service_point_id": "1", "programmes": '["lpg"]'})
    store.pin_root_key(root.public_key)
    window = (date(2020, 1, 1), date(2099, 12, 31))
    apply_trust_list(store, sign_trust_list(TrustList(1, ISSUED_AT, (KeyEntry(Role.SYNC, sync.public_key, *window),)),
                                            root))
    return store


def run_round(entitlements: ProgrammeEntitlements, sync: FileSigner, store: TerminalStore,
              times: dict[str, list[float]]) -> int:
    seconds, _body = _timed(lambda: json_baseline(entitlements))
    times["server json (baseline)"].append(seconds)
    seconds, payload = _timed(lambda: encode_entitlements(entitlements))
    times["server encode"].append(seconds)
    seconds, signed = _timed(lambda: cose.sign1(payload, sync))
    times["server sign"].append(seconds)
    seconds, _text = _timed(lambda: encode_base64(signed))
    times["server base64"].append(seconds)

    seconds, verified = _timed(lambda: _verified(signed, sync))
    times["terminal verify"].append(seconds)
    seconds, decoded = _timed(lambda: decode_entitlements(verified))
    times["terminal decode"].append(seconds)
    rows = [(EntitlementSet("lpg", decoded.period, decoded.quota, decoded.unit, 0),
             {h.household_id: HouseholdUse(h.used, h.persons) for h in decoded.households})]
    seconds, _generation = _timed(lambda: store.replace_entitlements(rows, ISSUED_AT))
    times["terminal replace_entitlements (baseline)"].append(seconds)
    seconds, _generation = _timed(lambda: apply_entitlement_sets(store, [decoded], ISSUED_AT))
    times["terminal apply"].append(seconds)
    return len(signed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=250_000, help="households in the set (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default: %(default)s)")
    parser.add_argument("--changed", type=int, default=50_000,
                        help="households whose use changes in the daily delta (default: %(default)s)")
    parser.add_argument("--removed", type=int, default=1_000,
                        help="households removed in the daily delta (default: %(default)s)")
    args = parser.parse_args()

    root, sync = FileSigner(generate_private_key()), FileSigner(generate_private_key())
    times: dict[str, list[float]] = {}
    for name in ("server json (baseline)", "server encode", "server sign", "server base64", "terminal verify",
                 "terminal decode", "terminal replace_entitlements (baseline)", "terminal apply",
                 "server delta: diff served rows", "server delta: changes_since", "server delta: encode",
                 "server delta: sign", "terminal delta: verify", "terminal delta: decode", "terminal delta: apply"):
        times[name] = []
    with tempfile.TemporaryDirectory() as directory:
        store = terminal_store(Path(directory) / "terminal.db", root, sync)
        for round_number in range(args.rounds):
            # Each round's sets are newer than the last, as the rollback check requires.
            entitlements = synthetic_set(args.households, (ISSUED_AT + 10 * round_number) * 1000)
            size = run_round(entitlements, sync, store, times)
            full = dataclasses.replace(entitlements, issued_at_ms=entitlements.issued_at_ms + 5000)
            today = next_day(full, args.changed, args.removed)
            delta_size, changed, removed = delta_round(full, today, sync, store, times)
        store.close()
        recordings = record_on_sqlite(Path(directory) / "server.db", full, today)
    json_size = len(json_baseline(entitlements))
    print(f"{len(entitlements.households)} households: signed set {size / 1e6:.2f} MB "
          f"({size / len(entitlements.households):.1f} bytes each), unsigned JSON {json_size / 1e6:.2f} MB")
    print(f"daily delta with {changed} changed and {removed} removed households: signed {delta_size / 1e6:.2f} MB, "
          f"{delta_size / size:.1%} of the full set")
    for name, values in times.items():
        print(f"{name:42s} median {statistics.median(values) * 1000:8.1f} ms over {args.rounds} rounds")
    for name, seconds in recordings.items():
        print(f"server record_served on SQLite, {name:38s} {seconds * 1000:8.1f} ms (one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
