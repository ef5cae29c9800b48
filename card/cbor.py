"""CBOR helpers: deterministic encoding and decoding that rejects trailing bytes."""

from __future__ import annotations

import io
from typing import Any

import cbor2

__all__ = ["CBORError", "encode", "decode"]


class CBORError(ValueError):
    """The bytes are not one well-formed CBOR data item."""


def encode(value: Any) -> bytes:
    """Encode value with the deterministic (canonical) CBOR rules of RFC 8949 section 4.2."""
    return cbor2.dumps(value, canonical=True)


def decode(data: bytes) -> Any:
    """Decode exactly one CBOR data item; trailing bytes raise CBORError."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CBORError(f"invalid CBOR: {exc}") from None
    if stream.tell() != len(data):
        raise CBORError(f"{len(data) - stream.tell()} trailing bytes after the CBOR item")
    return value
