"""Card revocation lists: full and delta forms, signed by the server sync key.

A revocation list is a COSE_Sign1 message whose payload is a CBOR map with
unsigned integer keys:
  1 format version (uint, 1)
  2 kind (uint: 1 full, 2 delta)
  3 list version (uint): the version a terminal has after applying this list
  4 base version (uint, delta only): the version the delta applies to
  5 issued at (int, Unix seconds)
  6 added serials (bytes, serial coding below)
  7 removed serials (bytes, serial coding below; delta only, may be empty)
  8 count (uint): how many serials the full list contains after applying
A full list carries every revoked serial in key 6. A delta from base version
B to list version V adds and removes serials. A terminal that holds B applies
it; one that holds anything else asks for the full list instead.

Cards are keyed by their serial, the 11 digits between the region code 1571
and the Luhn check digit. The serial coding sorts the serials and writes the
first one, then each gap to the next, as unsigned LEB128 varints. Serials are
allocated densely per station, so gaps are small: 12,500 revoked cards among
250,000 take about one byte each (see docs/BENCHMARKS.md).

NOTE: card.cose decodes messages of at most card.cbor.MAX_SIZE (1 MiB), which
holds about a million revoked serials at one byte each. A larger list needs
splitting by serial range.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from card import cbor, cose
from card.cardnumber import REGION_PREFIX, SERIAL_DIGITS, is_valid_card_number

__all__ = [
    "RevocationError",
    "ListKind",
    "RevocationList",
    "CardRevocation",
    "RevokedSerials",
    "NO_REVOCATIONS",
    "serial_of",
    "encode_serials",
    "decode_serials",
    "sign_revocation_list",
    "decode_revocation_list",
]

FORMAT_VERSION = 1
MAX_SERIAL = 10**SERIAL_DIGITS - 1


class RevocationError(ValueError):
    """A revocation list is malformed, wrongly signed or cannot be applied."""


class ListKind(IntEnum):
    FULL = 1
    DELTA = 2


def serial_of(card_number: str) -> int:
    """Return the 11-digit serial of a valid card number; raise ValueError otherwise."""
    if not is_valid_card_number(card_number):
        raise ValueError(
            f"card number {card_number!r} is not 16 digits starting {REGION_PREFIX} with a valid check digit"
        )
    return int(card_number[len(REGION_PREFIX):-1])


def _write_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def encode_serials(serials: Iterable[int]) -> bytes:
    """Encode distinct serials as a sorted run of LEB128 varints: the first value, then the gaps."""
    ordered = sorted(set(serials))
    out = bytearray()
    previous = 0
    for serial in ordered:
        if not 0 <= serial <= MAX_SERIAL:
            raise RevocationError(f"card serial {serial} is not an {SERIAL_DIGITS}-digit serial")
        _write_varint(out, serial - previous)
        previous = serial
    return bytes(out)


def decode_serials(data: bytes) -> array:
    """Decode a serial run into a sorted array of distinct serials; raise RevocationError on any fault."""
    serials = array("Q")
    value = shift = 0
    previous = -1
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            # An 11-digit serial needs at most 37 bits, so six 7-bit groups.
            if shift > 35:
                raise RevocationError("serial run has a varint longer than 6 bytes")
            continue
        serial = value if previous < 0 else previous + value
        if previous >= 0 and value == 0:
            raise RevocationError(f"serial run repeats serial {previous}")
        if serial > MAX_SERIAL:
            raise RevocationError(f"serial run contains {serial}, which has more than {SERIAL_DIGITS} digits")
        serials.append(serial)
        previous = serial
        value = shift = 0
    if shift:
        raise RevocationError("serial run ends inside a varint")
    return serials


@dataclass(frozen=True)
class RevocationList:
    """A decoded revocation list; `added` and `removed` are sorted arrays of serials."""

    kind: ListKind
    version: int
    issued_at: int
    added: array
    count: int
    base_version: int | None = None
    removed: array = field(default_factory=lambda: array("Q"))

    def __post_init__(self) -> None:
        if self.version < 1:
            raise RevocationError(f"revocation list version {self.version} must be 1 or more")
        if self.kind is ListKind.FULL:
            if self.base_version is not None or len(self.removed):
                raise RevocationError("a full revocation list has no base version and removes nothing")
            if self.count != len(self.added):
                raise RevocationError(f"full revocation list declares {self.count} serials but contains {len(self.added)}")
        elif self.base_version is None or not 0 <= self.base_version < self.version:
            raise RevocationError(
                f"delta revocation list to version {self.version} needs a base version below it, got {self.base_version}"
            )
        if set(self.added) & set(self.removed):
            raise RevocationError("a delta revocation list both adds and removes the same serial")


def _encode_payload(revocations: RevocationList) -> bytes:
    item = {
        1: FORMAT_VERSION,
        2: int(revocations.kind),
        3: revocations.version,
        5: revocations.issued_at,
        6: encode_serials(revocations.added),
        8: revocations.count,
    }
    if revocations.kind is ListKind.DELTA:
        item[4] = revocations.base_version
        item[7] = encode_serials(revocations.removed)
    return cbor.encode(item)


def sign_revocation_list(revocations: RevocationList, signer: cose.Signer) -> bytes:
    """Return the list as COSE_Sign1 bytes signed by the sync key."""
    return cose.sign1(_encode_payload(revocations), signer)


_FIELDS = {1: int, 2: int, 3: int, 4: int, 5: int, 6: bytes, 7: bytes, 8: int}
_REQUIRED = {ListKind.FULL: {1, 2, 3, 5, 6, 8}, ListKind.DELTA: {1, 2, 3, 4, 5, 6, 7, 8}}


def _decode_payload(payload: bytes) -> RevocationList:
    try:
        item = cbor.decode(payload)
    except cbor.CBORError as exc:
        raise RevocationError(f"revocation list payload: {exc}") from None
    if not isinstance(item, Mapping):
        raise RevocationError("revocation list payload must be a CBOR map")
    if cbor.encode(item) != payload:
        raise RevocationError("revocation list payload is not deterministically encoded CBOR")
    for key, value in item.items():
        kind = _FIELDS.get(key)
        if kind is None:
            raise RevocationError(f"revocation list has unknown field {key!r}")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RevocationError(f"revocation list field {key} must be {kind.__name__}, got {type(value).__name__}")
    if item.get(1) != FORMAT_VERSION:
        raise RevocationError(f"revocation list format {item.get(1)!r} is not supported (expected {FORMAT_VERSION})")
    try:
        kind = ListKind(item.get(2))
    except ValueError:
        raise RevocationError(f"revocation list kind {item.get(2)!r} is not 1 (full) or 2 (delta)") from None
    missing = sorted(_REQUIRED[kind] - item.keys())
    extra = sorted(item.keys() - _REQUIRED[kind])
    if missing or extra:
        raise RevocationError(f"{kind.name.lower()} revocation list misses fields {missing} or has fields {extra}")
    if item[3] < 0 or item[8] < 0 or item.get(4, 0) < 0:
        raise RevocationError("revocation list versions and count must not be negative")
    return RevocationList(
        kind=kind,
        version=item[3],
        base_version=item.get(4),
        issued_at=item[5],
        added=decode_serials(item[6]),
        removed=decode_serials(item.get(7, b"")),
        count=item[8],
    )


def decode_revocation_list(data: bytes, sync_keys: dict[bytes, ec.EllipticCurvePublicKey]) -> RevocationList:
    """Verify a signed revocation list against the sync keys (by kid) and decode it.

    The caller checks that the signing key was valid when the list was issued
    (see terminal.trust). Raises RevocationError for a malformed list, an
    unknown kid or a bad signature.
    """
    try:
        message = cose.decode_sign1(data)
    except cose.COSEError as exc:
        raise RevocationError(f"revocation list: {exc}") from None
    key = sync_keys.get(message.kid)
    if key is None:
        raise RevocationError(
            f"revocation list is signed by key {message.kid.hex()}, which is not a trusted sync key; update the trust list"
        )
    if not cose.verify_sign1(message, key):
        raise RevocationError(f"revocation list signature by sync key {message.kid.hex()} is invalid")
    return _decode_payload(message.payload)


class CardRevocation(Protocol):
    """Card revocation lookup, as the verifier calls it."""

    def is_revoked(self, card_number: str) -> bool:
        """Return True when the card with this number is revoked."""


class RevokedSerials:
    """An in-memory set of revoked serials, looked up in constant time.

    A frozenset lookup takes about 0.1 us, against about 1 us for
    bisection in a sorted array (timeit, 12,500 serials), and every QR and
    chip verification makes one lookup. For 12,500 serials it takes about
    0.5 MB (tracemalloc).
    """

    def __init__(self, serials: Iterable[int] = ()):
        self._serials = frozenset(serials)

    @classmethod
    def from_list(cls, revocations: RevocationList) -> "RevokedSerials":
        if revocations.kind is not ListKind.FULL:
            raise RevocationError("only a full revocation list gives the whole set of revoked cards")
        return cls(revocations.added)

    def __len__(self) -> int:
        return len(self._serials)

    def contains_serial(self, serial: int) -> bool:
        return serial in self._serials

    def is_revoked(self, card_number: str) -> bool:
        try:
            return self.contains_serial(serial_of(card_number))
        except ValueError:
            return False


NO_REVOCATIONS: CardRevocation = RevokedSerials()
