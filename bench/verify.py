"""Offline QR verification time against one raw ECDSA P-256 verification.

Baseline: cryptography's EllipticCurvePublicKey.verify on the credential's
signature (converted to DER beforehand) over its Sig_structure, with the
key already loaded. Measured paths, each on the same QR text:
  * decode only: QR text to COSE_Sign1 to credential, no signature check, both
    with the slicing that verify_qr uses for the issuer's layout
    (cose.common_layout_parts, decode_common_payload) and with the general
    strict decoders (decode_sign1, decode_payload) that take every other layout;
  * verify_qr with an in-memory revocation list (card.revocation.RevokedSerials);
  * decode, verify, revocation and entitlement look-up, all in memory: the
    previous path followed by a dict look-up of the household's use, with no
    check that another process has changed the lists since they were loaded;
  * full verification: decode, verify, revocation and entitlement look-up as
    terminal.tap runs them. It fetches the terminal store's trust store (kept
    in memory, checked against the store's trust generation with one indexed
    read), runs verify_qr, and looks the household up in the in-memory
    entitlement index (TerminalStore.entitlement, one PRAGMA data_version
    read to check that no other connection has committed);
  * verification + quota count: the full verification through
    TerminalStore.quota_usage, which adds the count of this terminal's use
    since the pull. That is the query terminal.tap runs inside the
    hand-over's IMMEDIATE transaction, here run outside a transaction.
The terminal store contains 12,500 revoked cards of 250,000 and the LPG
entitlements of 100,000 households (--households). After the timings the
script loads the programme into a new index and prints the memory that the
index takes (tracemalloc).

Timings are interleaved in rounds (a batch of each path per round) so that
a change in machine load hits every path alike. By default they are the
thread's CPU time, which other processes on a busy machine do not inflate;
--clock wall measures elapsed time instead. Prints the median time per call
of each path, its ratio to the baseline and the 1-minute load average.
Target: full verification at most 1.3 times the baseline. Run with `make bench` or
  .venv/bin/python bench/verify.py [--rounds N] [--batch N] [--clock cpu|wall] [--households N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Python puts bench/ first on the import path of a script. The repository root goes before it,
# so a bench script never hides a project package of the same name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card.cardnumber import make_card_number  # noqa: E402
from card.cose import common_layout_parts, decode_sign1  # noqa: E402
from card.credential import Credential, Holder, Profile, decode_payload, sign_credential  # noqa: E402
from card.credential_layout import decode_common_payload  # noqa: E402
from card.keys import FileSigner, generate_private_key, raw_to_der, spki_of  # noqa: E402
from card.qrtext import from_qr_text, to_qr_text  # noqa: E402
from card.revocation import RevokedSerials  # noqa: E402
from card.verify import IssuerKey, TrustStore, verify_qr  # noqa: E402
from terminal.store import EntitlementSet, TerminalStore  # noqa: E402

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
PERIOD = "2026-12"
PROGRAM = "lpg"
CARDS = 250_000
REVOKED = 12_500
TARGET_RATIO = 1.3
IN_MEMORY = "decode, verify, revocation and entitlement look-up, all in memory"
FULL = "full verification: trust store + verify_qr + entitlement index"
# The cpu clock counts only the time this thread runs, so other processes on
# a busy machine do not inflate it. The wall clock is the elapsed time.
CLOCKS = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}


def make_credential(serial: int, household: bytes) -> Credential:
    return Credential(
        profile=Profile.QR,
        card_number=make_card_number(serial),
        holder=Holder("NUR HALIMAH BINTI AHMAD LUBIS", date(1971, 8, 17), "P", "1571011001"),
        household_id=household,
        issued=date(2026, 12, 1),
        expires=date(2031, 12, 1),
    )


def household_use(household: bytes, households: int) -> dict[bytes, int]:
    """Return the use so far of each entitled household: the benchmark's household and households - 1 others."""
    rng = random.Random(2)
    used = {rng.randbytes(8): rng.randint(0, 3) for _ in range(households - 1)}
    used[household] = 1
    return used


def terminal_store(
    directory: Path, signer: FileSigner, household: bytes, revoked: list[int], households: int
) -> TerminalStore:
    store = TerminalStore(directory / "terminal.db")
    store.add_issuer(signer.kid, spki_of(signer.public_key))
    with store.transaction() as db:
        store.replace_revoked_serials(db, 1, revoked)
    used = household_use(household, households)
    store.replace_entitlements([(EntitlementSet(PROGRAM, PERIOD, 3, "tabung", 0), used)], pulled_at=0)
    return store


def measure_index(path: Path, household: bytes) -> tuple[int, float]:
    """Load the LPG programme into a new store's index twice; return the bytes it keeps and the untraced load's seconds."""
    store = TerminalStore(path)
    start = time.perf_counter()
    store.entitlement(PROGRAM, household)
    seconds = time.perf_counter() - start
    store.close()

    store = TerminalStore(path)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store.entitlement(PROGRAM, household)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    store.close()
    return size, seconds


