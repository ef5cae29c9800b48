"""Keys of the reference card: key generation, signing and the card management key.

Slots 9A (PIV Authentication, needs the PIN) and 9E (Card Authentication, no
PIN) hold P-256 keys generated on the card. The management key (9B) is
AES-128 and is proved by mutual authentication (the host decrypts a witness,
the card encrypts the host's challenge) or by external authentication (the
host encrypts the card's challenge).
"""

from __future__ import annotations

import hmac
import logging
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from card.apdu import SW, CommandApdu, parse_tlv, tlv
from card.piv import (
    TAG_CHALLENGE, TAG_DYNAMIC_AUTH, TAG_EC_POINT, TAG_GEN_ALGORITHM, TAG_GEN_TEMPLATE, TAG_PUBLIC_KEY,
    TAG_RESPONSE, TAG_WITNESS, Algorithm, Slot, _aes,
)
from card.reference_state import CardState
from card.reference_status import CardError, SecurityStatus

__all__ = ["generate_key_pair", "general_authenticate", "set_management_key"]

log = logging.getLogger(__name__)

ASYMMETRIC_SLOTS = (Slot.AUTHENTICATION, Slot.CARD_AUTHENTICATION)
PIN_SLOTS = (Slot.AUTHENTICATION,)
BLOCK_SIZE = 16
DIGEST_SIZE = 32
MANAGEMENT_KEY_SIZE = 16


def _require_management(status: SecurityStatus) -> None:
    if not status.management_authenticated:
        raise CardError(SW.SECURITY_CONDITION_NOT_SATISFIED)


def _fields(data: bytes, outer_tag: int) -> dict[int, bytes]:
    """Return the tags inside the one template outer_tag that data must consist of."""
    try:
        outer = parse_tlv(data)
        if len(outer) != 1 or outer[0][0] != outer_tag:
            raise ValueError(f"expected one template {outer_tag:X}")
        return dict(parse_tlv(outer[0][1]))
    except ValueError:
        raise CardError(SW.INCORRECT_DATA) from None


def generate_key_pair(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """GENERATE ASYMMETRIC KEY PAIR: a P-256 key in 9A or 9E; return 7F49 with the public point (86)."""
    if command.p1 != 0x00 or command.p2 not in ASYMMETRIC_SLOTS:
        raise CardError(SW.INCORRECT_P1P2)
    _require_management(status)
    template = _fields(command.data, TAG_GEN_TEMPLATE)
    if template.get(TAG_GEN_ALGORITHM) != bytes([Algorithm.ECC_P256]):
        raise CardError(SW.INCORRECT_DATA)
    point = state.generate_key(command.p2)
    log.debug("key generated in slot %02X", command.p2)
    return tlv(TAG_PUBLIC_KEY, tlv(TAG_EC_POINT, point))


def general_authenticate(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """GENERAL AUTHENTICATE: management key authentication (9B) or a signature with 9A or 9E."""
    slot, algorithm = command.p2, command.p1
    if slot == Slot.CARD_MANAGEMENT:
        if algorithm != Algorithm.AES_128:
            raise CardError(SW.INCORRECT_P1P2)
        return _management_step(state, status, _fields(command.data, TAG_DYNAMIC_AUTH))
    if slot in ASYMMETRIC_SLOTS:
        if algorithm != Algorithm.ECC_P256:
            raise CardError(SW.INCORRECT_P1P2)
        if slot in PIN_SLOTS and not status.pin_verified:
            raise CardError(SW.SECURITY_CONDITION_NOT_SATISFIED)
        return _sign(state, slot, _fields(command.data, TAG_DYNAMIC_AUTH))
    raise CardError(SW.INCORRECT_P1P2)


def _sign(state: CardState, slot: int, fields: dict[int, bytes]) -> bytes:
    digest = fields.get(TAG_CHALLENGE)
    if set(fields) != {TAG_RESPONSE, TAG_CHALLENGE} or fields[TAG_RESPONSE] != b"" or len(digest) != DIGEST_SIZE:
        raise CardError(SW.INCORRECT_DATA)
    private_key = state.private_key(slot)
    if private_key is None:
        raise CardError(SW.REFERENCE_NOT_FOUND)
    signature = private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, signature))


def _management_step(state: CardState, status: SecurityStatus, fields: dict[int, bytes]) -> bytes:
    """Run one step of mutual (80, then 80+81) or external (81, then 82) authentication."""
    witness, challenge = status.pending_witness, status.pending_challenge
    status.management_authenticated = False
    status.pending_witness = status.pending_challenge = None
    key = state.management_key
    if fields == {TAG_WITNESS: b""}:
        status.pending_witness = os.urandom(BLOCK_SIZE)
        return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_WITNESS, _aes(key, status.pending_witness, encrypt=True)))
    if fields == {TAG_CHALLENGE: b""}:
        status.pending_challenge = os.urandom(BLOCK_SIZE)
        return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_CHALLENGE, status.pending_challenge))
    if set(fields) == {TAG_WITNESS, TAG_CHALLENGE} and witness is not None:
        if len(fields[TAG_CHALLENGE]) != BLOCK_SIZE or len(fields[TAG_WITNESS]) != BLOCK_SIZE:
            raise CardError(SW.INCORRECT_DATA)
        if not hmac.compare_digest(fields[TAG_WITNESS], witness):
            raise CardError(SW.SECURITY_CONDITION_NOT_SATISFIED)
        status.management_authenticated = True
        return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, _aes(key, fields[TAG_CHALLENGE], encrypt=True)))
    if set(fields) == {TAG_RESPONSE} and challenge is not None:
        if not hmac.compare_digest(fields[TAG_RESPONSE], _aes(key, challenge, encrypt=True)):
            raise CardError(SW.SECURITY_CONDITION_NOT_SATISFIED)
        status.management_authenticated = True
        return b""
    raise CardError(SW.INCORRECT_DATA)


def set_management_key(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """SET MANAGEMENT KEY (INS FF, YubiKey encoding): algorithm 08, key reference 9B, length 16, key."""
    if command.p1 != 0xFF or command.p2 not in (0xFF, 0xFE):
        raise CardError(SW.INCORRECT_P1P2)
    _require_management(status)
    data = command.data
    header = bytes([Algorithm.AES_128, Slot.CARD_MANAGEMENT, MANAGEMENT_KEY_SIZE])
    if len(data) != len(header) + MANAGEMENT_KEY_SIZE or data[:3] != header:
        raise CardError(SW.INCORRECT_DATA)
    state.set_management_key(data[3:])
    log.debug("management key replaced")
    return b""
