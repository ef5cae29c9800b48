"""PIV application (NIST SP 800-73-4) constants and the host-side session.

The session talks to any connection with send_and_receive(apdu) -> (data, sw)
that already handles 61xx and 6Cxx; it never touches PC/SC itself. It sends
extended-length APDUs when the card's ATR announces them (ISO 7816-4 card
capabilities) and short APDUs with command chaining otherwise. card/PROFILE.md
lists every APDU the system sends and the objects the cards hold.
"""

from __future__ import annotations

import logging
import os
from enum import IntEnum
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from card.apdu import SW, ApduError, build_apdu, find_tlv, retries_from_sw, tlv
from card.atr import supports_extended_length
from card.piv_objects import Chuid, PivObjectError, parse_certificate_object, parse_chuid
from card.piv_pin import (
    DEFAULT_PIN, DEFAULT_PUK, PIN_RETRIES, PUK_RETRIES, InvalidPinError, pad_reference,
)

__all__ = [
    "PIV_AID", "INS", "Slot", "KeyReference", "Algorithm", "ObjectId", "DEFAULT_MANAGEMENT_KEY",
    "DEFAULT_PIN", "DEFAULT_PUK", "PIN_RETRIES", "PUK_RETRIES", "CERTIFICATE_OBJECTS",
    "Connection", "PivSession", "ManagementKeyError", "InvalidPinError", "pad_reference", "object_id_bytes",
]

log = logging.getLogger(__name__)

PIV_AID = bytes.fromhex("A000000308000010000100")
# AES-128 management key of a blank card: the first 16 bytes of the PIV default 3DES key.
DEFAULT_MANAGEMENT_KEY = bytes.fromhex("0102030405060708" * 2)
MANAGEMENT_KEY_SIZE = 16


class INS(IntEnum):
    SELECT = 0xA4
    GET_DATA = 0xCB
    PUT_DATA = 0xDB
    GENERATE_ASYMMETRIC_KEY_PAIR = 0x47
    GENERAL_AUTHENTICATE = 0x87
    GET_RESPONSE = 0xC0
    VERIFY = 0x20
    CHANGE_REFERENCE_DATA = 0x24
    RESET_RETRY_COUNTER = 0x2C
    # Not in SP 800-73-4, which leaves key management to the card vendor; same encoding as YubiKey PIV.
    SET_MANAGEMENT_KEY = 0xFF


class Slot(IntEnum):
    AUTHENTICATION = 0x9A
    CARD_MANAGEMENT = 0x9B
    SIGNATURE = 0x9C
    KEY_MANAGEMENT = 0x9D
    CARD_AUTHENTICATION = 0x9E


class KeyReference(IntEnum):
    GLOBAL_PIN = 0x00
    PIN = 0x80
    PUK = 0x81


class Algorithm(IntEnum):
    TDES = 0x03
    AES_128 = 0x08
    ECC_P256 = 0x11


class ObjectId(IntEnum):
    DISCOVERY = 0x7E
    CARD_AUTHENTICATION_CERTIFICATE = 0x5FC101
    CHUID = 0x5FC102
    FINGERPRINTS = 0x5FC103
    AUTHENTICATION_CERTIFICATE = 0x5FC105
    SECURITY_OBJECT = 0x5FC106
    CAPABILITY_CONTAINER = 0x5FC107
    # The PIV Cardholder Facial Image: CBEFF-wrapped and readable only after VERIFY, so Kartu Bahagia leaves it empty.
    CARDHOLDER_FACIAL_IMAGE = 0x5FC108
    PRINTED_INFORMATION = 0x5FC109
    SIGNATURE_CERTIFICATE = 0x5FC10A
    KEY_MANAGEMENT_CERTIFICATE = 0x5FC10B
    IRIS_IMAGES = 0x5FC121
    # Vendor range 5FFFxx (YubiKey PIV tools use 5FFF00-5FFF15, hence 5FFF20 onwards):
    # the chip credential (COSE_Sign1) and the holder's JPEG for the visual check at the counter.
    KARTU_CREDENTIAL = 0x5FFF20
    FACIAL_IMAGE = 0x5FFF21


CERTIFICATE_OBJECTS = {
    Slot.AUTHENTICATION: ObjectId.AUTHENTICATION_CERTIFICATE,
    Slot.SIGNATURE: ObjectId.SIGNATURE_CERTIFICATE,
    Slot.KEY_MANAGEMENT: ObjectId.KEY_MANAGEMENT_CERTIFICATE,
    Slot.CARD_AUTHENTICATION: ObjectId.CARD_AUTHENTICATION_CERTIFICATE,
}

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
    """The card rejected the management key, or its response to the challenge does not match the key."""


