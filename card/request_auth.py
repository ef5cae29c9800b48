"""Signed HTTP requests from a terminal to the central server.

A terminal authenticates each call with its enrolment key (ES256). It signs
the canonical request

    METHOD "\\n" PATH_WITH_QUERY "\\n" TIMESTAMP "\\n" hex(SHA-256(body))

METHOD is upper case. PATH_WITH_QUERY is the request target exactly as sent
on the wire: the percent-encoded path, then "?" and the raw query if there is
one. TIMESTAMP is Unix seconds in decimal, and body is the raw request body
(empty for GET). The request carries three headers:

    X-Kartu-Terminal   the terminal id
    X-Kartu-Time       TIMESTAMP
    X-Kartu-Signature  base64url (no padding) of the raw 64-byte r||s signature

The verifier rejects a request whose time is more than max_skew seconds from
its own clock. The signature does not cover the terminal id because the
verifier looks up the key by that id, so a signature made with another
terminal's key fails anyway.

NOTE: a captured request can be replayed within the skew window. The server's
push endpoint is idempotent and the pull endpoints only read, so a replay
changes nothing; TLS keeps requests from being captured in the first place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric import ec

from card.cose import Signer
from card.keys import verify_raw

__all__ = [
    "HEADER_TERMINAL",
    "HEADER_TIME",
    "HEADER_SIGNATURE",
    "DEFAULT_MAX_SKEW",
    "RequestAuthError",
    "InvalidHeaderError",
    "ClockSkewError",
    "BadSignatureError",
    "canonical_request",
    "sign_request",
    "check_request",
    "verify_request",
]

HEADER_TERMINAL = "X-Kartu-Terminal"
HEADER_TIME = "X-Kartu-Time"
HEADER_SIGNATURE = "X-Kartu-Signature"
DEFAULT_MAX_SKEW = 300

# Unix seconds fit in 10 digits until the year 2286; the limit stops absurd values early.
_MAX_TIMESTAMP_DIGITS = 12
_RAW_SIGNATURE_SIZE = 64
_BASE64URL_PATTERN = re.compile(r"^[A-Za-z0-9_-]*$")


class RequestAuthError(ValueError):
    """A terminal request is not authentic or not fresh."""


class InvalidHeaderError(RequestAuthError):
    """A signature header is missing or malformed."""


class ClockSkewError(RequestAuthError):
    """The request time is too far from the verifier's clock."""

    def __init__(self, request_time: int, server_time: int, max_skew: int):
        self.request_time = request_time
        self.server_time = server_time
        self.max_skew = max_skew
        super().__init__(
            f"request time {request_time} is {abs(server_time - request_time)} s away from "
            f"server time {server_time} (limit {max_skew} s); set the terminal clock"
        )


class BadSignatureError(RequestAuthError):
    """The request signature does not verify with the terminal's key."""


def canonical_request(method: str, path: str, timestamp: int, body: bytes) -> bytes:
    """Return the bytes that a terminal signs for one request."""
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{body_hash}".encode("utf-8")


def sign_request(
    signer: Signer, terminal_id: str, method: str, path: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Sign a request and return the three X-Kartu-* headers to send with it."""
    signature = signer.sign(canonical_request(method, path, timestamp, body))
    return {
        HEADER_TERMINAL: terminal_id,
        HEADER_TIME: str(timestamp),
        HEADER_SIGNATURE: base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii"),
    }


def _header_value(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    raise InvalidHeaderError(f"missing {name} header")


def _parse_timestamp(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise InvalidHeaderError(f"{HEADER_TIME} must be Unix seconds in decimal digits, got {text[:20]!r}")
    return int(text)


def _parse_signature(text: str) -> bytes:
    # b64decode skips characters outside the alphabet, so check them first.
    if not _BASE64URL_PATTERN.match(text):
        raise InvalidHeaderError(f"{HEADER_SIGNATURE} is not base64url")
    padded = text + "=" * (-len(text) % 4)
    try:
        signature = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidHeaderError(f"{HEADER_SIGNATURE} is not base64url") from None
    if len(signature) != _RAW_SIGNATURE_SIZE:
        raise InvalidHeaderError(
            f"{HEADER_SIGNATURE} must encode a {_RAW_SIGNATURE_SIZE}-byte r||s signature, got {len(signature)} bytes"
        )
    return signature


def check_request(
    public_key: ec.EllipticCurvePublicKey,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    now: int,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> int:
    """Verify the signature headers of a request and return its timestamp.

    Header names match case-insensitively. Raises InvalidHeaderError,
    ClockSkewError or BadSignatureError. The clock is checked first so that a
    terminal with a wrong clock learns that rather than "bad signature".
    """
    timestamp = _parse_timestamp(_header_value(headers, HEADER_TIME))
    signature = _parse_signature(_header_value(headers, HEADER_SIGNATURE))
    if abs(now - timestamp) > max_skew:
        raise ClockSkewError(timestamp, now, max_skew)
    if not verify_raw(public_key, signature, canonical_request(method, path, timestamp, body)):
        raise BadSignatureError("request signature does not verify with the terminal's enrolled key")
    return timestamp


def verify_request(
    public_key: ec.EllipticCurvePublicKey,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    now: int,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> bool:
    """Return True when check_request accepts the request, False otherwise."""
    try:
        check_request(public_key, method, path, body, headers, now, max_skew)
    except RequestAuthError:
        return False
    return True
