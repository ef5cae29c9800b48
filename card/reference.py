"""The reference PIV card: the PIV subset Kartu Bahagia uses, in Python.

process() takes one command APDU and returns response data plus status word,
as a card would. Responses longer than 256 bytes are chained with 61xx and
GET RESPONSE; commands longer than 255 bytes arrive chained with CLA 0x10.
Access rules: GET DATA and 9E signing need nothing; PUT DATA and key
generation need the management key, whose authentication is cleared by
SELECT and by a card reset.
"""

from __future__ import annotations

import functools
import logging
import operator
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from card.apdu import SW, parse_tlv, tlv
from card.piv import (
    CLA_CHAINING, INS, PIV_AID, TAG_CHALLENGE, TAG_DYNAMIC_AUTH, TAG_EC_POINT, TAG_GEN_ALGORITHM,
    TAG_GEN_TEMPLATE, TAG_OBJECT_DATA, TAG_OBJECT_ID, TAG_PUBLIC_KEY, TAG_RESPONSE, TAG_WITNESS,
    Algorithm, Slot, _aes,
)
from card.reference_state import CardState

__all__ = ["ReferenceCard", "ATR"]

log = logging.getLogger(__name__)

# T=1 card; the historical bytes read "KartuBhg". The last byte is TCK.
_ATR_BODY = bytes.fromhex("3B88800101") + b"KartuBhg"
ATR = _ATR_BODY + bytes([functools.reduce(operator.xor, _ATR_BODY[1:], 0)])

MAX_SHORT_RESPONSE = 256
APPLICATION_PROPERTY_TEMPLATE = tlv(
    0x61,
    tlv(0x4F, PIV_AID[5:9]) + tlv(0x79, tlv(0x4F, PIV_AID[:5]))
    + tlv(0x50, b"Kartu Bahagia reference PIV card")
    + tlv(0xAC, tlv(0x80, bytes([Algorithm.ECC_P256])) + tlv(0x06, b"")),
)


class _Refusal(Exception):
    def __init__(self, sw: int):
        self.sw = sw


