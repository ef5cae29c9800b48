"""The QR credential's text form: "KB1:" followed by Base45 of the COSE_Sign1 bytes.

The bytes are deflated (zlib) only when that makes them shorter. The two
forms are told apart by their first byte: a tagged COSE_Sign1 starts with
0xD2 (tag 18), a zlib stream with 0x78.

Decoding checks sizes before it does any work: the text is at most
MAX_TEXT_LENGTH characters, and a zlib stream is inflated into a buffer of at
most MAX_MESSAGE_SIZE bytes, so a zlib bomb is rejected after producing that
much output and no more.
"""

from __future__ import annotations

import zlib

from card.base45 import Base45Error, b45decode, b45encode

__all__ = ["PREFIX", "MAX_TEXT_LENGTH", "MAX_MESSAGE_SIZE", "QRTextError", "to_qr_text", "from_qr_text"]

PREFIX = "KB1:"
# QR version 10 at level M has room for 311 alphanumeric characters. The
# largest QR credential with an ASCII name takes 294 and one with 60
# two-byte letters 364 (bench/qr_sizes.py), so text near this limit did not
# come from a Kartu Bahagia card.
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
    """Return the COSE_Sign1 bytes of a QR text; raise QRTextError with the reason otherwise."""
    if not isinstance(text, str):
        raise QRTextError(f"QR text must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise QRTextError(f"QR text has {len(text)} characters, more than the limit of {MAX_TEXT_LENGTH}")
    if not text.startswith(PREFIX):
        raise QRTextError(f"QR text does not start with {PREFIX!r}")
    try:
        body = b45decode(text[len(PREFIX):])
    except Base45Error as exc:
        raise QRTextError(str(exc)) from None
    if not body:
        raise QRTextError(f"QR text has nothing after the prefix {PREFIX!r}")
    if body[0] == COSE_FIRST_BYTE:
        return body
    if body[0] != ZLIB_FIRST_BYTE:
        raise QRTextError(f"QR payload starts with byte 0x{body[0]:02X}, neither COSE_Sign1 (0xD2) nor zlib (0x78)")
    return _inflate(body)


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        message = inflater.decompress(body, MAX_MESSAGE_SIZE)
    except zlib.error as exc:
        raise QRTextError(f"QR payload is not a valid zlib stream: {exc}") from None
    if not inflater.eof:
        if len(message) >= MAX_MESSAGE_SIZE:
            raise QRTextError(f"QR payload inflates beyond the limit of {MAX_MESSAGE_SIZE} bytes")
        raise QRTextError("QR payload is a truncated zlib stream")
    if inflater.unused_data:
        raise QRTextError(f"QR payload has {len(inflater.unused_data)} bytes after the zlib stream")
    if not message or message[0] != COSE_FIRST_BYTE:
        raise QRTextError("QR payload inflates to something other than a COSE_Sign1 message")
    return message
