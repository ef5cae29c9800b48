"""ECDSA P-256 keys: key ids, key files and the file-key signer.

A key is named by its kid, the first 8 bytes of the SHA-256 of its
SubjectPublicKeyInfo (DER). Private key files are PKCS#8 PEM with mode 0600;
loading one that group or others can read raises KeyFileError.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
)

__all__ = [
    "ES256",
    "ES256_PREHASHED",
    "KeyFileError",
    "FileSigner",
    "generate_private_key",
    "kid_of",
    "compress_point",
    "decompress_point",
    "raw_to_der",
    "der_to_raw",
    "verify_raw",
    "verify_der_prehashed",
    "save_private_key",
    "load_private_key",
    "save_public_key",
    "load_public_key",
    "public_key_from_spki",
    "spki_of",
]

CURVE = ec.SECP256R1()
COORDINATE_SIZE = 32
# The ECDSA algorithm object is immutable, so one instance serves every
# verification instead of being built per call.
ES256 = ec.ECDSA(hashes.SHA256())
# ES256 over a SHA-256 digest computed by the caller.
ES256_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


class KeyFileError(Exception):
    """A key file is missing, unreadable, malformed or has unsafe permissions."""


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVE)


def spki_of(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_spki(der: bytes) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key from SubjectPublicKeyInfo DER; raise ValueError otherwise."""
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != CURVE.name:
        raise ValueError("public key is not an ECDSA P-256 key")
    return key


def kid_of(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(spki_of(public_key)).digest()[:8]


def compress_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


def uncompress_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Return the 65-byte uncompressed X9.62 point of a P-256 public key."""
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def decompress_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """Load a P-256 public key from an X9.62 point; raise ValueError if it is not on the curve."""
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)


# DER heads of a signature whose r and s both have a non-zero first byte, by
# whether that byte has its top bit set (then the INTEGER needs a 0x00 first).
_DER_STARTS = {
    (0, 0): b"\x30\x44\x02\x20", (1, 0): b"\x30\x45\x02\x21\x00",
    (0, 1): b"\x30\x45\x02\x20", (1, 1): b"\x30\x46\x02\x21\x00",
}
_DER_MIDDLES = {0: b"\x02\x20", 1: b"\x02\x21\x00"}


def raw_to_der(signature: bytes) -> bytes:
    """Convert a raw r||s ECDSA signature to DER: SEQUENCE { INTEGER r, INTEGER s }.

    Gives the same bytes as encode_dss_signature(r, s). Working on the byte
    strings takes about half its time (timeit), and every QR verification
    converts one signature.
    """
    if len(signature) != 2 * COORDINATE_SIZE:
        raise ValueError(f"raw ECDSA signature must be 64 bytes, got {len(signature)}")
    r_first, s_first = signature[0], signature[COORDINATE_SIZE]
    if r_first and s_first:
        # A non-zero first byte (255 of 256 values) means the integer fills all
        # 32 bytes, so DER adds at most a 0x00 before a set top bit.
        return b"".join((
            _DER_STARTS[r_first >> 7, s_first >> 7], signature[:COORDINATE_SIZE],
            _DER_MIDDLES[s_first >> 7], signature[COORDINATE_SIZE:],
        ))
    # A DER INTEGER has no leading zero byte, except one where the sign bit would be set or the value is 0.
    r = signature[:COORDINATE_SIZE].lstrip(b"\x00")
    if not r or r[0] & 0x80:
        r = b"\x00" + r
    s = signature[COORDINATE_SIZE:].lstrip(b"\x00")
    if not s or s[0] & 0x80:
        s = b"\x00" + s
    # At most 33 bytes each, so every length fits the one-byte short form.
    return b"".join((bytes((0x30, len(r) + len(s) + 4, 0x02, len(r))), r, bytes((0x02, len(s))), s))


def der_to_raw(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return r.to_bytes(COORDINATE_SIZE, "big") + s.to_bytes(COORDINATE_SIZE, "big")


def verify_raw(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """Verify a raw r||s ES256 signature over data; any malformed input gives False.

    The data is hashed with hashlib and the digest verified, which gives the
    same result as verifying with ES256 and is about 5 us faster per call (timeit).
    """
    try:
        public_key.verify(raw_to_der(signature), hashlib.sha256(data).digest(), ES256_PREHASHED)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_der_prehashed(public_key: ec.EllipticCurvePublicKey, signature: bytes, digest: bytes) -> bool:
    """Verify a DER ECDSA signature over a SHA-256 digest, as a PIV card returns it."""
    if len(digest) != 32:
        return False
    try:
        public_key.verify(signature, digest, ES256_PREHASHED)
    except (InvalidSignature, ValueError):
        return False
    return True


class FileSigner:
    """ES256 signer over a private key loaded from a 0600 key file."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.kid = kid_of(self.public_key)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "FileSigner":
        return cls(load_private_key(path))

    def sign(self, data: bytes) -> bytes:
        """Sign data with ES256 and return the raw r||s signature (64 bytes)."""
        der = self._private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        return der_to_raw(der)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def save_private_key(private_key: ec.EllipticCurvePrivateKey, path: str | os.PathLike) -> None:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(Path(path), pem)


def load_private_key(path: str | os.PathLike) -> ec.EllipticCurvePrivateKey:
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} has mode {stat.S_IMODE(mode):04o}; "
            f"restrict it with 'chmod 600 {path}' and try again"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"key file {path} is not an unencrypted PKCS#8 PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
        raise KeyFileError(f"key file {path} does not contain an ECDSA P-256 key")
    return key


def save_public_key(public_key: ec.EllipticCurvePublicKey, path: str | os.PathLike) -> None:
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    Path(path).write_bytes(pem)


def load_public_key(path: str | os.PathLike) -> ec.EllipticCurvePublicKey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read public key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"public key file {path} is not a PEM SubjectPublicKeyInfo") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != CURVE.name:
        raise KeyFileError(f"public key file {path} does not contain an ECDSA P-256 key")
    return key
