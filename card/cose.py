"""COSE_Sign1 (RFC 9052) with ES256, the envelope of every signed object.

The message is the tagged array 18([protected: bstr, unprotected: map,
payload: bstr, signature: bstr]). Rules that the decoder enforces:

- The message and both headers are strict CBOR (card.cbor).
- The algorithm comes from the protected header alone and must be ES256
  (-7). An alg label in the unprotected header is rejected.
- A crit header (label 2) is rejected in either bucket, because this
  verifier implements no header extension and so cannot honour one marked
  critical. Other unknown labels carry no meaning here and are ignored.
- A label must not occur in both buckets (RFC 9052 section 3).
- The payload is attached (a byte string, not nil) and the signature is the
  raw r||s form of exactly 64 bytes.

The signature is checked over the Sig_structure built from the protected
header bytes exactly as received, never from a re-encoding of them.

parse_sign1() applies these rules. decode_sign1() adds the project
profile: the tag is required and the protected header carries an 8-byte kid,
the issuer or terminal key id that a verifier looks up.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from card import cbor
from card.keys import verify_raw

__all__ = [
    "COSEError",
    "Signer",
    "Sign1",
    "COSE_SIGN1_TAG",
    "ALG_ES256",
    "sign1",
    "parse_sign1",
    "decode_sign1",
    "common_layout_parts",
    "sig_structure",
    "verify_sign1",
]

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_KID = 4
ALG_ES256 = -7
KID_SIZE = 8
SIGNATURE_SIZE = 64


class COSEError(ValueError):
    """A COSE_Sign1 message is malformed or uses an unsupported algorithm or header."""


class Signer(Protocol):
    kid: bytes

    def sign(self, data: bytes) -> bytes:
        """Return the raw r||s ES256 signature of data."""


@dataclass(frozen=True)
class Sign1:
    """A decoded, not yet verified COSE_Sign1 message.

    protected is the protected header as the byte string received, which is
    what the signature covers. kid is the protected header's kid, or None.
    """

    protected: bytes
    kid: bytes | None
    payload: bytes
    signature: bytes
    protected_header: Mapping = field(default_factory=dict, compare=False)
    unprotected_header: Mapping = field(default_factory=dict, compare=False)

    def to_be_signed(self, external_aad: bytes = b"") -> bytes:
        return sig_structure(self.protected, self.payload, external_aad)


# The start of every Sig_structure: an array of 4 items, then the context "Signature1".
_SIG_STRUCTURE_START = b"\x84" + cbor.encode("Signature1")


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """Return the Sig_structure ["Signature1", protected, external_aad, payload] that ES256 signs."""
    return b"".join(
        (_SIG_STRUCTURE_START, cbor.encode_bytes(protected), cbor.encode_bytes(external_aad), cbor.encode_bytes(payload))
    )


def sign1(payload: bytes, signer: Signer) -> bytes:
    """Sign payload and return the tagged COSE_Sign1 bytes."""
    protected = cbor.encode({HEADER_ALG: ALG_ES256, HEADER_KID: signer.kid})
    signature = signer.sign(sig_structure(protected, payload))
    return cbor.encode(cbor.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def parse_sign1(data: bytes, *, require_tag: bool = True, max_size: int = cbor.MAX_SIZE) -> Sign1:
    """Parse COSE_Sign1 bytes under the rules in the module docstring; raise COSEError on any fault.

    With require_tag=False an untagged message is accepted too, as RFC 9052
    allows where the context fixes the type. A wrong tag is always rejected.
    A message larger than max_size bytes is rejected before it is parsed.
    """
    parts = _split_common_layout(data) if len(data) <= max_size else None
    if parts is not None:
        protected, payload, signature = parts
        header, problem = _protected_header(protected)
        if problem is not None:
            raise COSEError(problem)
        return Sign1(protected, header.get(HEADER_KID), payload, signature, header, {})
    try:
        item = cbor.decode(data, outer_tags=(COSE_SIGN1_TAG,), max_size=max_size)
    except cbor.CBORError as exc:
        raise COSEError(f"COSE_Sign1 message is not strict CBOR: {exc}") from None
    if isinstance(item, cbor.CBORTag):
        item = item.value
    elif require_tag:
        raise COSEError("not a tagged COSE_Sign1 message (tag 18)")
    if not isinstance(item, list) or len(item) != 4:
        raise COSEError("COSE_Sign1 message must be an array of 4 items")
    protected, unprotected, payload, signature = item
    if not isinstance(protected, bytes):
        raise COSEError("COSE_Sign1 protected header must be a byte string")
    if not isinstance(unprotected, dict):
        raise COSEError("COSE_Sign1 unprotected header must be a map")
    if payload is None:
        raise COSEError("COSE_Sign1 detached payload (nil) is not supported")
    if not isinstance(payload, bytes):
        raise COSEError("COSE_Sign1 payload must be a byte string")
    header, problem = _protected_header(protected)
    if unprotected:
        _check_unprotected(header, unprotected)
    if problem is not None:
        raise COSEError(problem)
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        size = len(signature) if isinstance(signature, bytes) else type(signature).__name__
        raise COSEError(f"ES256 signature must be a byte string of {SIGNATURE_SIZE} bytes (raw r||s), got {size}")
    return Sign1(protected, header.get(HEADER_KID), payload, signature, header, unprotected)


# The layout that sign1() writes: tag 18, an array of 4, a byte string, an
# empty map, a byte string and a 64-byte string.
_COMMON_START = b"\xd2\x84"
_EMPTY_MAP = 0xA0
_SIGNATURE_HEAD = b"\x58\x40"
# external_aad in a Sig_structure: an empty byte string.
_EMPTY_AAD = b"\x40"
# Tag and array heads, an empty protected header, the empty map, an empty payload and the signature.
_SMALLEST_COMMON_LAYOUT = 2 + 1 + 1 + 1 + 2 + SIGNATURE_SIZE


def _split_common_layout(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Return protected, payload and signature when data has exactly the layout that sign1() writes, else None.

    Most messages have this layout, and slicing it is several times faster
    than the general decoder. A message accepted here is strict CBOR: each
    head is checked for its shortest form and the signature ends the input.
    Any other message returns None and goes through cbor.decode(), which
    accepts or rejects it with the reason.
    """
    if data[:2] != _COMMON_START:
        return None
    protected, position = _short_byte_string(data, 2)
    if protected is None or position >= len(data) or data[position] != _EMPTY_MAP:
        return None
    payload, position = _short_byte_string(data, position + 1)
    if payload is None or len(data) != position + 2 + SIGNATURE_SIZE or data[position : position + 2] != _SIGNATURE_HEAD:
        return None
    return protected, payload, bytes(data[position + 2 :])


