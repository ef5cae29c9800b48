"""PIN and PUK of the reference card: VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER.

Each wrong PIN or PUK lowers its retry counter, which is saved before the
card returns 63Cx with the tries left. At zero the reference is blocked and
every further use returns 6983. A correct one restores the counter to its maximum.
The PUK unblocks the PIN; a blocked PUK is final.
"""

from __future__ import annotations

import hmac
import logging

from card.apdu import SW, CommandApdu
from card.piv import PIN_RETRIES, PUK_RETRIES, KeyReference
from card.piv_pin import REFERENCE_SIZE, is_valid_padded_pin
from card.reference_state import CardState
from card.reference_status import CardError, SecurityStatus

__all__ = ["verify", "change_reference_data", "reset_retry_counter"]

log = logging.getLogger(__name__)

# Key references the PIV application defines but this card does not hold: global PIN, OCC, pairing code.
ABSENT_REFERENCES = (KeyReference.GLOBAL_PIN, 0x96, 0x97, 0x98)


def _check_reference(p2: int, allowed: tuple[int, ...]) -> None:
    if p2 in allowed:
        return
    if p2 in ABSENT_REFERENCES or p2 in (KeyReference.PIN, KeyReference.PUK):
        raise CardError(SW.REFERENCE_NOT_FOUND)
    raise CardError(SW.INCORRECT_P1P2)


def _present_pin(state: CardState, status: SecurityStatus, candidate: bytes) -> None:
    """Compare a PIN, counting a wrong one; raise 6983 when blocked and 63Cx when wrong."""
    if state.pin_retries == 0:
        raise CardError(SW.AUTH_METHOD_BLOCKED)
    if not hmac.compare_digest(candidate, state.pin):
        state.pin_retries -= 1
        state.save()
        status.pin_verified = False
        log.debug("wrong PIN, %d tries left", state.pin_retries)
        raise CardError(SW.VERIFY_FAILED | state.pin_retries)
    state.pin_retries = PIN_RETRIES
    state.save()


def _present_puk(state: CardState, candidate: bytes) -> None:
    if state.puk_retries == 0:
        raise CardError(SW.AUTH_METHOD_BLOCKED)
    if not hmac.compare_digest(candidate, state.puk):
        state.puk_retries -= 1
        state.save()
        log.debug("wrong PUK, %d tries left", state.puk_retries)
        raise CardError(SW.VERIFY_FAILED | state.puk_retries)
    state.puk_retries = PUK_RETRIES
    state.save()


def verify(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """VERIFY the PIN (P1 00), read its status (no data), or reset its security status (P1 FF)."""
    if command.p1 not in (0x00, 0xFF):
        raise CardError(SW.INCORRECT_P1P2)
    _check_reference(command.p2, (KeyReference.PIN,))
    if command.p1 == 0xFF:
        if command.data:
            raise CardError(SW.WRONG_LENGTH)
        status.pin_verified = False
        return b""
    if not command.data:
        if state.pin_retries == 0:
            raise CardError(SW.AUTH_METHOD_BLOCKED)
        if status.pin_verified:
            return b""
        raise CardError(SW.VERIFY_FAILED | state.pin_retries)
    if len(command.data) != REFERENCE_SIZE:
        raise CardError(SW.WRONG_LENGTH)
    if not is_valid_padded_pin(command.data):
        raise CardError(SW.INCORRECT_DATA)
    _present_pin(state, status, command.data)
    status.pin_verified = True
    return b""


def change_reference_data(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """CHANGE REFERENCE DATA of the PIN (80) or PUK (81): data is the old value, then the new one."""
    if command.p1 != 0x00:
        raise CardError(SW.INCORRECT_P1P2)
    _check_reference(command.p2, (KeyReference.PIN, KeyReference.PUK))
    if len(command.data) != 2 * REFERENCE_SIZE:
        raise CardError(SW.WRONG_LENGTH)
    old, new = command.data[:REFERENCE_SIZE], command.data[REFERENCE_SIZE:]
    if command.p2 == KeyReference.PIN:
        if not is_valid_padded_pin(new):
            raise CardError(SW.INCORRECT_DATA)
        _present_pin(state, status, old)
        state.pin = new
    else:
        _present_puk(state, old)
        state.puk = new
    state.save()
    log.debug("reference data %02X changed", command.p2)
    return b""


def reset_retry_counter(state: CardState, status: SecurityStatus, command: CommandApdu) -> bytes:
    """RESET RETRY COUNTER of the PIN: data is the PUK, then the new PIN."""
    if command.p1 != 0x00:
        raise CardError(SW.INCORRECT_P1P2)
    _check_reference(command.p2, (KeyReference.PIN,))
    if len(command.data) != 2 * REFERENCE_SIZE:
        raise CardError(SW.WRONG_LENGTH)
    puk, new_pin = command.data[:REFERENCE_SIZE], command.data[REFERENCE_SIZE:]
    if not is_valid_padded_pin(new_pin):
        raise CardError(SW.INCORRECT_DATA)
    _present_puk(state, puk)
    state.pin = new_pin
    state.pin_retries = PIN_RETRIES
    state.save()
    status.pin_verified = False
    log.debug("PIN reset with the PUK")
    return b""
