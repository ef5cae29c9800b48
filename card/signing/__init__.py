"""Signing keys behind one interface: key files and PKCS#11 tokens.

A key reference (KEYREF) names a signing key in one of two forms:
  - a path to a PKCS#8 PEM private key file with mode 0600 (card.keys), for
    development and the demo;
  - a PKCS#11 URI (RFC 7512) such as
    "pkcs11:token=kota-jambi;object=issuer-2027?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/etc/kartu/token.pin"
    for a key on an HSM or a clerk's token (card.signing.pkcs11).
Every backend returns an object with `kid`, `public_key` and
`sign(data) -> raw r||s ES256 signature`, which is what card.cose.sign1
takes.

The PKCS#11 backend loads the `pkcs11` package (python-pkcs11) only when a
pkcs11: reference is opened, so the rest of card/ keeps to the standard
library, cryptography and cbor2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from card.keys import FileSigner, KeyFileError, generate_private_key, save_private_key

__all__ = ["Signer", "SignerError", "PKCS11_SCHEME", "is_pkcs11_uri", "open_signer", "create_key"]

PKCS11_SCHEME = "pkcs11:"


class SignerError(Exception):
    """A signing key cannot be opened, created or used; the message names the key reference."""


class Signer(Protocol):
    kid: bytes
    public_key: ec.EllipticCurvePublicKey

    def sign(self, data: bytes) -> bytes:
        """Return the raw r||s ES256 signature of data (64 bytes)."""


def is_pkcs11_uri(reference: str | os.PathLike) -> bool:
    return str(reference).startswith(PKCS11_SCHEME)


def open_signer(reference: str | os.PathLike) -> Signer:
    """Open the signing key named by reference: a PKCS#11 URI or a key file path."""
    if is_pkcs11_uri(reference):
        from card.signing.pkcs11 import Pkcs11Signer

        return Pkcs11Signer.open(str(reference))
    try:
        return FileSigner.from_file(reference)
    except KeyFileError as exc:
        raise SignerError(str(exc)) from None


def create_key(reference: str | os.PathLike) -> Signer:
    """Generate a new P-256 key at reference and return its signer; never replace an existing key."""
    if is_pkcs11_uri(reference):
        from card.signing.pkcs11 import generate_token_key

        return generate_token_key(str(reference))
    path = Path(reference)
    if path.exists():
        raise SignerError(f"key file {path} already exists; keys are never overwritten, choose another path")
    private_key = generate_private_key()
    save_private_key(private_key, path)
    return FileSigner(private_key)
