"""The trust list: every issuer, terminal and sync key, signed by the city root key.

A trust list is a COSE_Sign1 message signed by the root key, whose payload is
a CBOR map with unsigned integer keys:
  1 format version (uint, 1)
  2 sequence (uint): a terminal accepts only a list with a higher sequence
    than the one it holds, so an old list cannot be replayed
  3 issued at (int, Unix seconds)
  4 keys (array of key entries, at most one per kid)
Each key entry is a CBOR map:
  1 role (uint: 1 issuer, 2 terminal, 3 sync)
  2 public key (bytes, SubjectPublicKeyInfo DER of an ECDSA P-256 key)
  3 not before (int, days since 1970-01-01)
  4 not after (int, days since 1970-01-01)
  5 revoked from (int, days since 1970-01-01; absent unless revoked)
  6 label (text, at most 64 characters; absent when empty)

The validity window (inclusive, calendar days in WIB) is when the key may
sign: an issuer key signs credentials whose issued day falls inside it, a
sync key signs revocation lists issued inside it, a terminal key signs
redemption records made inside it. A credential signed inside the window
stays valid until its own expiry, so an issuer key rotated out of service
leaves its cards working. A key reported compromised gets a revoked-from
day: what it signed for that day or later is refused.

NOTE: the issued day is read from the signed credential itself, so whoever
holds a compromised issuer key can backdate credentials to before the
revoked-from day. Such cards are caught only by the card revocation list and
by the server, which registers every card with the kid that signed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum

from cryptography.hazmat.primitives.asymmetric import ec

from card import cbor, cose
from card.keys import kid_of, public_key_from_spki, spki_of
from card.verify import IssuerKey

__all__ = [
    "TrustListError",
    "Role",
    "KeyEntry",
    "TrustList",
    "sign_trust_list",
    "decode_trust_list",
    "issuer_keys",
]

FORMAT_VERSION = 1
MAX_LABEL_LENGTH = 64
EPOCH = date(1970, 1, 1)


class TrustListError(ValueError):
    """A trust list is malformed or not signed by the pinned root key."""


class Role(IntEnum):
    ISSUER = 1
    TERMINAL = 2
    SYNC = 3


@dataclass(frozen=True)
class KeyEntry:
    """One key of the trust list with its role, signing window and optional revocation day."""

    role: Role
    public_key: ec.EllipticCurvePublicKey
    not_before: date
    not_after: date
    revoked_from: date | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.not_after < self.not_before:
            raise TrustListError(
                f"key {self.kid.hex()} has not-after {self.not_after} before not-before {self.not_before}"
            )
        if len(self.label) > MAX_LABEL_LENGTH:
            raise TrustListError(f"key label {self.label[:20]!r}... is longer than {MAX_LABEL_LENGTH} characters")

    @property
    def kid(self) -> bytes:
        return kid_of(self.public_key)

    def may_sign_on(self, day: date) -> bool:
        """Return True when day is inside the signing window and before any revocation."""
        if self.revoked_from is not None and day >= self.revoked_from:
            return False
        return self.not_before <= day <= self.not_after


@dataclass(frozen=True)
class TrustList:
    sequence: int
    issued_at: int
    keys: tuple[KeyEntry, ...]

    def __post_init__(self) -> None:
        if self.sequence < 1:
            raise TrustListError(f"trust list sequence {self.sequence} must be 1 or more")
        kids = [entry.kid for entry in self.keys]
        duplicates = sorted({kid.hex() for kid in kids if kids.count(kid) > 1})
        if duplicates:
            raise TrustListError(f"trust list names keys {', '.join(duplicates)} more than once")

    def with_role(self, role: Role) -> list[KeyEntry]:
        return [entry for entry in self.keys if entry.role is role]


def _days(day: date) -> int:
    return (day - EPOCH).days


def _day(days: int, what: str) -> date:
    try:
        return EPOCH + timedelta(days=days)
    except OverflowError:
        raise TrustListError(f"{what} day number {days} is out of range") from None


def _encode_entry(entry: KeyEntry) -> dict:
    item = {
        1: int(entry.role),
        2: spki_of(entry.public_key),
        3: _days(entry.not_before),
        4: _days(entry.not_after),
    }
    if entry.revoked_from is not None:
        item[5] = _days(entry.revoked_from)
    if entry.label:
        item[6] = entry.label
    return item


def sign_trust_list(trust_list: TrustList, root: cose.Signer) -> bytes:
    """Return the trust list as COSE_Sign1 bytes signed by the root key."""
    payload = cbor.encode({
        1: FORMAT_VERSION,
        2: trust_list.sequence,
        3: trust_list.issued_at,
        4: [_encode_entry(entry) for entry in trust_list.keys],
    })
    return cose.sign1(payload, root)


_ENTRY_FIELDS = {1: int, 2: bytes, 3: int, 4: int, 5: int, 6: str}
_ENTRY_REQUIRED = {1, 2, 3, 4}


def _typed(item: Mapping, fields: dict[int, type | tuple[type, ...]], what: str) -> None:
    for key, value in item.items():
        kind = fields.get(key)
        if kind is None:
            raise TrustListError(f"{what} has unknown field {key!r}")
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = kind.__name__ if isinstance(kind, type) else "array"
            raise TrustListError(f"{what} field {key} must be {expected}, got {type(value).__name__}")


def _decode_entry(item: object, index: int) -> KeyEntry:
    what = f"trust list key {index}"
    if not isinstance(item, Mapping):
        raise TrustListError(f"{what} must be a CBOR map")
    _typed(item, _ENTRY_FIELDS, what)
    missing = sorted(_ENTRY_REQUIRED - item.keys())
    if missing:
        raise TrustListError(f"{what} misses fields {missing}")
    try:
        role = Role(item[1])
    except ValueError:
        raise TrustListError(f"{what} has role {item[1]}, not 1 (issuer), 2 (terminal) or 3 (sync)") from None
    try:
        public_key = public_key_from_spki(item[2])
    except ValueError as exc:
        raise TrustListError(f"{what}: {exc}") from None
    return KeyEntry(
        role=role,
        public_key=public_key,
        not_before=_day(item[3], f"{what} not-before"),
        not_after=_day(item[4], f"{what} not-after"),
        revoked_from=_day(item[5], f"{what} revoked-from") if 5 in item else None,
        label=item.get(6, ""),
    )


def _decode_payload(payload: bytes) -> TrustList:
    try:
        item = cbor.decode(payload)
    except cbor.CBORError as exc:
        raise TrustListError(f"trust list payload: {exc}") from None
    if not isinstance(item, Mapping):
        raise TrustListError("trust list payload must be a CBOR map")
    if cbor.encode(item) != payload:
        raise TrustListError("trust list payload is not deterministically encoded CBOR")
    _typed(item, {1: int, 2: int, 3: int, 4: (list, tuple)}, "trust list")
    missing = sorted({1, 2, 3, 4} - item.keys())
    if missing:
        raise TrustListError(f"trust list misses fields {missing}")
    if item[1] != FORMAT_VERSION:
        raise TrustListError(f"trust list format {item[1]} is not supported (expected {FORMAT_VERSION})")
    keys = tuple(_decode_entry(entry, index) for index, entry in enumerate(item[4]))
    return TrustList(sequence=item[2], issued_at=item[3], keys=keys)


def decode_trust_list(data: bytes, root_key: ec.EllipticCurvePublicKey) -> TrustList:
    """Verify a signed trust list against the pinned root key and decode it.

    The signature is checked before the payload is decoded. Raises
    TrustListError when the list is malformed, signed by another key or the
    signature is invalid.
    """
    try:
        message = cose.decode_sign1(data)
    except cose.COSEError as exc:
        raise TrustListError(f"trust list: {exc}") from None
    root_kid = kid_of(root_key)
    if message.kid != root_kid:
        raise TrustListError(
            f"trust list is signed by key {message.kid.hex()}, not by the pinned root key {root_kid.hex()}"
        )
    if not cose.verify_sign1(message, root_key):
        raise TrustListError(f"trust list signature by root key {root_kid.hex()} is invalid")
    return _decode_payload(message.payload)


def issuer_keys(trust_list: TrustList) -> list[IssuerKey]:
    """Return the issuer keys of a trust list as the verifier takes them."""
    return [
        IssuerKey(entry.public_key, entry.not_before, entry.not_after, entry.revoked_from)
        for entry in trust_list.with_role(Role.ISSUER)
    ]