def _short_byte_string(data: bytes, offset: int) -> tuple[bytes | None, int]:
    """Slice the byte string at offset if its head is one or two bytes in shortest form, else return (None, offset)."""
    if offset >= len(data):
        return None, offset
    initial = data[offset]
    if 0x40 <= initial < 0x58:
        start = offset + 1
        end = start + initial - 0x40
    elif initial == 0x58 and offset + 1 < len(data) and data[offset + 1] >= 24:
        start = offset + 2
        end = start + data[offset + 1]
    else:
        return None, offset
    if end > len(data):
        return None, offset
    return bytes(data[start:end]), end


def common_layout_parts(data: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
    """Return kid, Sig_structure, payload and signature of a message in sign1()'s layout, or None.

    This is what a verifier needs from a message that decode_sign1() would
    accept, without building a Sign1. None means the message has another
    layout or breaks a rule, and the caller should use decode_sign1(), which
    accepts or rejects it with the reason. The layout checks are those of
    _split_common_layout(), written inline because every QR verification
    runs them.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size < _SMALLEST_COMMON_LAYOUT or data[:2] != _COMMON_START:
        return None

    head = data[2]
    if 0x40 <= head < 0x58:
        protected_end = 3 + head - 0x40
        protected = data[3:protected_end]
    elif head == 0x58 and data[3] >= 24:
        protected_end = 4 + data[3]
        protected = data[4:protected_end]
    else:
        return None
    payload_item = protected_end + 1
    if payload_item >= size or data[protected_end] != _EMPTY_MAP:
        return None

    head = data[payload_item]
    if 0x40 <= head < 0x58:
        payload_start = payload_item + 1
        payload_end = payload_start + head - 0x40
    elif head == 0x58 and payload_item + 1 < size and data[payload_item + 1] >= 24:
        payload_start = payload_item + 2
        payload_end = payload_start + data[payload_item + 1]
    else:
        return None
    if size != payload_end + 2 + SIGNATURE_SIZE or data[payload_end : payload_end + 2] != _SIGNATURE_HEAD:
        return None

    try:
        header, problem = _protected_header(protected)
    except COSEError:
        return None
    kid = header.get(HEADER_KID)
    if problem is not None or kid is None or len(kid) != KID_SIZE:
        return None
    # The Sig_structure contains the protected header and payload items as
    # the message encodes them, heads included, so they are cut from it.
    to_be_signed = b"".join(
        (_SIG_STRUCTURE_START, data[2:protected_end], _EMPTY_AAD, data[payload_item:payload_end])
    )
    return kid, to_be_signed, data[payload_start:payload_end], data[payload_end + 2 :]


def decode_sign1(data: bytes, *, max_size: int = cbor.MAX_SIZE) -> Sign1:
    """Parse a Kartu Bahagia COSE_Sign1: tagged, ES256, with an 8-byte kid in the protected header."""
    message = parse_sign1(data, require_tag=True, max_size=max_size)
    if message.kid is None:
        raise COSEError("protected header has no kid (label 4)")
    if len(message.kid) != KID_SIZE:
        raise COSEError(f"protected header kid must be {KID_SIZE} bytes, got {len(message.kid)}")
    return message


@functools.lru_cache(maxsize=64)
def _protected_header(protected: bytes) -> tuple[Mapping, str | None]:
    """Decode a protected header; return it as a read-only map and the rule it breaks, if any.

    Every message of one signer carries the same protected header bytes, so
    the result is cached by those bytes. A header that is not strict CBOR
    raises COSEError and is not cached.
    """
    # RFC 9052 section 3: an empty protected header is a zero-length byte string.
    if not protected:
        return MappingProxyType({}), "protected header has no algorithm (label 1)"
    try:
        header = cbor.decode(protected)
    except cbor.CBORError as exc:
        raise COSEError(f"protected header is not strict CBOR: {exc}") from None
    if not isinstance(header, dict):
        raise COSEError("protected header must be a map")
    return MappingProxyType(header), _protected_header_problem(header)


def _protected_header_problem(header: dict) -> str | None:
    if HEADER_CRIT in header:
        return "crit header (label 2) is not supported: this verifier implements no critical extension"
    alg = header.get(HEADER_ALG)
    if alg is None:
        return "protected header has no algorithm (label 1)"
    if alg != ALG_ES256:
        return f"algorithm {alg!r} is not ES256 (-7), the only one accepted"
    kid = header.get(HEADER_KID)
    if kid is not None and not isinstance(kid, bytes):
        return f"protected header kid must be a byte string, got {type(kid).__name__}"
    return None


def _check_unprotected(protected: Mapping, unprotected: dict) -> None:
    if HEADER_CRIT in unprotected:
        raise COSEError("crit header (label 2) is not supported: this verifier implements no critical extension")
    if HEADER_ALG in unprotected:
        raise COSEError("algorithm (label 1) must be in the protected header, not the unprotected one")
    both = protected.keys() & unprotected.keys()
    if both:
        raise COSEError(f"header labels {sorted(map(repr, both))} occur in both the protected and unprotected header")


def verify_sign1(message: Sign1, public_key: ec.EllipticCurvePublicKey, external_aad: bytes = b"") -> bool:
    """Check the ES256 signature of a parsed message with public_key; a wrong signature gives False."""
    return verify_raw(public_key, message.signature, message.to_be_signed(external_aad))
