"""The tap flow: read, verify offline, challenge the chip, check the quota, commit.

Order of a chip tap: SELECT PIV, GET DATA of the credential, offline
verification against the cached trust store, GENERAL AUTHENTICATE with slot
9E over a fresh challenge, verification of that signature with the card key
inside the credential, the quota check, and the commit. All card I/O ends
before the commit, so a card pulled away mid-tap leaves nothing recorded.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime

from card.apdu import SW, ApduError
from card.credential import Credential
from card.decision import Decision, Reason
from card.piv import ObjectId, PivSession, Slot
from card.records import NONCE_SIZE, Assurance, Redemption, sign_record, tap_digest
from card.verify import WIB, Verification, verify_chip, verify_qr, verify_tap_signature
from card.cose import Signer
from hardware.pcsc import CardConnection, ReaderError
from terminal.store import TerminalStore

__all__ = ["TapOutcome", "TapService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TapOutcome:
    decision: Decision
    credential: Credential | None = None
    record_id: str | None = None
    remaining: int | None = None
    unit: str | None = None


def period_of(now: datetime) -> str:
    return now.astimezone(WIB).strftime("%Y-%m")


class TapService:
    """Decides and records hand-overs for one terminal."""

    def __init__(self, store: TerminalStore, signer: Signer):
        self.store = store
        self.signer = signer
        self.terminal_id = store.terminal_id

    def tap_card(self, connection: CardConnection, program: str, now: datetime, quantity: int = 1) -> TapOutcome:
        tapped_at = int(now.timestamp())
        nonce = os.urandom(NONCE_SIZE)
        try:
            session = PivSession(connection)
            credential_bytes = session.get_data(ObjectId.KARTU_CREDENTIAL)
        except ApduError as exc:
            if exc.sw == SW.FILE_NOT_FOUND:
                return TapOutcome(Decision.refuse(Reason.NOT_KARTU_BAHAGIA, detail=f"{exc.command}: {exc.sw:04X}"))
            return TapOutcome(Decision.refuse(Reason.CARD_READ_FAILED, detail=str(exc)))
        except ReaderError as exc:
            return TapOutcome(Decision.refuse(Reason.CARD_READ_FAILED, detail=exc.detail))

        verification = verify_chip(credential_bytes, self.store.trust_store(), now)
        if not verification.accepted:
            return self._refused(verification)
        credential = verification.credential

        digest = tap_digest(nonce, self.terminal_id, program, quantity, tapped_at)
        try:
            card_signature = session.sign_digest(Slot.CARD_AUTHENTICATION, digest)
        except ApduError as exc:
            log.warning("card %s did not sign the challenge: %s", credential.card_number, exc)
            return TapOutcome(Decision.refuse(Reason.CARD_NOT_GENUINE), credential)
        except ReaderError as exc:
            return TapOutcome(Decision.refuse(Reason.CARD_READ_FAILED, detail=exc.detail), credential)
        if not verify_tap_signature(credential, digest, card_signature):
            log.warning("card %s answered the challenge with a key that is not its own", credential.card_number)
            return TapOutcome(Decision.refuse(Reason.CARD_NOT_GENUINE), credential)

        record = Redemption(
            record_id=str(uuid.uuid4()), terminal_id=self.terminal_id, card_number=credential.card_number,
            household_id=credential.household_id, program=program, quantity=quantity, period=period_of(now),
            tapped_at=tapped_at, nonce=nonce, assurance=Assurance.CHIP, card_signature=card_signature,
        )
        return self._commit(credential, record)

    def scan_qr(self, text: str, program: str, now: datetime, quantity: int = 1) -> TapOutcome:
        """Decide a hand-over from a QR credential; it proves no presence, so the record carries no card signature."""
        verification = verify_qr(text, self.store.trust_store(), now)
        if not verification.accepted:
            return self._refused(verification)
        credential = verification.credential
        record = Redemption(
            record_id=str(uuid.uuid4()), terminal_id=self.terminal_id, card_number=credential.card_number,
            household_id=credential.household_id, program=program, quantity=quantity, period=period_of(now),
            tapped_at=int(now.timestamp()), nonce=os.urandom(NONCE_SIZE), assurance=Assurance.QR,
        )
        return self._commit(credential, record)

    def _refused(self, verification: Verification) -> TapOutcome:
        card = verification.credential.card_number if verification.credential else "-"
        log.info("card %s refused: %s", card, verification.decision.reason.value)
        return TapOutcome(verification.decision, verification.credential)

    def _commit(self, credential: Credential, record: Redemption) -> TapOutcome:
        """Check the household quota and insert the record in one IMMEDIATE transaction."""
        program = record.program
        with self.store.transaction() as db:
            entitlement_set = self.store.entitlement_set(program, db)
            if entitlement_set is None:
                return TapOutcome(Decision.refuse(Reason.NO_ENTITLEMENTS, program=program), credential)
            used_at_sync = self.store.used_at_sync(program, record.household_id, db)
            if used_at_sync is None:
                return TapOutcome(Decision.refuse(Reason.NOT_ENTITLED, program=program), credential)
            if entitlement_set.period != record.period:
                used_at_sync = 0
            used = used_at_sync + self.store.used_here_since_sync(
                program, record.household_id, record.period, entitlement_set.generation, db
            )
            if used + record.quantity > entitlement_set.quota:
                log.info("card %s refused: quota of %s used (%d of %d)", credential.card_number, program, used, entitlement_set.quota)
                decision = Decision.refuse(
                    Reason.QUOTA_EXCEEDED, program=program, period=record.period, used=used,
                    quota=entitlement_set.quota, unit=entitlement_set.unit,
                )
                return TapOutcome(decision, credential, remaining=entitlement_set.quota - used, unit=entitlement_set.unit)
            self.store.insert_redemption(db, {
                "record_id": record.record_id, "program": program, "household_id": record.household_id,
                "card_number": record.card_number, "quantity": record.quantity, "period": record.period,
                "tapped_at": record.tapped_at, "assurance": record.assurance.value,
                "signed_record": sign_record(record, self.signer),
            })
        log.info("card %s accepted: %s x%d, record %s", credential.card_number, program, record.quantity, record.record_id)
        remaining = entitlement_set.quota - used - record.quantity
        return TapOutcome(Decision.accept(), credential, record.record_id, remaining, entitlement_set.unit)
