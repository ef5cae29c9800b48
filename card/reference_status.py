"""Security status a reference card keeps between commands of one session, and the error that rejects a command.

The security status (PIN verified, management key authenticated, a pending
witness or challenge) lives only in the card's RAM: SELECT of the PIV
application and a card reset clear it, as SP 800-73-4 requires.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CardError", "SecurityStatus"]


class CardError(Exception):
    """Rejects the command being processed with the status word sw."""

    def __init__(self, sw: int):
        super().__init__(f"status word {sw:04X}")
        self.sw = sw


@dataclass
class SecurityStatus:
    pin_verified: bool = False
    management_authenticated: bool = False
    # Plain witness of a mutual authentication, or plain challenge of an external one, awaiting step 2.
    pending_witness: bytes | None = None
    pending_challenge: bytes | None = None

    def clear(self) -> None:
        self.pin_verified = False
        self.management_authenticated = False
        self.pending_witness = None
        self.pending_challenge = None
