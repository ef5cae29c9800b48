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

  .venv/bin/python bench/entitlement_pull.py [--households 250000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

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
from server.fields import encode_base64  # noqa: E402
from terminal.entitlement_check import apply_entitlement_sets  # noqa: E402
from terminal.store import EntitlementSet, HouseholdUse, TerminalStore  # noqa: E402
from terminal.trust import apply_trust_list  # noqa: E402

ISSUED_AT = 1_773_543_600


def _timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def synthetic_set(count: int, issued_at_ms: int) -> ProgrammeEntitlements:
    rng = random.Random(7)
    ids = sorted({rng.getrandbits(64).to_bytes(8, "big") for _ in range(count)})
    return ProgrammeEntitlements(
        program="lpg", period="2026-03", quota=3, unit="tabung", rules=ProgrammeRules("quota", False, None),
        issued_at_ms=issued_at_ms, terminal_id="TRM-BENCH01", service_point_id=1,
        households=tuple(HouseholdEntry(household_id, rng.randrange(4)) for household_id in ids),
    )


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

    def verify():
        message = cose.decode_sign1(signed, max_size=MAX_SET_BYTES)
        assert cose.verify_sign1(message, sync.public_key)
        return message.payload

    seconds, verified = _timed(verify)
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
    args = parser.parse_args()

    root, sync = FileSigner(generate_private_key()), FileSigner(generate_private_key())
    times: dict[str, list[float]] = {}
    for name in ("server json (baseline)", "server encode", "server sign", "server base64", "terminal verify",
                 "terminal decode", "terminal replace_entitlements (baseline)", "terminal apply"):
        times[name] = []
    with tempfile.TemporaryDirectory() as directory:
        store = terminal_store(Path(directory) / "terminal.db", root, sync)
        for round_number in range(args.rounds):
            # Each round's set is newer than the last, as the rollback check requires.
            entitlements = synthetic_set(args.households, (ISSUED_AT + round_number) * 1000)
            size = run_round(entitlements, sync, store, times)
        store.close()
    json_size = len(json_baseline(entitlements))
    print(f"{len(entitlements.households)} households: signed set {size / 1e6:.2f} MB "
          f"({size / len(entitlements.households):.1f} bytes each), unsigned JSON {json_size / 1e6:.2f} MB")
    for name, values in times.items():
        print(f"{name:42s} median {statistics.median(values) * 1000:8.1f} ms over {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
