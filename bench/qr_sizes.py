"""Size of the QR credential over a synthetic register: COSE bytes, Base45 characters, QR version.

Issues one QR credential per resident of issuance.synth.generate_register
(10,000 residents by default) the way issuance does (holder fields from the
register, household id from the KK number, five years of validity), then
prints the distribution of
  * the COSE_Sign1 size in bytes,
  * the QR text length ("KB1:" + Base45), in characters,
  * the QR version at error correction M that the card face prints,
as a Markdown table for docs/BENCHMARKS.md, followed by two constructed worst
cases outside the register. Run with `make bench` or
  .venv/bin/python bench/qr_sizes.py [--count N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
from collections import Counter
from datetime import date

from card.cardnumber import make_card_number
from card.credential import Credential, Holder, Profile, sign_credential
from card.keys import FileSigner, generate_private_key
from card.qrtext import to_qr_text
from issuance.face import qr_version
from issuance.personalise import CARD_VALIDITY_YEARS
from issuance.register import household_id
from issuance.synth import generate_register

ISSUED = date(2026, 12, 1)
EXPIRES = ISSUED.replace(year=ISSUED.year + CARD_VALIDITY_YEARS)
# The largest QR version that this project budgets for (error correction M).
BUDGET_VERSION = 10


def measure(credential: Credential, signer: FileSigner) -> tuple[int, int, int]:
    """Return (COSE bytes, QR text characters, QR version) of one signed QR credential."""
    message = sign_credential(credential, signer)
    text = to_qr_text(message)
    return len(message), len(text), qr_version(text)


def register_sizes(count: int, seed: int, signer: FileSigner) -> list[tuple[int, int, int]]:
    household_key = secrets.token_bytes(32)
    sizes = []
    for serial, resident in enumerate(generate_register(count, seed)):
        credential = Credential(
            profile=Profile.QR,
            card_number=make_card_number(serial),
            holder=Holder(resident.name, resident.birth_date, resident.sex, resident.kelurahan_code),
            household_id=household_id(resident.kk, household_key),
            issued=ISSUED,
            expires=EXPIRES,
        )
        sizes.append(measure(credential, signer))
    return sizes


def worst_case(name: str, signer: FileSigner) -> tuple[int, int, int]:
    holder = Holder(name, date(1900, 1, 1), "P", "1571999999")
    credential = Credential(
        profile=Profile.QR, card_number=make_card_number(10**11 - 1), holder=holder,
        household_id=bytes(range(8)), issued=ISSUED, expires=EXPIRES,
    )
    return measure(credential, signer)


def percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def print_table(sizes: list[tuple[int, int, int]]) -> None:
    print("| measure | min | median | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for column, label in enumerate(("COSE_Sign1 bytes", "QR text characters", "QR version (level M)")):
        values = [size[column] for size in sizes]
        print(f"| {label} | {min(values)} | {statistics.median(values):g} | {percentile(values, 0.99)} | {max(values)} |")
    versions = Counter(size[2] for size in sizes)
    print()
    print("QR versions: " + ", ".join(f"version {version}: {versions[version]}" for version in sorted(versions)))
    over = sum(count for version, count in versions.items() if version > BUDGET_VERSION)
    print(f"credentials above version {BUDGET_VERSION}: {over}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="residents in the synthetic register (default 10000)")
    parser.add_argument("--seed", type=int, default=2026, help="register seed (default 2026)")
    args = parser.parse_args()

    signer = FileSigner(generate_private_key())
    sizes = register_sizes(args.count, args.seed, signer)
    print(f"synthetic register: {args.count} residents, seed {args.seed}")
    print_table(sizes)
    print()
    ascii_name = "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK"
    # The register accepts any letter, so a name can take two UTF-8 bytes per
    # character. Drawn at random so that deflate cannot shrink it.
    rng = random.Random(args.seed)
    wide_name = "".join(rng.choice("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ") for _ in range(60))
    for label, name in (("60-character ASCII name", ascii_name), ("60 random two-byte letters", wide_name)):
        message_size, text_size, version = worst_case(name, signer)
        print(f"worst case, {label}: {message_size} bytes, {text_size} characters, version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
