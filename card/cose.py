"""COSE_Sign1 (RFC 9052) with ES256, the envelope of every signed object.

The message is the tagged array 18([protected: bstr, unprotected: map,
payload: bstr, signature: bstr]). The protected header carries alg (-7, ES256)
and kid. Verification uses the protected header exactly as received and
takes the algorithm from it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Protocol

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from card import cbor
from card.keys import verify_raw

__all__ = ["COSEError", "Signer", "Sign1", "sign1", "decode_sign1", "verify_sign1"]

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_KID = 4
ALG_ES256 = -7

class COSEError(ValueError):
    """A COSE_Sign1 message is malformed or uses an unsupported algorithm."""

class Signer(Protocol):
    kid: bytes

    def sign(self, data: bytes) -> bytes:
        """Return the raw r||s ES256 signature of data."""

@dataclass(frozen=True)
class Sign1:
    """A decoded, not yet verified COSE_Sign1 message."""

    protected: bytes
    kid: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return _sig_structure(self.protected, self.payload)

def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor.encode(["Signature1", protected, b"", payload])

def sign1(payload: bytes, signer: Signer) -> bytes:
    """Sign payload and return the tagged COSE_Sign1 bytes."""
    protected = cbor.encode({HEADER_ALG: ALG_ES256, HEADER_KID: signer.kid})
    signature = signer.sign(_sig_structure(protected, payload))
    return cbor.encode(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))

def decode_sign1(data: bytes) -> Sign1:
    """Parse COSE_Sign1 bytes; raise COSEError on any structural fault."""
    try:
        item = cbor.decode(data)
    except cbor.CBORError as exc:
        raise COSEError(str(exc)) from None
    if not isinstance(item, cbor2.CBORTag) or item.tag != COSE_SIGN1_TAG:
        raise COSEError("not a tagged COSE_Sign1 message (tag 18)")
    parts = item.value
    # cbor2 decodes arrays and maps inside a tag as tuple and frozendict.
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise COSEError("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes) or not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise COSEError("COSE_Sign1 protected header, payload and signature must be byte strings")
    if not isinstance(unprotected, Mapping):
        raise COSEError("COSE_Sign1 unprotected header must be a map")
    try:
        header = cbor.decode(protected)
    except cbor.CBORError as exc:
        raise COSEError(f"protected header: {exc}") from None
    if not isinstance(header, dict):
        raise COSEError("protected header must be a map")
    if header.get(HEADER_ALG) != ALG_ES256:
        raise COSEError(f"algorithm {header.get(HEADER_ALG)!r} is not ES256 (-7)")
    kid = header.get(HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise COSEError("protected header kid must be 8 bytes")
    if len(signature) != 64:
        raise COSEError(f"ES256 signature must be 64 bytes, got {len(signature)}")
    return Sign1(protected=protected, kid=kid, payload=payload, signature=signature)

def verify_sign1(message: Sign1, public_key: ec.EllipticCurvePublicKey) -> bool:
    return verify_raw(public_key, message.signature, message.to_be_signed())