def object_id_bytes(object_id: int) -> bytes:
    """Encode an object identifier as the value of tag 5C: 7E, 7F61 or a three-byte container tag."""
    return object_id.to_bytes(max(1, (object_id.bit_length() + 7) // 8), "big")


def _aes(key: bytes, block: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(block) + ctx.finalize()


def _card_supports_extended_length(connection: Connection) -> bool:
    atr = getattr(connection, "atr", None)
    if not callable(atr):
        return False
    return supports_extended_length(atr())


class PivSession:
    """PIV commands over a connection; selects the PIV application on creation.

    extended_length chooses extended-length APDUs (True) or short APDUs with
    chaining (False); None reads the choice from the card's ATR when the
    connection offers atr(). A reader without extended APDU support needs False.
    """

    def __init__(self, connection: Connection, extended_length: bool | None = None):
        self._connection = connection
        if extended_length is None:
            extended_length = _card_supports_extended_length(connection)
        self.extended_length = extended_length
        self.select()

    def _send(self, command: str, apdu: bytes) -> bytes:
        data, sw = self._connection.send_and_receive(apdu)
        if sw != SW.SUCCESS:
            raise ApduError(sw, command)
        return data

    def _send_long(self, command: str, ins: int, p1: int, p2: int, data: bytes) -> bytes:
        """Send data in one extended APDU, or chained short APDUs (CLA 10) when extended length is off."""
        if self.extended_length:
            return self._send(command, build_apdu(0x00, ins, p1, p2, data, le=0, extended=True))
        chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        for chunk in chunks[:-1]:
            self._send(command, build_apdu(CLA_CHAINING, ins, p1, p2, chunk))
        return self._send(command, build_apdu(0x00, ins, p1, p2, chunks[-1], le=0))

    def select(self) -> bytes:
        """SELECT the PIV application and return its application property template."""
        return self._send("SELECT PIV", build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID, le=0))

    # --- data objects ----------------------------------------------------------

    def get_data(self, object_id: int) -> bytes:
        """Read a data object and return its value (the contents of tag 53, or of tag 7E for discovery)."""
        command = f"GET DATA {object_id:06X}"
        request = tlv(TAG_OBJECT_ID, object_id_bytes(object_id))
        apdu = build_apdu(0x00, INS.GET_DATA, 0x3F, 0xFF, request, le=0, extended=self.extended_length)
        response = self._send(command, apdu)
        outer_tag = ObjectId.DISCOVERY if object_id == ObjectId.DISCOVERY else TAG_OBJECT_DATA
        try:
            return find_tlv(response, outer_tag)
        except ValueError as exc:
            raise ApduError(SW.NO_PRECISE_DIAGNOSIS, f"{command}: {exc}") from None

    def put_data(self, object_id: int, value: bytes) -> None:
        """Write a data object (management key needed); an empty value deletes it."""
        body = tlv(TAG_OBJECT_ID, object_id_bytes(object_id)) + tlv(TAG_OBJECT_DATA, value)
        self._send_long(f"PUT DATA {object_id:06X}", INS.PUT_DATA, 0x3F, 0xFF, body)

    def read_chuid(self) -> Chuid:
        return parse_chuid(self.get_data(ObjectId.CHUID))

    def read_certificate(self, slot: int) -> x509.Certificate:
        """Read the X.509 certificate of the key in slot from its PIV certificate object."""
        object_id = CERTIFICATE_OBJECTS[Slot(slot)]
        der = parse_certificate_object(self.get_data(object_id))
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise PivObjectError(f"certificate in object {object_id:06X} is not valid DER: {exc}") from None

    def card_authentication_certificate(self) -> x509.Certificate:
        """Read the certificate of the Card Authentication Key (slot 9E)."""
        return self.read_certificate(Slot.CARD_AUTHENTICATION)

    # --- management key ----------------------------------------------------------

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
            raise ManagementKeyError(
                f"card rejected the management key (status word {exc.sw:04X}); "
                "the card is not blank, or the key belongs to another card"
            ) from None
        card_response = find_tlv(find_tlv(answer, TAG_DYNAMIC_AUTH), TAG_RESPONSE)
        if card_response != _aes(key, challenge, encrypt=True):
            raise ManagementKeyError(
                "card response to the challenge does not match the management key; set the card aside as faulty"
            )
        log.debug("management key authenticated")

    def set_management_key(self, key: bytes) -> None:
        """Replace the management key with an AES-128 key; needs the current one authenticated first."""
        if len(key) != MANAGEMENT_KEY_SIZE:
            raise ValueError(f"AES-128 management key must be {MANAGEMENT_KEY_SIZE} bytes, got {len(key)}")
        data = bytes([Algorithm.AES_128, Slot.CARD_MANAGEMENT, len(key)]) + key
        self._send("SET MANAGEMENT KEY", build_apdu(0x00, INS.SET_MANAGEMENT_KEY, 0xFF, 0xFF, data))

    # --- keys ----------------------------------------------------------------------

    def generate_key(self, slot: int) -> bytes:
        """Generate a P-256 key pair in slot and return the uncompressed public point."""
        template = tlv(TAG_GEN_TEMPLATE, tlv(TAG_GEN_ALGORITHM, bytes([Algorithm.ECC_P256])))
        apdu = build_apdu(0x00, INS.GENERATE_ASYMMETRIC_KEY_PAIR, 0x00, slot, template, le=0)
        answer = self._send(f"GENERATE ASYMMETRIC KEY PAIR {slot:02X}", apdu)
        return find_tlv(find_tlv(answer, TAG_PUBLIC_KEY), TAG_EC_POINT)

    def sign_digest(self, slot: int, digest: bytes) -> bytes:
        """Have the card sign a SHA-256 digest with the P-256 key in slot; return the DER signature.

        Slot 9E signs for anyone; slot 9A needs verify_pin first in the same
        session and otherwise fails with status word 6982.
        """
        request = tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, b"") + tlv(TAG_CHALLENGE, digest))
        apdu = build_apdu(0x00, INS.GENERAL_AUTHENTICATE, Algorithm.ECC_P256, slot, request, le=0)
        answer = self._send(f"GENERAL AUTHENTICATE {slot:02X}", apdu)
        return find_tlv(find_tlv(answer, TAG_DYNAMIC_AUTH), TAG_RESPONSE)

    # --- PIN and PUK -------------------------------------------------------------

    def _send_reference(self, command: str, ins: int, reference: int, data: bytes, counter: str) -> None:
        """Send VERIFY, CHANGE REFERENCE DATA or RESET RETRY COUNTER; counter names whose tries 63Cx counts."""
        answer_sw = self._connection.send_and_receive(build_apdu(0x00, ins, 0x00, reference, data))[1]
        if answer_sw == SW.SUCCESS:
            return
        if answer_sw == SW.AUTH_METHOD_BLOCKED:
            raise InvalidPinError(counter, 0)
        retries = retries_from_sw(answer_sw)
        if retries is not None:
            raise InvalidPinError(counter, retries)
        raise ApduError(answer_sw, command)

    def verify_pin(self, pin: str) -> None:
        """VERIFY the cardholder PIN; raise InvalidPinError with the attempts left when it is wrong or blocked."""
        self._send_reference("VERIFY", INS.VERIFY, KeyReference.PIN, pad_reference(pin), "PIN")

    def pin_attempts_remaining(self) -> int | None:
        """Return how many wrong PINs the card still accepts, or None when the PIN is already verified.

        A card reports the counter only while the PIN is not verified, because
        VERIFY without data returns 9000 once it is.
        """
        _, sw = self._connection.send_and_receive(build_apdu(0x00, INS.VERIFY, 0x00, KeyReference.PIN))
        if sw == SW.SUCCESS:
            return None
        if sw == SW.AUTH_METHOD_BLOCKED:
            return 0
        retries = retries_from_sw(sw)
        if retries is None:
            raise ApduError(sw, "VERIFY (read retry counter)")
        return retries

    def clear_pin_verification(self) -> None:
        """Reset the PIN's security status (VERIFY with P1 FF), so 9A needs the PIN again."""
        self._send("VERIFY (reset)", build_apdu(0x00, INS.VERIFY, 0xFF, KeyReference.PIN))

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """CHANGE REFERENCE DATA of the PIN; raise InvalidPinError when old_pin is wrong or blocked."""
        data = pad_reference(old_pin) + pad_reference(new_pin)
        self._send_reference("CHANGE REFERENCE DATA PIN", INS.CHANGE_REFERENCE_DATA, KeyReference.PIN, data, "PIN")

    def change_puk(self, old_puk: str, new_puk: str) -> None:
        """CHANGE REFERENCE DATA of the PUK; raise InvalidPinError when old_puk is wrong or blocked."""
        data = pad_reference(old_puk, digits_only=False) + pad_reference(new_puk, digits_only=False)
        self._send_reference("CHANGE REFERENCE DATA PUK", INS.CHANGE_REFERENCE_DATA, KeyReference.PUK, data, "PUK")

    def unblock_pin(self, puk: str, new_pin: str) -> None:
        """RESET RETRY COUNTER: set a new PIN with the PUK; InvalidPinError names the PUK's attempts left."""
        data = pad_reference(puk, digits_only=False) + pad_reference(new_pin)
        self._send_reference("RESET RETRY COUNTER", INS.RESET_RETRY_COUNTER, KeyReference.PIN, data, "PUK")