class ReferenceCard:
    """A PIV card whose objects and keys live in a CardState saved to a file."""

    def __init__(self, state: CardState):
        self.state = state
        self.reset()

    def reset(self) -> None:
        self._selected = False
        self._management_authenticated = False
        self._witness: bytes | None = None
        self._chain_buffer = b""
        self._pending_response = b""

    # --- dispatch -----------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        """Process one command APDU and return response data followed by SW1 SW2."""
        try:
            data, sw = self._dispatch(apdu)
        except _Refusal as refusal:
            data, sw = b"", refusal.sw
        return data + sw.to_bytes(2, "big")

    def _dispatch(self, apdu: bytes) -> tuple[bytes, int]:
        if len(apdu) < 4:
            raise _Refusal(SW.WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[:4]
        data, le = _parse_body(apdu[4:])
        if ins == INS.GET_RESPONSE:
            return self._get_response(le)
        self._pending_response = b""
        if cla not in (0x00, CLA_CHAINING):
            raise _Refusal(SW.CLA_NOT_SUPPORTED)
        if cla == CLA_CHAINING:
            if ins not in (INS.PUT_DATA, INS.GENERAL_AUTHENTICATE):
                raise _Refusal(SW.FUNCTION_NOT_SUPPORTED)
            self._chain_buffer += data
            return b"", SW.SUCCESS
        data, self._chain_buffer = self._chain_buffer + data, b""
        if ins == INS.SELECT:
            return self._chunked(self._select(p1, p2, data), le)
        if not self._selected:
            raise _Refusal(SW.CONDITIONS_NOT_SATISFIED)
        handler = {
            INS.GET_DATA: self._get_data,
            INS.PUT_DATA: self._put_data,
            INS.GENERATE_ASYMMETRIC_KEY_PAIR: self._generate,
            INS.GENERAL_AUTHENTICATE: self._general_authenticate,
        }.get(ins)
        if handler is None:
            raise _Refusal(SW.INS_NOT_SUPPORTED)
        return self._chunked(handler(p1, p2, data), le)

    def _chunked(self, response: bytes, le: int | None) -> tuple[bytes, int]:
        limit = MAX_SHORT_RESPONSE if not le else le
        if len(response) <= limit:
            return response, SW.SUCCESS
        self._pending_response = response[limit:]
        return response[:limit], _more_data_sw(len(self._pending_response))

    def _get_response(self, le: int | None) -> tuple[bytes, int]:
        if not self._pending_response:
            raise _Refusal(SW.CONDITIONS_NOT_SATISFIED)
        pending, self._pending_response = self._pending_response, b""
        return self._chunked(pending, le)

    # --- commands -----------------------------------------------------------

    def _select(self, p1: int, p2: int, data: bytes) -> bytes:
        if (p1, p2) != (0x04, 0x00):
            raise _Refusal(SW.INCORRECT_P1P2)
        if not data or not PIV_AID.startswith(data):
            self._selected = False
            raise _Refusal(SW.FILE_NOT_FOUND)
        self.reset()
        self._selected = True
        return APPLICATION_PROPERTY_TEMPLATE

    def _object_id(self, p1: int, p2: int, data: bytes, with_value: bool) -> tuple[str, bytes]:
        if (p1, p2) != (0x3F, 0xFF):
            raise _Refusal(SW.INCORRECT_P1P2)
        try:
            items = parse_tlv(data)
        except ValueError:
            raise _Refusal(SW.INCORRECT_DATA) from None
        expected_tags = [TAG_OBJECT_ID, TAG_OBJECT_DATA] if with_value else [TAG_OBJECT_ID]
        if [tag for tag, _ in items] != expected_tags or len(items[0][1]) != 3:
            raise _Refusal(SW.INCORRECT_DATA)
        value = items[1][1] if with_value else b""
        return items[0][1].hex(), value

    def _get_data(self, p1: int, p2: int, data: bytes) -> bytes:
        object_id, _ = self._object_id(p1, p2, data, with_value=False)
        stored = self.state.objects.get(object_id)
        if stored is None:
            raise _Refusal(SW.FILE_NOT_FOUND)
        return tlv(TAG_OBJECT_DATA, stored)

    def _put_data(self, p1: int, p2: int, data: bytes) -> bytes:
        object_id, value = self._object_id(p1, p2, data, with_value=True)
        self._require_management()
        self.state.put_object(object_id, value)
        log.debug("PUT DATA %s, %d bytes", object_id, len(value))
        return b""

    def _generate(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 != 0x00 or p2 not in (Slot.AUTHENTICATION, Slot.CARD_AUTHENTICATION):
            raise _Refusal(SW.INCORRECT_P1P2)
        self._require_management()
        try:
            template = dict(parse_tlv(dict(parse_tlv(data))[TAG_GEN_TEMPLATE]))
        except (ValueError, KeyError):
            raise _Refusal(SW.INCORRECT_DATA) from None
        if template.get(TAG_GEN_ALGORITHM) != bytes([Algorithm.ECC_P256]):
            raise _Refusal(SW.INCORRECT_DATA)
        point = self.state.generate_key(p2)
        return tlv(TAG_PUBLIC_KEY, tlv(TAG_EC_POINT, point))

    def _require_management(self) -> None:
        if not self._management_authenticated:
            raise _Refusal(SW.SECURITY_CONDITION_NOT_SATISFIED)

    def _general_authenticate(self, p1: int, p2: int, data: bytes) -> bytes:
        try:
            outer = parse_tlv(data)
            if len(outer) != 1 or outer[0][0] != TAG_DYNAMIC_AUTH:
                raise ValueError("expected one dynamic authentication template")
            fields = dict(parse_tlv(outer[0][1]))
        except ValueError:
            raise _Refusal(SW.INCORRECT_DATA) from None
        if (p1, p2) == (Algorithm.AES_128, Slot.CARD_MANAGEMENT):
            return self._management_step(fields)
        if p1 == Algorithm.ECC_P256 and p2 == Slot.CARD_AUTHENTICATION:
            return self._sign(p2, fields)
        if p2 in (Slot.CARD_MANAGEMENT, Slot.CARD_AUTHENTICATION, Slot.AUTHENTICATION):
            raise _Refusal(SW.INCORRECT_P1P2)
        raise _Refusal(SW.REFERENCE_NOT_FOUND)

    def _management_step(self, fields: dict[int, bytes]) -> bytes:
        key = self.state.management_key
        if fields.get(TAG_WITNESS) == b"" and len(fields) == 1:
            self._management_authenticated = False
            self._witness = os.urandom(16)
            return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_WITNESS, _aes(key, self._witness, encrypt=True)))
        witness, challenge = fields.get(TAG_WITNESS), fields.get(TAG_CHALLENGE)
        expected, self._witness = self._witness, None
        if expected is None or witness is None or challenge is None or len(challenge) != 16:
            raise _Refusal(SW.INCORRECT_DATA)
        if witness != expected:
            raise _Refusal(SW.SECURITY_CONDITION_NOT_SATISFIED)
        self._management_authenticated = True
        return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, _aes(key, challenge, encrypt=True)))

    def _sign(self, slot: int, fields: dict[int, bytes]) -> bytes:
        digest = fields.get(TAG_CHALLENGE)
        if fields.get(TAG_RESPONSE) != b"" or digest is None or len(digest) != 32:
            raise _Refusal(SW.INCORRECT_DATA)
        private_key = self.state.private_key(slot)
        if private_key is None:
            raise _Refusal(SW.REFERENCE_NOT_FOUND)
        signature = private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, signature))


def _more_data_sw(remaining: int) -> int:
    return 0x6100 | (remaining if remaining < 256 else 0)


def _parse_body(body: bytes) -> tuple[bytes, int | None]:
    """Split a short APDU body into data and Le (0 means 256); raise on a wrong Lc."""
    if not body:
        return b"", None
    if len(body) == 1:
        return b"", body[0]
    lc = body[0]
    if lc == 0 or len(body) not in (1 + lc, 2 + lc):
        raise _Refusal(SW.WRONG_LENGTH)
    data = body[1 : 1 + lc]
    le = body[1 + lc] if len(body) == 2 + lc else None
    return data, le
