"""Contents of the standard PIV data objects (NIST SP 800-73-4 part 1): CHUID, certificates, discovery.

Each builder returns the value that goes inside tag 53 of PUT DATA, and each
parser takes the value that GET DATA returns inside tag 53. Parsers raise
PivObjectError when the bytes do not follow the object's layout.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from card.apdu import parse_tlv, tlv

__all__ = [
    "PivObjectError", "Chuid", "build_chuid", "parse_chuid", "guid_for_serial", "unused_fasc_n",
    "build_certificate_object", "parse_certificate_object", "DISCOVERY_OBJECT", "build_capability_container",
]

TAG_FASC_N = 0x30
TAG_GUID = 0x34
TAG_EXPIRATION_DATE = 0x35
TAG_ISSUER_SIGNATURE = 0x3E
TAG_ERROR_DETECTION = 0xFE
TAG_CERTIFICATE = 0x70
TAG_CERT_INFO = 0x71
CERT_INFO_UNCOMPRESSED = b"\x00"
GUID_SIZE = 16
FASC_N_SIZE = 25

# Namespace of the name-based (version 5, RFC 4122) card GUIDs; fixed for Kartu Bahagia, never change it.
KARTU_GUID_NAMESPACE = uuid.UUID("6f1c2a5e-3b1d-5c9a-8e47-1571a0b4c0de")

_PIV_AID = bytes.fromhex("A000000308000010000100")
# Discovery object: the PIV AID, and a PIN usage policy of 0x40 0x00 (the PIV Card
# Application PIN is the only PIN; no global PIN, so no preference between them).
DISCOVERY_OBJECT = tlv(0x7E, tlv(0x4F, _PIV_AID) + tlv(0x5F2F, b"\x40\x00"))


class PivObjectError(ValueError):
    """A PIV data object does not follow its SP 800-73-4 layout."""


# --- FASC-N -------------------------------------------------------------------

_START, _SEPARATOR, _END = 0xB, 0xD, 0xF


def _fasc_character(value: int) -> str:
    """Five bits of a FASC-N character: the 4-bit value least significant bit first, then odd parity."""
    bits = [(value >> i) & 1 for i in range(4)]
    return "".join(map(str, bits)) + ("0" if sum(bits) % 2 else "1")


def unused_fasc_n() -> bytes:
    """Return the 25-byte FASC-N with agency code 9999, system code 9999 and credential number 999999.

    Those codes state that the FASC-N does not identify the card, as on
    cards of issuers outside the US federal government; the GUID does.
    """
    fields = ["9999", "9999", "999999", "0", "1", "0000000000"]
    values = [_START]
    for index, digits in enumerate(fields):
        if index:
            values.append(_SEPARATOR)
        values.extend(int(d) for d in digits)
    # Organisational category 4 (other than US government), organisation id 0000, association 1.
    values.extend(int(d) for d in "4" "0000" "1")
    values.append(_END)
    lrc = 0
    for value in values:
        lrc ^= value
    values.append(lrc)
    bits = "".join(_fasc_character(value) for value in values)
    return int(bits, 2).to_bytes(FASC_N_SIZE, "big")


# --- CHUID --------------------------------------------------------------------


@dataclass(frozen=True)
class Chuid:
    fasc_n: bytes
    guid: bytes
    expires: date
    issuer_signature: bytes


def guid_for_serial(serial: str) -> bytes:
    """Derive the card's 16-byte GUID from its serial as a name-based UUID (RFC 4122 version 5)."""
    return uuid.uuid5(KARTU_GUID_NAMESPACE, serial).bytes


def build_chuid(guid: bytes, expires: date, issuer_signature: bytes = b"") -> bytes:
    """Build a CHUID value: FASC-N, GUID, expiration date, issuer signature and error detection code.

    issuer_signature is the CMS SignedData (card.piv_signature) over the
    elements before it. Personalisation builds the CHUID once without it to
    get those elements, then again with it.
    """
    if len(guid) != GUID_SIZE:
        raise ValueError(f"GUID must be {GUID_SIZE} bytes, got {len(guid)}")
    return (
        tlv(TAG_FASC_N, unused_fasc_n())
        + tlv(TAG_GUID, guid)
        + tlv(TAG_EXPIRATION_DATE, expires.strftime("%Y%m%d").encode("ascii"))
        + tlv(TAG_ISSUER_SIGNATURE, issuer_signature)
        + tlv(TAG_ERROR_DETECTION, b"")
    )


