"""COSE Working Group examples (sign1-tests, ecdsa-examples) through the project's COSE_Sign1 decoder and verifier.

Each vector runs through parse_sign1(require_tag=False), the RFC 9052 layer
of card.cose, and verify_sign1. Vectors marked "fail" must be rejected and the
others must verify, except where the project's rules reject a valid message
by design. Those are listed in BY_DESIGN with the rule that rejects them, and
for each one the test also checks the signature itself with card.keys, so the
rejection is shown to come from the rule and not from a verification fault:

- the algorithm is taken from the protected header only, so alg in the
  unprotected header (sign-pass-01) is rejected;
- ES256 is the only algorithm, so ES384 and ES512 (ecdsa-sig-02 to -04) are
  rejected;
- only COSE_Sign1 is decoded, so COSE_Sign messages (tag 98, ecdsa-01 to -04)
  are rejected.

The vectors are read from ../shared/vectors/cose next to the repository;
the tests skip when that folder is absent.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from card.cose import COSEError, decode_sign1, parse_sign1, sig_structure, verify_sign1
from card.keys import verify_raw

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "cose"
if not VECTORS.is_dir():
    pytest.skip(f"COSE vectors not found at {VECTORS}", allow_module_level=True)

FILES = sorted(VECTORS.glob("*/*.json"))

BY_DESIGN = {
    "sign-pass-01": "algorithm \\(label 1\\) must be in the protected header",
    "ecdsa-sig-02": "algorithm -35 is not ES256",
    "ecdsa-sig-03": "algorithm -36 is not ES256",
    "ecdsa-sig-04": "algorithm -36 is not ES256",
    "ecdsa-01": "CBOR tag 98",
    "ecdsa-02": "CBOR tag 98",
    "ecdsa-03": "CBOR tag 98",
    "ecdsa-04": "CBOR tag 98",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def b64url(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def signer_key(vector: dict) -> dict:
    inputs = vector["input"]
    return inputs["sign0"]["key"] if "sign0" in inputs else inputs["sign"]["signers"][0]["key"]


def public_key(jwk: dict) -> ec.EllipticCurvePublicKey:
    assert jwk["crv"] == "P-256", f"only P-256 keys are loaded, got {jwk['crv']}"
    return ec.EllipticCurvePublicNumbers(b64url(jwk["x"]), b64url(jwk["y"]), ec.SECP256R1()).public_key()


def external_aad(vector: dict) -> bytes:
    return bytes.fromhex(vector["input"].get("sign0", {}).get("external", ""))


def test_vectors_present() -> None:
    names = {path.stem for path in FILES}
    assert {"sign-pass-01", "sign-pass-02", "sign-pass-03", "sign-fail-01", "ecdsa-sig-01", "ecdsa-01"} <= names
    assert set(BY_DESIGN) <= names


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_vector(path: Path) -> None:
    vector = load(path)
    data = bytes.fromhex(vector["output"]["cbor"])
    expected_pass = not vector.get("fail", False)
    try:
        message = parse_sign1(data, require_tag=False)
    except COSEError as exc:
        if path.stem in BY_DESIGN:
            assert expected_pass, f"{path.stem} is marked to fail, so it needs no by-design entry"
            assert re.search(BY_DESIGN[path.stem], str(exc)), f"{path.stem} rejected for another reason: {exc}"
        else:
            assert not expected_pass, f"{path.stem} should verify but was rejected: {exc}"
        return
    assert path.stem not in BY_DESIGN, f"{path.stem} was expected to be rejected by design"
    verified = verify_sign1(message, public_key(signer_key(vector)), external_aad(vector))
    assert verified == expected_pass, f"{path.stem}: verify_sign1 gave {verified}, expected {expected_pass}"


@pytest.mark.parametrize("name", ["sign-pass-02", "sign-pass-03", "ecdsa-sig-01"])
def test_sig_structure_matches_intermediate(name: str) -> None:
    vector = load(next(path for path in FILES if path.stem == name))
    message = parse_sign1(bytes.fromhex(vector["output"]["cbor"]), require_tag=False)
    expected = bytes.fromhex(vector["intermediates"]["ToBeSign_hex"])
    assert sig_structure(message.protected, message.payload, external_aad(vector)) == expected


def test_external_aad_is_signed() -> None:
    vector = load(next(path for path in FILES if path.stem == "sign-pass-02"))
    message = parse_sign1(bytes.fromhex(vector["output"]["cbor"]))
    key = public_key(signer_key(vector))
    assert verify_sign1(message, key, external_aad(vector))
    assert not verify_sign1(message, key)


def test_project_profile_requires_tag_and_protected_kid() -> None:
    untagged = load(next(path for path in FILES if path.stem == "sign-pass-03"))
    with pytest.raises(COSEError, match="not a tagged COSE_Sign1 message"):
        decode_sign1(bytes.fromhex(untagged["output"]["cbor"]))
    unprotected_kid = load(next(path for path in FILES if path.stem == "sign-pass-02"))
    with pytest.raises(COSEError, match="protected header has no kid"):
        decode_sign1(bytes.fromhex(unprotected_kid["output"]["cbor"]))


@pytest.mark.parametrize("name", ["sign-pass-01", "ecdsa-01"])
def test_rejected_by_design_still_carry_valid_es256_signatures(name: str) -> None:
    vector = load(next(path for path in FILES if path.stem == name))
    intermediates = vector["intermediates"]
    to_be_signed = bytes.fromhex(
        intermediates["ToBeSign_hex"] if "ToBeSign_hex" in intermediates else intermediates["signers"][0]["ToBeSign_hex"]
    )
    data = bytes.fromhex(vector["output"]["cbor"])
    signature = data[-64:]
    assert verify_raw(public_key(signer_key(vector)), signature, to_be_signed)
