"""The reference card: a PIV card (NIST SP 800-73-4) in Python, for the vpcd virtual reader.

This module is the card's transport and dispatch: process() takes one
command APDU (short or extended, ISO 7816-4) and returns response data plus
status word, as a card would. It handles the class byte, command chaining
(CLA 10), response chaining (61xx and GET RESPONSE) and SELECT; the commands
themselves live in reference_objects (GET DATA, PUT DATA), reference_keys
(key generation, signing, management key) and reference_pin (PIN and PUK).
card/PROFILE.md lists every command with the status words it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from card.apdu import MAX_EXTENDED_NE, MAX_SHORT_NE, SW, CommandApdu, parse_command, tlv
from card.atr import build_atr
from card.piv import CLA_CHAINING, INS, PIV_AID, Algorithm
from card.reference_keys import general_authenticate, generate_key_pair, set_management_key
from card.reference_objects import MAX_OBJECT_SIZE, get_data, put_data
from card.reference_pin import change_reference_data, reset_retry_counter, verify
from card.reference_state import CardState
from card.reference_status import CardError, SecurityStatus

__all__ = ["ReferenceCard", "ATR", "APPLICATION_PROPERTY_TEMPLATE"]

log = logging.getLogger(__name__)

# Historical bytes: category 80, then card capabilities 73 C0 21 C0, which announce selection
# by full or partial DF name, command chaining and extended Lc/Le. Issuer data 58 is "KartuBhg".
ATR = build_atr(bytes.fromhex("8073C021C0") + bytes([0x58]) + b"KartuBhg")

APPLICATION_PROPERTY_TEMPLATE = tlv(
    0x61,
    tlv(0x4F, PIV_AID[5:]) + tlv(0x79, tlv(0x4F, PIV_AID[:5]))
    + tlv(0x50, b"Kartu Bahagia reference PIV card")
    + tlv(0xAC, tlv(0x80, bytes([Algorithm.AES_128])) + tlv(0x80, bytes([Algorithm.ECC_P256])) + tlv(0x06, b"")),
)
MIN_SELECT_AID = 5  # a right-truncated AID must keep at least the RID
SELECT_RETURN_TEMPLATE, SELECT_NO_RESPONSE_DATA = 0x00, 0x0C
CHAINABLE = (INS.PUT_DATA, INS.GENERAL_AUTHENTICATE)
# Chained data beyond the largest object and its tags is rejected before it fills memory.
MAX_CHAIN_SIZE = MAX_OBJECT_SIZE + 16

Handler = Callable[[CardState, SecurityStatus, CommandApdu], bytes]
HANDLERS: dict[int, Handler] = {
    INS.GET_DATA: get_data,
    INS.PUT_DATA: put_data,
    INS.GENERATE_ASYMMETRIC_KEY_PAIR: generate_key_pair,
    INS.GENERAL_AUTHENTICATE: general_authenticate,
    INS.VERIFY: verify,
    INS.CHANGE_REFERENCE_DATA: change_reference_data,
    INS.RESET_RETRY_COUNTER: reset_retry_counter,
    INS.SET_MANAGEMENT_KEY: set_management_key,
}


class ReferenceCard:
    """A PIV card whose objects and keys live in a CardState saved to a file."""

    def __init__(self, state: CardState):
        self.state = state
        self.status = SecurityStatus()
        self.reset()

    def reset(self) -> None:
        """Power-on or warm reset: nothing selected, security status and buffers cleared."""
        self._selected = False
        self.status.clear()
        self._chain_header: tuple[int, int, int] | None = None
        self._chain_buffer = b""
        self._pending_response = b""

    def process(self, apdu: bytes) -> bytes:
        """Process one command APDU and return response data followed by SW1 SW2."""
        try:
            data, sw = self._dispatch(apdu)
        except CardError as error:
            data, sw = b"", error.sw
        return data + sw.to_bytes(2, "big")

    def _dispatch(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            command = parse_command(apdu)
        except ValueError:
            self._chain_header, self._chain_buffer = None, b""
            raise CardError(SW.WRONG_LENGTH) from None
        _check_class(command.cla)
        if command.ins == INS.GET_RESPONSE:
            return self._get_response(command)
        self._pending_response = b""
        whole = self._collect_chain(command)
        if whole is None:
            return b"", SW.SUCCESS
        if whole.ins == INS.SELECT:
            return self._respond(self._select(whole), whole)
        handler = HANDLERS.get(whole.ins)
        if handler is None:
            raise CardError(SW.INS_NOT_SUPPORTED)
        if not self._selected:
            raise CardError(SW.CONDITIONS_NOT_SATISFIED)
        return self._respond(handler(self.state, self.status, whole), whole)

    # --- command chaining ----------------------------------------------------

    def _collect_chain(self, command: CommandApdu) -> CommandApdu | None:
        """Buffer a chained part and return None, or return the whole command once its last part arrives.

        A command with another INS, P1 or P2 than the chain in progress drops
        that chain and is processed on its own.
        """
        header = (command.ins, command.p1, command.p2)
        if self._chain_header != header:
            self._chain_header, self._chain_buffer = None, b""
        if command.cla & CLA_CHAINING:
            if command.ins not in CHAINABLE:
                raise CardError(SW.CHAINING_NOT_SUPPORTED)
            if len(self._chain_buffer) + len(command.data) > MAX_CHAIN_SIZE:
                self._chain_header, self._chain_buffer = None, b""
                raise CardError(SW.NOT_ENOUGH_MEMORY)
            self._chain_header = header
            self._chain_buffer += command.data
            return None
        if self._chain_header is None:
            return command
        data = self._chain_buffer + command.data
        self._chain_header, self._chain_buffer = None, b""
        return CommandApdu(command.cla, command.ins, command.p1, command.p2, data, command.ne, command.extended)

    # --- response chaining ---------------------------------------------------

    def _respond(self, response: bytes, command: CommandApdu) -> tuple[bytes, int]:
        """Return up to Ne bytes; keep the rest for GET RESPONSE and announce it with 61xx."""
        limit = command.ne or (MAX_EXTENDED_NE if command.extended else MAX_SHORT_NE)
        if len(response) <= limit:
            return response, SW.SUCCESS
        self._pending_response = response[limit:]
        remaining = len(self._pending_response)
        return response[:limit], SW.MORE_DATA | (remaining if remaining < 256 else 0)

    def _get_response(self, command: CommandApdu) -> tuple[bytes, int]:
        if (command.p1, command.p2) != (0x00, 0x00):
            raise CardError(SW.INCORRECT_P1P2)
        if not self._pending_response:
            raise CardError(SW.CONDITIONS_NOT_SATISFIED)
        pending, self._pending_response = self._pending_response, b""
        return self._respond(pending, command)

    # --- SELECT --------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        """SELECT by (possibly right-truncated) AID; a failed SELECT leaves the current selection alone.

        P2 00 returns the application property template (SP 800-73-4); P2 0C
        returns no data (ISO 7816-4), as some middleware probes with it.
        """
        if command.p1 != 0x04 or command.p2 not in (SELECT_RETURN_TEMPLATE, SELECT_NO_RESPONSE_DATA):
            raise CardError(SW.INCORRECT_P1P2)
        if not command.data:
            raise CardError(SW.WRONG_LENGTH)
        if len(command.data) < MIN_SELECT_AID or not PIV_AID.startswith(command.data):
            raise CardError(SW.FILE_NOT_FOUND)
        self.status.clear()
        self._selected = True
        return APPLICATION_PROPERTY_TEMPLATE if command.p2 == SELECT_RETURN_TEMPLATE else b""


def _check_class(cla: int) -> None:
    """Accept the first interindustry class without secure messaging on the basic channel (00, or 10 chained)."""
    if cla & 0xE0:
        raise CardError(SW.CLA_NOT_SUPPORTED)
    if cla & 0x0C:
        raise CardError(SW.SECURE_MESSAGING_NOT_SUPPORTED)
    if cla & 0x03:
        raise CardError(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)