def parse_chuid(value: bytes) -> Chuid:
    try:
        fields = dict(parse_tlv(value))
        guid = fields[TAG_GUID]
        expires = datetime.strptime(fields[TAG_EXPIRATION_DATE].decode("ascii"), "%Y%m%d").date()
        chuid = Chuid(fields[TAG_FASC_N], guid, expires, fields.get(TAG_ISSUER_SIGNATURE, b""))
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise PivObjectError(f"CHUID is malformed: {exc}") from None
    if len(guid) != GUID_SIZE or len(chuid.fasc_n) != FASC_N_SIZE:
        raise PivObjectError(f"CHUID GUID or FASC-N has the wrong size ({len(guid)}, {len(chuid.fasc_n)} bytes)")
    return chuid


# --- certificates --------------------------------------------------------------


def build_certificate_object(certificate_der: bytes) -> bytes:
    """Wrap a DER certificate for a PIV certificate object: tags 70 (certificate), 71 (not compressed), FE."""
    return tlv(TAG_CERTIFICATE, certificate_der) + tlv(TAG_CERT_INFO, CERT_INFO_UNCOMPRESSED) + tlv(TAG_ERROR_DETECTION, b"")


def parse_certificate_object(value: bytes) -> bytes:
    """Return the DER certificate of a PIV certificate object; compressed certificates are not supported."""
    try:
        fields = dict(parse_tlv(value))
    except ValueError as exc:
        raise PivObjectError(f"certificate object is malformed: {exc}") from None
    if TAG_CERTIFICATE not in fields:
        raise PivObjectError("certificate object has no certificate (tag 70)")
    if fields.get(TAG_CERT_INFO, CERT_INFO_UNCOMPRESSED) != CERT_INFO_UNCOMPRESSED:
        raise PivObjectError(f"certificate is compressed (CertInfo {fields[TAG_CERT_INFO].hex()}); not supported")
    return fields[TAG_CERTIFICATE]


# --- Card Capability Container --------------------------------------------------

# GSC-IS registered application provider identifier, the first 5 bytes of the CCC card identifier.
GSC_RID = bytes.fromhex("A000000116")
# Manufacturer id FF (not registered) and card type 01 (file system card, not a Java Card).
CCC_MANUFACTURER_ID, CCC_CARD_TYPE = 0xFF, 0x01
CCC_CARD_ID_SIZE = 14


def build_capability_container(guid: bytes) -> bytes:
    """Build the Card Capability Container (5FC107) that SP 800-73-4 keeps for GSC-IS compatibility.

    The card identifier (F0) is the GSC RID, manufacturer id, card type and
    the first 14 bytes of the card's GUID. The version numbers are 21 (F1,
    F2), the data model number is 10 (F5, PIV), and the remaining elements
    are empty, as on PIV cards that have no GSC-IS card edge.
    """
    if len(guid) != GUID_SIZE:
        raise ValueError(f"GUID must be {GUID_SIZE} bytes, got {len(guid)}")
    card_identifier = GSC_RID + bytes([CCC_MANUFACTURER_ID, CCC_CARD_TYPE]) + guid[:CCC_CARD_ID_SIZE]
    return (
        tlv(0xF0, card_identifier)
        + tlv(0xF1, b"\x21")
        + tlv(0xF2, b"\x21")
        + tlv(0xF3, b"")
        + tlv(0xF4, b"\x00")
        + tlv(0xF5, b"\x10")
        + tlv(0xF6, b"")
        + tlv(0xF7, b"")
        + tlv(0xFA, b"")
        + tlv(0xFB, b"")
        + tlv(0xFC, b"")
        + tlv(0xFD, b"")
        + tlv(TAG_ERROR_DETECTION, b"")
    )