def time_paths(
    paths: dict[str, Callable[[], object]], rounds: int, batch: int, clock: Callable[[], int] = time.thread_time_ns
) -> dict[str, list[float]]:
    """Return, per path, the mean time per call (microseconds, by clock in nanoseconds) of each round's batch."""
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for function in paths.values():
        for _ in range(batch):
            function()
    for _ in range(rounds):
        for name, function in paths.items():
            start = clock()
            for _ in range(batch):
                function()
            samples[name].append((clock() - start) / batch / 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds (default 60)")
    parser.add_argument("--batch", type=int, default=200, help="calls per path per round (default 200)")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu",
        help="clock for the timings: cpu, the CPU time of this thread (default), or wall, the elapsed time",
    )
    parser.add_argument(
        "--households", type=int, default=100_000, help="entitled LPG households in the store (default 100000)"
    )
    args = parser.parse_args()

    signer = FileSigner(generate_private_key())
    rng = random.Random(1)
    serial = 123_456
    household = rng.randbytes(8)
    revoked = sorted(rng.sample([s for s in range(CARDS) if s != serial], REVOKED))
    text = to_qr_text(sign_credential(make_credential(serial, household), signer))

    message = decode_sign1(from_qr_text(text))
    to_be_signed = message.to_be_signed()
    der_signature = raw_to_der(message.signature)
    public_key = signer.public_key
    algorithm = ec.ECDSA(hashes.SHA256())

    memory_trust = TrustStore({signer.kid: IssuerKey(public_key)}, revoked_cards=RevokedSerials(revoked))

    with tempfile.TemporaryDirectory() as tmp:
        store = terminal_store(Path(tmp), signer, household, revoked, args.households)

        def baseline() -> None:
            public_key.verify(der_signature, to_be_signed, algorithm)

        def decode_only() -> Credential | None:
            return decode_common_payload(common_layout_parts(from_qr_text(text))[2])

        def decode_general() -> Credential:
            return decode_payload(decode_sign1(from_qr_text(text)).payload)

        def verify_in_memory() -> None:
            if not verify_qr(text, memory_trust, NOW).accepted:
                raise AssertionError("the benchmark credential was rejected")

        memory_use = household_use(household, args.households)

        def in_memory() -> int:
            verification = verify_qr(text, memory_trust, NOW)
            if not verification.accepted:
                raise AssertionError(f"the benchmark credential was rejected: {verification.decision.message_en}")
            return 3 - memory_use[verification.credential.household_id]

        def full() -> int:
            verification = verify_qr(text, store.trust_store(), NOW)
            if not verification.accepted:
                raise AssertionError(f"the benchmark credential was rejected: {verification.decision.message_en}")
            entitlement = store.entitlement(PROGRAM, verification.credential.household_id)
            return entitlement.entitlement_set.quota - entitlement.use.used

        def full_and_count() -> int:
            verification = verify_qr(text, store.trust_store(), NOW)
            if not verification.accepted:
                raise AssertionError(f"the benchmark credential was rejected: {verification.decision.message_en}")
            usage = store.quota_usage(PROGRAM, verification.credential.household_id, PERIOD)
            return usage.limit - usage.used_at_sync - usage.used_here

        paths = {
            "baseline: raw ECDSA P-256 verify": baseline,
            "decode only (no signature check)": decode_only,
            "decode only, general decoders": decode_general,
            "verify_qr, revocation in memory": verify_in_memory,
            IN_MEMORY: in_memory,
            FULL: full,
            "verification + quota count": full_and_count,
        }
        samples = time_paths(paths, args.rounds, args.batch, CLOCKS[args.clock])
        store.close()
        index_bytes, load_seconds = measure_index(Path(tmp) / "terminal.db", household)

    base = statistics.median(samples["baseline: raw ECDSA P-256 verify"])
    print(
        f"QR text: {len(text)} characters; {args.rounds} rounds of {args.batch} calls per path; "
        f"{args.clock} time; load average {os.getloadavg()[0]:.2f}"
    )
    print("| path | median per call | ratio to baseline |")
    print("| --- | ---: | ---: |")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} µs | {median / base:.2f} |")
    print(
        f"entitlement index of {args.households:,} households: {index_bytes / 1e6:.1f} MB (tracemalloc), "
        f"loaded in {load_seconds * 1000:.0f} ms (wall time, without tracemalloc)"
    )
    for name in (IN_MEMORY, FULL):
        ratio = statistics.median(samples[name]) / base
        verdict = "met" if ratio <= TARGET_RATIO else "missed"
        print(f"target {name} <= {TARGET_RATIO} x baseline: {verdict} ({ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
