"""The QR credential's text form: "KB1:" followed by Base45 of the COSE_Sign1 bytes.

The bytes are deflated (zlib) only when that makes them shorter. The two
forms are told apart by their first byte: a tagged COSE_Sign1 starts with
0xD2 (tag 18), a zlib stream with 0x78.
"""

from __future__ import annotations

import zlib

from card.base45 import Base45Error, b45decode, b45encode

__all__ = ["PREFIX", "MAX_TEXT_LENGTH", "MAX_MESSAGE_SIZE", "QRTextError", "to_qr_text", "from_qr_text"]

PREFIX = "KB1:"
# QR version 10 at level M holds 311 alphanumeric characters; anything much
# longer cannot have come from a Kartu Bahagia card.
MAX_TEXT_LENGTH = 1024
MAX_MESSAGE_SIZE = 1024
COSE_FIRST_BYTE = 0xD2
ZLIB_FIRST_BYTE = 0x78


class QRTextError(ValueError):
    """QR text is not a Kartu Bahagia QR credential."""


def to_qr_text(message: bytes) -> str:
    deflated = zlib.compress(message, 9)
    body = deflated if len(deflated) < len(message) else message
    return PREFIX + b45encode(body)


def from_qr_text(text: str) -> bytes:
    """Return the COSE_Sign1 bytes of a QR text, inflating at most MAX_MESSAGE_SIZE bytes."""
    if not text.startswith(PREFIX):
        raise QRTextError(f"QR text does not start with {PREFIX!r}")
    if len(text) > MAX_TEXT_LENGTH:
        raise QRTextError(f"QR text has {len(text)} characters, more than {MAX_TEXT_LENGTH}")
    try:
        body = b45decode(text[len(PREFIX):])
    except Base45Error as exc:
        raise QRTextError(str(exc)) from None
    if not body:
        raise QRTextError("QR text has nothing after the prefix")
    if body[0] == COSE_FIRST_BYTE:
        return body
    if body[0] != ZLIB_FIRST_BYTE:
        raise QRTextError(f"QR payload starts with byte 0x{body[0]:02X}, neither COSE_Sign1 nor zlib")
    inflater = zlib.decompressobj()
    try:
        message = inflater.decompress(body, MAX_MESSAGE_SIZE)
    except zlib.error as exc:
        raise QRTextError(f"QR payload is not a valid zlib stream: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise QRTextError(f"QR payload is truncated or inflates beyond {MAX_MESSAGE_SIZE} bytes")
    if inflater.unused_data:
        raise QRTextError("QR payload has bytes after the zlib stream")
    return message
