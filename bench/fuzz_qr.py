"""Fuzz the QR-text verifier and the decoders under it with atheris (libFuzzer for Python).

The harness signs a few credentials with an issuer key of its own and trusts
only that key. Each input is read in one of three ways, picked by its first
byte, so that mutations reach every layer:
  0  the rest is the QR text itself (Latin-1), prefix and Base45 included;
  1  the rest is the COSE_Sign1 message, sent as "KB1:" + Base45 and also
     as a chip credential;
  2  the rest is deflated first, to exercise the zlib path.
It fails (and libFuzzer stops with a crash report) when
  * any exception other than the decoders' own error types escapes,
  * a verifier accepts a credential that the harness did not sign, or
  * the strict CBOR decoder accepts bytes that do not re-encode to
    themselves (two encodings of one value).

Run with `make bench`, or
  .venv/bin/python bench/fuzz_qr.py -runs=1000000
Any libFuzzer flag may follow. The corpus starts from the signed credentials
in a temporary folder, and crash files go to that folder, whose path is
printed at the start.
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from datetime import date, datetime, timezone
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["card"]):
    from card import cbor
    from card.base45 import Base45Error, b45decode, b45encode
    from card.cardnumber import make_card_number
    from card.credential import Credential, Holder, Profile, sign_credential
    from card.keys import FileSigner, compress_point, generate_private_key
    from card.qrtext import PREFIX, to_qr_text
    from card.verify import IssuerKey, TrustStore, verify_chip, verify_qr

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
MODES = 3


class ForgeryAccepted(AssertionError):
    """A verifier accepted a credential that the harness never signed."""


def signed_credentials(signer: FileSigner) -> tuple[list[bytes], set[Credential]]:
    names = ("SITI AISYAH", "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK", "BUDI SANTOSO")
    messages, credentials = [], set()
    for index, name in enumerate(names):
        for profile in Profile:
            chip = profile is Profile.CHIP
            credential = Credential(
                profile=profile,
                card_number=make_card_number(1_000_000 + index),
                holder=Holder(name, date(1960 + index, 5, 17), "LP"[index % 2], "1571011001"),
                household_id=bytes([index]) * 8,
                issued=date(2026, 12, 1),
                expires=date(2031, 12, 1),
                photo_digest=bytes(32) if chip else None,
                card_key=compress_point(generate_private_key().public_key()) if chip else None,
            )
            messages.append(sign_credential(credential, signer))
            credentials.add(credential)
    return messages, credentials


SIGNER = FileSigner(generate_private_key())
MESSAGES, SIGNED = signed_credentials(SIGNER)
TRUST = TrustStore.of(IssuerKey(SIGNER.public_key))


def check(verification) -> None:
    if verification.accepted and verification.credential not in SIGNED:
        raise ForgeryAccepted(f"accepted a credential the harness never signed: {verification.credential}")


def check_cbor(data: bytes) -> None:
    try:
        value = cbor.decode(data, outer_tags=(18,))
    except cbor.CBORError:
        return
    if cbor.encode(value) != data:
        raise AssertionError(f"strict CBOR accepted a non-canonical encoding: {data.hex()}")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % MODES, data[1:]
    if mode == 0:
        text = body.decode("latin-1")
        try:
            b45decode(text)
        except Base45Error:
            pass
    elif mode == 1:
        text = PREFIX + b45encode(body)
        check_cbor(body)
        check(verify_chip(body, TRUST, NOW))
    else:
        text = PREFIX + b45encode(zlib.compress(body))
    check(verify_qr(text, TRUST, NOW))


def write_seeds(corpus: Path) -> None:
    for index, message in enumerate(MESSAGES):
        text = to_qr_text(message).encode("latin-1")
        (corpus / f"text-{index}").write_bytes(b"\x00" + text)
        (corpus / f"cose-{index}").write_bytes(b"\x01" + message)
        (corpus / f"deflate-{index}").write_bytes(b"\x02" + message)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kartu-fuzz-qr-"))
    corpus = workdir / "corpus"
    corpus.mkdir()
    write_seeds(corpus)
    print(f"fuzz_qr: corpus and crash files in {workdir}", flush=True)
    argv = [sys.argv[0], str(corpus), f"-artifact_prefix={workdir}/", "-max_len=2048", *sys.argv[1:]]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
