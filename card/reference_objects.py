"""Data objects of the reference card: GET DATA and PUT DATA with the SP 800-73-4 access rules.

Every object is readable without authentication except the biometric and
printed-information containers (fingerprints 5FC103, facial image 5FC108,
printed information 5FC109, iris 5FC121), which need the PIN. Writing any
object needs the management key. The card stores the PIV containers
5FC101-5FC123 and the vendor range 5FFF00-5FFFFF; the discovery object 7E is
fixed at manufacture.
"""

from __future__ import annotations

import logging

from card.apdu import SW, CommandApdu, parse_tlv, tlv
from card.piv import TAG_OBJECT_DATA, TAG_OBJECT_ID, ObjectId
from card.piv_objects import DISCOVERY_OBJECT
from card.reference_state import CardState
from card.reference_status import CardError, SecurityStatus

__all__ = ["MAX_OBJECT_SIZE", "PIN_PROTECTED_OBJECTS", "get_data", "put_data"]

log = logging.getLogger(__name__)

# Largest object value the reference card stores; a 12 KB facial image fits with room to spare.
MAX_OBJECT_SIZE = 16 * 1024
PIN_PROTECTED_OBJECTS = frozenset({
    ObjectId.FINGERPRINTS, ObjectId.CARDHOLDER_FACIAL_IMAGE, ObjectId.PRINTED_INFORMATION, ObjectId.IRIS_IMAGES,
})
BIOMETRIC_GROUP_TEMPLATE = 0x7F61
FIRST_CONTAINER, LAST_CONTAINER = 0x5FC101, 0x5FC123
UNUSED_CONTAINER = 0x5FC104
FIRST_VENDOR, LAST_VENDOR = 0x5FFF00, 0x5FFFFF


def _is_container(object_id: int) -> bool:
    standard = FIRST_CONTAINER <= object_id <= LAST_CONTAINER and object_id != UNUSED_CONTAINER
    return standard or FIRST_VENDOR <= object_id <= LAST_VENDOR


def _check_parameters(command: CommandApdu) -> None:
    if (command.p1, command.p2) != (0x3F, 0xFF):
        raise CardError(SW.INCORRECT_P1P2)
    if not command.data:
        raise CardError(SW.WRONG_LENGTH)


def _parse(data: bytes) -> list[tuple[int, bytes]]:
    try:
        return parse_tlv(data)
    except ValueError:
        raise CardError(SW.INCORRECT_DATA) from None


def _object_id(tag_list: bytes) -> int:
    if not 1 <= len(tag_list) <= 3:
        raise CardError(SW.INCORRECT_DATA)
    return int.from_bytes(tag_list, "big")


def get_data(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """GET DATA: return the object as 53 (or 7E for discovery) with its value."""
    _check_parameters(command)
    items = _parse(command.data)
    if len(items) != 1 or items[0][0] != TAG_OBJECT_ID:
        raise CardError(SW.INCORRECT_DATA)
    object_id = _object_id(items[0][1])
    if object_id == ObjectId.DISCOVERY:
        return DISCOVERY_OBJECT
    if object_id in PIN_PROTECTED_OBJECTS and not status.pin_verified:
        raise CardError(SW.SECURITY_CONDITION_NOT_SATISFIED)
    stored = state.objects.get(f"{object_id:06x}") if _is_container(object_id) else None
    if stored is None:
        raise CardError(SW.FILE_NOT_FOUND)
    return tlv(TAG_OBJECT_DATA, stored)


def put_data(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """PUT DATA: store 53's value under the object named by 5C; an empty value deletes the object."""
    _check_parameters(command)
    items = _parse(command.data)
    if [tag for tag, _ in items] != [TAG_OBJECT_ID, TAG_OBJECT_DATA]:
        raise CardError(SW.INCORRECT_DATA)
    if not status.management_authenticated:
        raise CardError(SW.SECURITY_CONDITION_NOT_SATISFIED)
    object_id = _object_id(items[0][1])
    if object_id in (ObjectId.DISCOVERY, BIOMETRIC_GROUP_TEMPLATE) or not _is_container(object_id):
        raise CardError(SW.INCORRECT_DATA)
    value = items[1][1]
    if len(value) > MAX_OBJECT_SIZE:
        raise CardError(SW.NOT_ENOUGH_MEMORY)
    state.put_object(f"{object_id:06x}", value)
    log.debug("PUT DATA %06X, %d bytes", object_id, len(value))
    return b""
