"""The chip and QR credentials: CBOR payloads inside COSE_Sign1, signed by an issuer key.

Payload CBOR key map (a map with unsigned integer keys):
  1 version (uint, 1)           2 profile (uint: 1 chip, 2 QR)
  3 card number (uint, the 16 digits)
  4 holder name as printed (text, at most 60 characters)
  5 birth date (int, days since 1970-01-01)   6 sex (uint: 1 L, 2 P)
  7 kelurahan code (uint, 10 digits)          8 household id (8 bytes)
  9 issued (int, days since 1970-01-01)       10 expires (int, days since 1970-01-01)
  11 photo digest (32 bytes, SHA-256 of the facial image; chip only)
  12 card key (33 bytes, compressed P-256 point of slot 9E; chip only)
  13 on chip card (uint, 1; QR only): this QR code is printed on a chip card, so a
     terminal with a working reader requires the chip; absent on a QR-only card
Dates are days, not timestamps, so a credential says nothing finer than a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum

from card import cbor, cose
from card.cardnumber import is_valid_card_number

__all__ = ["Profile", "Holder", "Credential", "CredentialError", "encode_payload", "decode_payload", "sign_credential"]

VERSION = 1
# NOTE: the QR budget (version 10 at level M) fits a 60-character ASCII
# name. A name of 60 two-byte UTF-8 letters needs version 11 (bench/qr_sizes.py).
MAX_NAME_LENGTH = 60
EPOCH = date(1970, 1, 1)
SEX_CODES = {"L": 1, "P": 2}
# Value of field 13, the only one allowed: the QR code is printed on a chip card.
ON_CHIP_CARD = 1


class Profile(IntEnum):
    CHIP = 1
    QR = 2


class CredentialError(ValueError):
    """A credential payload is malformed."""


@dataclass(frozen=True)
class Holder:
    name: str
    birth_date: date
    sex: str
    kelurahan_code: str


@dataclass(frozen=True)
class Credential:
    profile: Profile
    card_number: str
    holder: Holder
    household_id: bytes
    issued: date
    expires: date
    photo_digest: bytes | None = None
    card_key: bytes | None = None
    # QR profile only: the QR code is printed on a chip card (field 13), not on a QR-only card.
    on_chip_card: bool = False
    version: int = VERSION

    def __post_init__(self) -> None:
        _check(self)


def _days(value: date) -> int:
    return (value - EPOCH).days


def _check(c: Credential) -> None:
    if c.version != VERSION:
        raise CredentialError(f"credential version {c.version} is not supported (expected {VERSION})")
    if not is_valid_card_number(c.card_number):
        raise CredentialError(f"card number {c.card_number!r} is not 16 digits starting 1571 with a valid check digit")
    if not c.holder.name or len(c.holder.name) > MAX_NAME_LENGTH:
        raise CredentialError(f"holder name must be 1 to {MAX_NAME_LENGTH} characters, got {len(c.holder.name)}")
    if not c.holder.name.isprintable():
        raise CredentialError(f"holder name {c.holder.name!r} contains a control or formatting character")
    if c.holder.sex not in SEX_CODES:
        raise CredentialError(f"holder sex {c.holder.sex!r} must be 'L' or 'P'")
    code = c.holder.kelurahan_code
    if not (len(code) == 10 and code.isascii() and code.isdigit() and code.startswith("1571")):
        raise CredentialError(f"kelurahan code {code!r} must be 10 digits starting 1571")
    if len(c.household_id) != 8:
        raise CredentialError(f"household id must be 8 bytes, got {len(c.household_id)}")
    if c.expires < c.issued:
        raise CredentialError(f"credential expires {c.expires} before it is issued {c.issued}")
    chip_fields = (c.photo_digest, c.card_key)
    if c.profile is Profile.CHIP:
        if c.photo_digest is None or len(c.photo_digest) != 32:
            raise CredentialError("chip credential needs a 32-byte photo digest")
        if c.card_key is None or len(c.card_key) != 33 or c.card_key[0] not in (2, 3):
            raise CredentialError("chip credential needs the card key as a 33-byte compressed point")
        if c.on_chip_card:
            raise CredentialError("chip credential must not carry the on-chip-card flag of a QR credential")
    elif any(field is not None for field in chip_fields):
        raise CredentialError("QR credential must not carry a photo digest or card key")


def encode_payload(c: Credential) -> bytes:
    item = {
        1: c.version,
        2: int(c.profile),
        3: int(c.card_number),
        4: c.holder.name,
        5: _days(c.holder.birth_date),
        6: SEX_CODES[c.holder.sex],
        7: int(c.holder.kelurahan_code),
        8: c.household_id,
        9: _days(c.issued),
        10: _days(c.expires),
    }
    if c.profile is Profile.CHIP:
        item[11] = c.photo_digest
        item[12] = c.card_key
    elif c.on_chip_card:
        item[13] = ON_CHIP_CARD
    return cbor.encode(item)


# Field types in key order. The strict decoder returns exact int, str and
# bytes objects, so an exact type test also keeps booleans out of int fields.
_REQUIRED_FIELDS = ((1, int), (2, int), (3, int), (4, str), (5, int), (6, int), (7, int), (8, bytes), (9, int), (10, int))
_CHIP_FIELDS = ((11, bytes), (12, bytes))
_QR_FIELDS = ((13, int),)
_KNOWN_KEYS = frozenset(key for key, _ in _REQUIRED_FIELDS + _CHIP_FIELDS + _QR_FIELDS)
_SEX_LETTERS = {code: letter for letter, code in SEX_CODES.items()}
_PROFILES = {int(profile): profile for profile in Profile}
_EPOCH_ORDINAL = EPOCH.toordinal()


def _field_error(item: dict, key: int, kind: type) -> CredentialError:
    if key not in item:
        return CredentialError(f"credential field {key} is missing")
    return CredentialError(f"credential field {key} must be {kind.__name__}, got {type(item[key]).__name__}")


def _day(days: int) -> date:
    try:
        return date.fromordinal(_EPOCH_ORDINAL + days)
    except (ValueError, OverflowError):
        raise CredentialError(f"day number {days} is out of range") from None


def decode_payload(payload: bytes) -> Credential:
    """Decode and check a credential payload; raise CredentialError on any fault.

    The payload must be strict, deterministic CBOR (card.cbor), so one
    credential has exactly one encoding.
    """
    try:
        item = cbor.decode(payload)
    except cbor.CBORError as exc:
        raise CredentialError(str(exc)) from None
    if type(item) is not dict:
        raise CredentialError("credential payload must be a CBOR map")
    for key, kind in _REQUIRED_FIELDS:
        if type(item.get(key)) is not kind:
            raise _field_error(item, key, kind)
    if len(item) > len(_REQUIRED_FIELDS):
        unknown = sorted(map(repr, item.keys() - _KNOWN_KEYS))
        if unknown:
            raise CredentialError(f"credential has unknown fields {', '.join(unknown)}")
        for key, kind in _CHIP_FIELDS + _QR_FIELDS:
            if key in item and type(item[key]) is not kind:
                raise _field_error(item, key, kind)
    if item.get(13, ON_CHIP_CARD) != ON_CHIP_CARD:
        raise CredentialError(f"credential field 13 must be {ON_CHIP_CARD} when present, got {item[13]}")
    sex = _SEX_LETTERS.get(item[6])
    if sex is None:
        raise CredentialError(f"credential sex code {item[6]} is not 1 (L) or 2 (P)")
    profile = _PROFILES.get(item[2])
    if profile is None:
        raise CredentialError(f"credential profile {item[2]} is not 1 (chip) or 2 (QR)")
    return Credential(
        version=item[1],
        profile=profile,
        card_number=str(item[3]),
        holder=Holder(name=item[4], birth_date=_day(item[5]), sex=sex, kelurahan_code=str(item[7])),
        household_id=item[8],
        issued=_day(item[9]),
        expires=_day(item[10]),
        photo_digest=item.get(11),
        card_key=item.get(12),
        on_chip_card=13 in item,
    )


def sign_credential(credential: Credential, signer: cose.Signer) -> bytes:
    """Return the credential as COSE_Sign1 bytes signed by the issuer key."""
    return cose.sign1(encode_payload(credential), signer)
