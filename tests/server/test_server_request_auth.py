"""card.request_auth: canonical form, signing and verification, to the second."""

from __future__ import annotations

import base64
import hashlib

import pytest

from card.keys import FileSigner, generate_private_key
from card.request_auth import (
    HEADER_SIGNATURE,
    HEADER_TERMINAL,
    HEADER_TIME,
    BadSignatureError,
    ClockSkewError,
    InvalidHeaderError,
    canonical_request,
    check_request,
    sign_request,
    verify_request,
)

NOW = 1_773_543_600
PATH = "/api/v1/sync/entitlements?program=lpg"


@pytest.fixture(scope="module")
def signer() -> FileSigner:
    return FileSigner(generate_private_key())


def test_canonical_request_layout():
    body = b'{"records": []}'
    expected = f"POST\n/api/v1/sync/redemptions\n{NOW}\n{hashlib.sha256(body).hexdigest()}".encode()
    assert canonical_request("post", "/api/v1/sync/redemptions", NOW, body) == expected


def test_canonical_request_empty_body():
    empty_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert canonical_request("GET", PATH, NOW, b"").endswith(empty_hash.encode())


def test_sign_request_headers(signer):
    headers = sign_request(signer, "T-1", "GET", PATH, NOW, b"")
    assert headers[HEADER_TERMINAL] == "T-1"
    assert headers[HEADER_TIME] == str(NOW)
    signature = headers[HEADER_SIGNATURE]
    assert "=" not in signature
    assert len(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))) == 64


def test_verify_accepts_signed_request(signer):
    headers = sign_request(signer, "T-1", "POST", "/x", NOW, b"body")
    assert verify_request(signer.public_key, "POST", "/x", b"body", headers, NOW)


def test_header_names_case_insensitive(signer):
    headers = {key.lower(): value for key, value in sign_request(signer, "T-1", "GET", PATH, NOW, b"").items()}
    assert verify_request(signer.public_key, "GET", PATH, b"", headers, NOW)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("PUT", "/x", b"body"),
        ("POST", "/y", b"body"),
        ("POST", "/x?a=1", b"body"),
        ("POST", "/x", b"bodY"),
    ],
)
def test_verify_rejects_changed_request(signer, method, path, body):
    headers = sign_request(signer, "T-1", "POST", "/x", NOW, b"body")
    with pytest.raises(BadSignatureError):
        check_request(signer.public_key, method, path, body, headers, NOW)
    assert not verify_request(signer.public_key, method, path, body, headers, NOW)


def test_verify_rejects_other_key(signer):
    other = FileSigner(generate_private_key())
    headers = sign_request(other, "T-1", "GET", PATH, NOW, b"")
    assert not verify_request(signer.public_key, "GET", PATH, b"", headers, NOW)


@pytest.mark.parametrize("offset", [-300, 300])
def test_skew_at_limit_accepted(signer, offset):
    headers = sign_request(signer, "T-1", "GET", PATH, NOW + offset, b"")
    assert check_request(signer.public_key, "GET", PATH, b"", headers, NOW) == NOW + offset


@pytest.mark.parametrize("offset", [-301, 301])
def test_skew_past_limit_rejected(signer, offset):
    headers = sign_request(signer, "T-1", "GET", PATH, NOW + offset, b"")
    with pytest.raises(ClockSkewError) as caught:
        check_request(signer.public_key, "GET", PATH, b"", headers, NOW)
    assert caught.value.request_time == NOW + offset
    assert caught.value.server_time == NOW
    assert f"request time {NOW + offset} is 301 s away from server time {NOW}" in str(caught.value)


def test_custom_max_skew(signer):
    headers = sign_request(signer, "T-1", "GET", PATH, NOW - 11, b"")
    assert not verify_request(signer.public_key, "GET", PATH, b"", headers, NOW, max_skew=10)
    assert verify_request(signer.public_key, "GET", PATH, b"", headers, NOW, max_skew=11)


@pytest.mark.parametrize(
    "change, message",
    [
        ({HEADER_TIME: None}, "missing X-Kartu-Time header"),
        ({HEADER_SIGNATURE: None}, "missing X-Kartu-Signature header"),
        ({HEADER_TIME: "-5"}, "Unix seconds in decimal digits"),
        ({HEADER_TIME: "12e3"}, "Unix seconds in decimal digits"),
        ({HEADER_TIME: "9" * 13}, "Unix seconds in decimal digits"),
        ({HEADER_SIGNATURE: "not base64!"}, "is not base64url"),
        ({HEADER_SIGNATURE: "A" * 43 + " " + "A" * 43}, "is not base64url"),
        ({HEADER_SIGNATURE: "A" * 85}, "is not base64url"),
        ({HEADER_SIGNATURE: "AAAA"}, "64-byte r||s signature, got 3 bytes"),
    ],
)
def test_malformed_headers(signer, change, message):
    headers = sign_request(signer, "T-1", "GET", PATH, NOW, b"")
    for name, value in change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    with pytest.raises(InvalidHeaderError, match=message.replace("|", r"\|")):
        check_request(signer.public_key, "GET", PATH, b"", headers, NOW)
