"""COSE_Sign1 header and envelope rules: algorithm from the protected header only, no crit, raw signatures."""

from __future__ import annotations

import pytest

from card import cbor, cose
from card.cbor import CBORTag
from card.cose import COSEError, decode_sign1, parse_sign1, sig_structure, verify_sign1
from card.keys import FileSigner, generate_private_key

PAYLOAD = b"payload bytes"


@pytest.fixture(scope="module")
def signer() -> FileSigner:
    return FileSigner(generate_private_key())


def message(signer: FileSigner, protected: dict | bytes, unprotected: dict | None = None, *,
            payload: bytes | None = PAYLOAD, signature: bytes | None = None, tag: int | None = 18) -> bytes:
    """Build a COSE_Sign1 with the given headers, signed by signer over the protected bytes used."""
    protected_bytes = protected if isinstance(protected, bytes) else cbor.encode(protected)
    if signature is None:
        signature = signer.sign(sig_structure(protected_bytes, payload or b""))
    body = [protected_bytes, unprotected or {}, payload, signature]
    return cbor.encode(CBORTag(tag, body) if tag is not None else body)


def profile_header(signer: FileSigner, **extra) -> dict:
    return {1: -7, 4: signer.kid, **extra}


def test_project_message_verifies(signer) -> None:
    data = cose.sign1(PAYLOAD, signer)
    parsed = decode_sign1(data)
    assert parsed.kid == signer.kid
    assert parsed.payload == PAYLOAD
    assert verify_sign1(parsed, signer.public_key)


def test_protected_header_checked_as_received(signer) -> None:
    data = cose.sign1(PAYLOAD, signer)
    parsed = decode_sign1(data)
    assert parsed.protected == cbor.encode(profile_header(signer))
    assert parsed.to_be_signed() == sig_structure(parsed.protected, PAYLOAD)
    # The same header with one more label is other bytes, so the signature fails.
    forged = message(signer, profile_header(signer, **{"99": 1}), signature=parsed.signature)
    assert not verify_sign1(decode_sign1(forged), signer.public_key)


def test_crit_header_rejected(signer) -> None:
    with pytest.raises(COSEError, match="crit header"):
        decode_sign1(message(signer, {1: -7, 2: [99], 4: signer.kid, 99: 1}))
    with pytest.raises(COSEError, match="crit header"):
        decode_sign1(message(signer, profile_header(signer), {2: [4]}))


def test_algorithm_only_from_protected_header(signer) -> None:
    with pytest.raises(COSEError, match="must be in the protected header"):
        decode_sign1(message(signer, {4: signer.kid}, {1: -7}))
    with pytest.raises(COSEError, match="no algorithm"):
        decode_sign1(message(signer, {4: signer.kid}))


@pytest.mark.parametrize("alg", [-35, -36, -8, -257, 0, "ES256", b"\xf9", None])
def test_algorithm_other_than_es256_rejected(signer, alg) -> None:
    protected = {4: signer.kid} if alg is None else {1: alg, 4: signer.kid}
    with pytest.raises(COSEError, match="algorithm"):
        decode_sign1(message(signer, protected))


def test_label_in_both_headers_rejected(signer) -> None:
    with pytest.raises(COSEError, match="both the protected and unprotected"):
        decode_sign1(message(signer, profile_header(signer), {4: signer.kid}))


def test_unknown_unprotected_label_ignored(signer) -> None:
    data = message(signer, profile_header(signer), {"note": "not signed", 33: b"x"})
    assert verify_sign1(decode_sign1(data), signer.public_key)


@pytest.mark.parametrize("size", [0, 63, 65, 72])
def test_signature_must_be_64_raw_bytes(signer, size) -> None:
    with pytest.raises(COSEError, match=f"64 bytes .*got {size}"):
        decode_sign1(message(signer, profile_header(signer), signature=bytes(size)))


def test_der_signature_rejected(signer) -> None:
    from card.keys import raw_to_der

    raw = signer.sign(sig_structure(cbor.encode(profile_header(signer)), PAYLOAD))
    with pytest.raises(COSEError, match="64 bytes"):
        decode_sign1(message(signer, profile_header(signer), signature=raw_to_der(raw)))


def test_detached_payload_rejected(signer) -> None:
    with pytest.raises(COSEError, match="detached payload"):
        decode_sign1(message(signer, profile_header(signer), payload=None))


def test_tag_required_by_project_profile(signer) -> None:
    untagged = message(signer, profile_header(signer), tag=None)
    with pytest.raises(COSEError, match="not a tagged COSE_Sign1 message"):
        decode_sign1(untagged)
    parsed = parse_sign1(untagged, require_tag=False)
    assert verify_sign1(parsed, signer.public_key)


@pytest.mark.parametrize("tag", [17, 98, 61, 998])
def test_wrong_tag_rejected(signer, tag) -> None:
    data = message(signer, profile_header(signer), tag=tag)
    with pytest.raises(COSEError, match=f"tag {tag}"):
        parse_sign1(data, require_tag=False)


@pytest.mark.parametrize(
    "body, match",
    [
        ([], "array of 4"),
        ([b"", {}, b""], "array of 4"),
        ([b"", {}, b"", bytes(64), b""], "array of 4"),
        ({1: 2}, "array of 4"),
        (["a1", {}, b"", bytes(64)], "protected header must be a byte string"),
        ([b"", [], b"", bytes(64)], "unprotected header must be a map"),
        ([b"", {}, "text", bytes(64)], "payload must be a byte string"),
        ([bytes.fromhex("8101"), {}, b"", bytes(64)], "protected header must be a map"),
        ([bytes.fromhex("a10126ff"), {}, b"", bytes(64)], "protected header is not strict CBOR"),
        ([bytes.fromhex("a1012600"), {}, b"", bytes(64)], "protected header is not strict CBOR"),
    ],
)
def test_malformed_envelope_rejected(body, match) -> None:
    with pytest.raises(COSEError, match=match):
        decode_sign1(cbor.encode(CBORTag(18, body)))


def test_non_strict_envelope_rejected(signer) -> None:
    data = bytearray(cose.sign1(PAYLOAD, signer))
    # Re-encode the array head 0x84 as the non-shortest 0x98 0x04.
    assert data[1] == 0x84
    with pytest.raises(COSEError, match="not strict CBOR: .*shortest form"):
        decode_sign1(bytes(data[:1] + b"\x98\x04" + data[2:]))


@pytest.mark.parametrize(
    "protected, match",
    [
        ({1: -7}, "no kid"),
        ({1: -7, 4: b"1234567"}, "kid must be 8 bytes, got 7"),
        ({1: -7, 4: "12345678"}, "kid must be a byte string"),
    ],
)
def test_project_kid_rule(signer, protected, match) -> None:
    with pytest.raises(COSEError, match=match):
        decode_sign1(message(signer, protected))


def test_wrong_key_does_not_verify(signer) -> None:
    other = FileSigner(generate_private_key())
    assert not verify_sign1(decode_sign1(cose.sign1(PAYLOAD, signer)), other.public_key)


def test_size_limit_applies_before_parsing(signer) -> None:
    data = cose.sign1(b"x" * 2000, signer)
    assert decode_sign1(data, max_size=len(data)).payload == b"x" * 2000
    with pytest.raises(COSEError, match=f"{len(data)} bytes exceeds the limit of 1000 bytes"):
        decode_sign1(data, max_size=1000)
