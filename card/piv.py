"""PIV application (NIST SP 800-73-4) constants and the host-side session.

The session talks to any connection with send_and_receive(apdu) -> (data, sw)
that already handles 61xx and 6Cxx; it never touches PC/SC itself.
"""

from __future__ import annotations

import logging
import os
from enum import IntEnum
from typing import Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from card.apdu import SW, ApduError, build_apdu, find_tlv, tlv

__all__ = [
    "PIV_AID", "INS", "Slot", "Algorithm", "ObjectId", "DEFAULT_MANAGEMENT_KEY",
    "Connection", "PivSession", "ManagementKeyError",
]

log = logging.getLogger(__name__)

PIV_AID = bytes.fromhex("A000000308000010000100")
# AES-128 management key of a blank card: the first 16 bytes of the PIV default 3DES key.
DEFAULT_MANAGEMENT_KEY = bytes.fromhex("0102030405060708" * 2)


class INS(IntEnum):
    SELECT = 0xA4
    GET_DATA = 0xCB
    PUT_DATA = 0xDB
    GENERATE_ASYMMETRIC_KEY_PAIR = 0x47
    GENERAL_AUTHENTICATE = 0x87
    GET_RESPONSE = 0xC0


class Slot(IntEnum):
    AUTHENTICATION = 0x9A
    CARD_MANAGEMENT = 0x9B
    CARD_AUTHENTICATION = 0x9E


class Algorithm(IntEnum):
    AES_128 = 0x08
    ECC_P256 = 0x11


class ObjectId(IntEnum):
    CARD_AUTHENTICATION_CERTIFICATE = 0x5FC101
    CHUID = 0x5FC102
    FACIAL_IMAGE = 0x5FC108
    # Vendor-range object that holds the Kartu Bahagia chip credential (COSE_Sign1).
    KARTU_CREDENTIAL = 0x5FFF10


TAG_OBJECT_ID = 0x5C
TAG_OBJECT_DATA = 0x53
TAG_DYNAMIC_AUTH = 0x7C
TAG_WITNESS = 0x80
TAG_CHALLENGE = 0x81
TAG_RESPONSE = 0x82
TAG_GEN_TEMPLATE = 0xAC
TAG_GEN_ALGORITHM = 0x80
TAG_PUBLIC_KEY = 0x7F49
TAG_EC_POINT = 0x86
CLA_CHAINING = 0x10
CHUNK = 255


class Connection(Protocol):
    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU and return the whole response data and the final status word."""


class ManagementKeyError(Exception):
    """The card refused the management key or answered the witness wrongly."""


def _object_id_bytes(object_id: int) -> bytes:
    return object_id.to_bytes(3, "big")


def _aes(key: bytes, block: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(block) + ctx.finalize()


class PivSession:
    """PIV commands over a connection; selects the PIV application on creation."""

    def __init__(self, connection: Connection):
        self._connection = connection
        self.select()

    def _send(self, command: str, apdu: bytes) -> bytes:
        data, sw = self._connection.send_and_receive(apdu)
        if sw != SW.SUCCESS:
            raise ApduError(sw, command)
        return data

    def _send_chained(self, command: str, ins: int, p1: int, p2: int, data: bytes) -> bytes:
        chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        for chunk in chunks[:-1]:
            self._send(command, build_apdu(CLA_CHAINING, ins, p1, p2, chunk))
        return self._send(command, build_apdu(0x00, ins, p1, p2, chunks[-1], le=0))

    def select(self) -> bytes:
        """SELECT the PIV application and return its application property template."""
        return self._send("SELECT PIV", build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID, le=0))

    def get_data(self, object_id: int) -> bytes:
        apdu = build_apdu(0x00, INS.GET_DATA, 0x3F, 0xFF, tlv(TAG_OBJECT_ID, _object_id_bytes(object_id)), le=0)
        response = self._send(f"GET DATA {object_id:06X}", apdu)
        try:
            return find_tlv(response, TAG_OBJECT_DATA)
        except ValueError as exc:
            raise ApduError(SW.NO_PRECISE_DIAGNOSIS, f"GET DATA {object_id:06X}: {exc}") from None

    def put_data(self, object_id: int, value: bytes) -> None:
        body = tlv(TAG_OBJECT_ID, _object_id_bytes(object_id)) + tlv(TAG_OBJECT_DATA, value)
        self._send_chained(f"PUT DATA {object_id:06X}", INS.PUT_DATA, 0x3F, 0xFF, body)

    def authenticate_management_key(self, key: bytes) -> None:
        """Mutual authentication with the AES-128 management key (witness, then challenge)."""
        command = "GENERAL AUTHENTICATE management key"
        p1, p2 = Algorithm.AES_128, Slot.CARD_MANAGEMENT
        request = tlv(TAG_DYNAMIC_AUTH, tlv(TAG_WITNESS, b""))
        answer = self._send(command, build_apdu(0x00, INS.GENERAL_AUTHENTICATE, p1, p2, request, le=0))
        encrypted_witness = find_tlv(find_tlv(answer, TAG_DYNAMIC_AUTH), TAG_WITNESS)
        witness = _aes(key, encrypted_witness, encrypt=False)
        challenge = os.urandom(16)
        proof = tlv(TAG_DYNAMIC_AUTH, tlv(TAG_WITNESS, witness) + tlv(TAG_CHALLENGE, challenge))
        try:
            answer = self._send(command, build_apdu(0x00, INS.GENERAL_AUTHENTICATE, p1, p2, proof, le=0))
        except ApduError as exc:
            raise ManagementKeyError(f"card refused the management key (status word {exc.sw:04X})") from None
        card_response = find_tlv(find_tlv(answer, TAG_DYNAMIC_AUTH), TAG_RESPONSE)
        if card_response != _aes(key, challenge, encrypt=True):
            raise ManagementKeyError("card answered the challenge with a different management key")
        log.debug("management key authenticated")

    def generate_key(self, slot: int) -> bytes:
        """Generate a P-256 key pair in slot and return the uncompressed public point."""
        template = tlv(TAG_GEN_TEMPLATE, tlv(TAG_GEN_ALGORITHM, bytes([Algorithm.ECC_P256])))
        apdu = build_apdu(0x00, INS.GENERATE_ASYMMETRIC_KEY_PAIR, 0x00, slot, template, le=0)
        answer = self._send(f"GENERATE ASYMMETRIC KEY PAIR {slot:02X}", apdu)
        return find_tlv(find_tlv(answer, TAG_PUBLIC_KEY), TAG_EC_POINT)

    def sign_digest(self, slot: int, digest: bytes) -> bytes:
        """Have the card sign a SHA-256 digest with the P-256 key in slot; return the DER signature."""
        request = tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, b"") + tlv(TAG_CHALLENGE, digest))
        apdu = build_apdu(0x00, INS.GENERAL_AUTHENTICATE, Algorithm.ECC_P256, slot, request, le=0)
        answer = self._send(f"GENERAL AUTHENTICATE {slot:02X}", apdu)
        return find_tlv(find_tlv(answer, TAG_DYNAMIC_AUTH), TAG_RESPONSE)
