"""The tap flow: read, verify offline, challenge the chip, check the quota, commit.

The fast path of a chip tap sends at most four command APDUs, not counting
GET RESPONSE rounds. They are SELECT PIV, GET DATA of the credential, GENERAL
AUTHENTICATE with slot 9E over a fresh challenge and, only with check_photo
(clinic, cash aid), GET DATA of the facial image. Between them the terminal
verifies the credential against the cached trust store and the card's
signature with the card key inside the credential. Extra reads happen only after a failed
signature, to explain the refusal (terminal.authenticity).

All card I/O ends before the commit, and no refusal writes to the store, so
a card pulled away mid-tap, or any refused card, leaves nothing recorded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Iterator

from card.apdu import SW, ApduError
from card.cose import Signer
from card.credential import Credential
from card.decision import Decision, Reason
from card.piv import ObjectId, PivSession, Slot
from card.records import NONCE_SIZE, Assurance, Redemption, sign_record, tap_digest
from card.verify import WIB, TrustStore, Verification, verify_chip, verify_qr, verify_tap_signature
from hardware.pcsc import CardConnection
from hardware.reader_errors import (
    CardRemoved, MalformedResponse, NoReader, ReaderError, ReaderNotFound, ServiceUnavailable,
)
from terminal.authenticity import diagnose_signature_failure
from terminal.card_share import card_share_refusal
from terminal.pin_proof import prove_pin
from terminal.status_cover import StatusCover, cover_decision, status_cover
from terminal.programmes import ProgrammeName, QuotaPeriod, amount, quota_period_of
from terminal.store import QuotaUsage, TerminalStore
from terminal.unlisted_card import unlisted_refusal

__all__ = ["TapOutcome", "CardPresence", "TapTimings", "TapService", "reader_failure", "household_use"]

log = logging.getLogger(__name__)

# Status words with which a PIV card refuses GET DATA of an object it does not hold or may not show.
_ABSENT_OBJECT_SW = {
    SW.FILE_NOT_FOUND, SW.REFERENCE_NOT_FOUND, SW.INCORRECT_DATA, SW.INCORRECT_P1P2,
    SW.SECURITY_CONDITION_NOT_SATISFIED,
}


@dataclass(frozen=True)
class TapTimings:
    """Milliseconds spent in one tap: card I/O, verification (credential and signature), store commit."""

    card_io_ms: float = 0.0
    verify_ms: float = 0.0
    commit_ms: float = 0.0


@dataclass(frozen=True)
class TapOutcome:
    """The decision of one tap. remaining, unit and quota_period (the pulled set's word) describe the quota left."""

    decision: Decision
    credential: Credential | None = None
    record_id: str | None = None
    remaining: int | None = None
    unit: str | None = None
    photo: bytes | None = None
    timings: TapTimings | None = None
    quota_period: str | None = None
    # The verified chip read of a read-only tap, which proves to the server that the card is on this reader.
    presence: CardPresence | None = None
    # Units recorded by an accepted hand-over under a quota. None for a rejected tap or a status programme.
    quantity: int | None = None


@dataclass(frozen=True)
class CardPresence:
    """The fields of card.records.tap_digest for one chip read and the card's 9E signature (DER) over it."""

    nonce: bytes
    program: str
    quantity: int
    tapped_at: int
    card_signature: bytes


@dataclass(frozen=True)
class _TapOptions:
    check_photo: bool = False
    pin: str | None = None
    read_only: bool = False


class _PhaseClock:
    def __init__(self) -> None:
        self._totals = {"card_io": 0.0, "verify": 0.0, "commit": 0.0}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._totals[name] += (time.perf_counter() - start) * 1000

    def timings(self) -> TapTimings:
        return TapTimings(self._totals["card_io"], self._totals["verify"], self._totals["commit"])


def period_of(now: datetime) -> str:
    return now.astimezone(WIB).strftime("%Y-%m")


def household_use(store: TerminalStore, usage: QuotaUsage, program: str, household_id: bytes, period: str,
                  db: sqlite3.Connection | None = None) -> int:
    """Return the household's use in the quota period containing the month period: pulled use plus local records.

    The pulled figure (usage.used_at_sync) covers the quota period of the
    month the set was issued in, so it counts only when that month lies in
    the tap's quota period. This terminal's records from the set's generation
    on are added for every month of the period, because a record acknowledged
    before that pull is already in the pulled figure and no other record is.
    usage.used_here covers the month period itself. The quota period is the
    one the pulled set carried (usage.entitlement_set.quota_period), or the
    fallback table's for a set without one. For a quota that never renews,
    every month counts.
    """
    months = quota_period_of(program, period, usage.entitlement_set.quota_period)
    if months is None:
        months = _months_recorded(store, program, household_id, db)
        used_at_sync = usage.used_at_sync
    else:
        used_at_sync = usage.used_at_sync if usage.entitlement_set.period in months else 0
    generation = usage.entitlement_set.generation
    used_here = usage.used_here + sum(
        store.used_here_since_sync(program, household_id, month, generation, db) for month in months if month != period
    )
    return used_at_sync + used_here


def _months_recorded(store: TerminalStore, program: str, household_id: bytes, db: sqlite3.Connection | None) -> set[str]:
    rows = (db or store._db).execute(
        "SELECT DISTINCT period FROM redemptions WHERE program = ? AND household_id = ?", (program, household_id)
    ).fetchall()
    return {row[0] for row in rows}


def reader_failure(error: ReaderError) -> Decision:
    """Return the refusal for a tap that a reader error cut short; nothing was recorded."""
    if isinstance(error, CardRemoved):
        return Decision.refuse(Reason.CARD_REMOVED)
    if isinstance(error, MalformedResponse):
        return Decision.refuse(Reason.CARD_ANSWER_INVALID, detail=error.detail)
    if isinstance(error, (ServiceUnavailable, NoReader, ReaderNotFound)):
        return Decision.refuse(Reason.READER_LOST, detail=error.detail)
    return Decision.refuse(Reason.CARD_READ_FAILED, detail=error.detail)


def _unreadable_credential(error: ApduError) -> Decision:
    if error.sw in _ABSENT_OBJECT_SW:
        return Decision.refuse(Reason.NOT_KARTU_BAHAGIA, detail=f"{error.command}: {error.sw:04X}")
    return Decision.refuse(Reason.CARD_ANSWER_INVALID, detail=f"{error.command}: {error.sw:04X}")


class TapService:
    """Decides and records hand-overs for one terminal."""

    def __init__(self, store: TerminalStore, signer: Signer):
        self.store = store
        self.signer = signer
        self.terminal_id = store.terminal_id
        # Called inside a hand-over's transaction, after its record is inserted, with the quota left and its
        # unit (None and "" for a status programme). The receipt queue adds the receipt here. An exception
        # from it rolls the hand-over back.
        self.on_record: Callable[[sqlite3.Connection, Redemption, int | None, str], None] | None = None

    def tap_card(self, connection: CardConnection, program: str, now: datetime, quantity: int = 1,
                 check_photo: bool = False, pin: str | None = None, read_only: bool = False) -> TapOutcome:
        """Serve the card on connection; check_photo also reads the facial image and checks its digest.

        With pin the card must also prove the cardholder PIN with a slot 9A
        signature (terminal.pin_proof). read_only (the kiosk) verifies the
        card the same way but records nothing and checks no quota.
        """
        clock = _PhaseClock()
        options = _TapOptions(check_photo, pin, read_only)
        outcome = self._tap(connection, program, now, quantity, options, clock)
        return replace(outcome, timings=clock.timings())

    def _tap(self, connection: CardConnection, program: str, now: datetime, quantity: int, options: _TapOptions,
             clock: _PhaseClock) -> TapOutcome:
        try:
            with clock.phase("card_io"):
                session = PivSession(connection)
        except ApduError as exc:
            log.info("card refused: no PIV application (%s)", exc)
            return TapOutcome(Decision.refuse(Reason.NOT_PIV_CARD))
        except ReaderError as exc:
            return TapOutcome(reader_failure(exc))
        try:
            with clock.phase("card_io"):
                credential_bytes = session.get_data(ObjectId.KARTU_CREDENTIAL)
        except ApduError as exc:
            log.info("card refused: no Kartu Bahagia credential (%s)", exc)
            return TapOutcome(_unreadable_credential(exc))
        except ReaderError as exc:
            return TapOutcome(reader_failure(exc))

        with clock.phase("verify"):
            trust = self.store.trust_store()
            verification = verify_chip(credential_bytes, trust, now)
        if not verification.accepted:
            return self._refused(verification)
        return self._challenge(session, verification.credential, trust, program, now, quantity, options, clock)

    def _challenge(self, session: PivSession, credential: Credential, trust: TrustStore, program: str, now: datetime,
                   quantity: int, options: _TapOptions, clock: _PhaseClock) -> TapOutcome:
        tapped_at = int(now.timestamp())
        nonce = os.urandom(NONCE_SIZE)
        digest = tap_digest(nonce, self.terminal_id, program, quantity, tapped_at)
        try:
            with clock.phase("card_io"):
                card_signature = session.sign_digest(Slot.CARD_AUTHENTICATION, digest)
        except ApduError as exc:
            log.warning("card %s cannot sign with slot 9E: %s", credential.card_number, exc)
            return TapOutcome(Decision.refuse(Reason.CARD_CLONED), credential)
        except ReaderError as exc:
            return TapOutcome(reader_failure(exc), credential)
        with clock.phase("verify"):
            genuine = verify_tap_signature(credential, digest, card_signature)
        if not genuine:
            reason = diagnose_signature_failure(session, credential, digest, card_signature, self.store, trust)
            log.warning("card %s refused: %s", credential.card_number, reason.value)
            return TapOutcome(Decision.refuse(reason), credential)

        photo = None
        if options.check_photo:
            refusal, photo = self._read_photo(session, credential, clock)
            if refusal is not None:
                return TapOutcome(refusal, credential)
        proof = None
        if options.pin is not None:
            try:
                with clock.phase("card_io"):
                    refusal, proof = prove_pin(session, credential, digest, options.pin, trust, now)
            except ReaderError as exc:
                return TapOutcome(reader_failure(exc), credential)
            if refusal is not None:
                return TapOutcome(refusal, credential, photo=photo)
        if options.read_only:
            presence = CardPresence(nonce, program, quantity, tapped_at, card_signature)
            return TapOutcome(Decision.accept(), credential, photo=photo, presence=presence)
        record = Redemption(
            record_id=str(uuid.uuid4()), terminal_id=self.terminal_id, card_number=credential.card_number,
            household_id=credential.household_id, program=program, quantity=quantity, period=period_of(now),
            tapped_at=tapped_at, nonce=nonce, assurance=Assurance.CHIP, card_signature=card_signature,
            pin_signature=proof.signature if proof else None,
        )
        with clock.phase("commit"):
            outcome = self._commit(credential, record)
        return replace(outcome, photo=photo)

    def _read_photo(self, session: PivSession, credential: Credential,
                    clock: _PhaseClock) -> tuple[Decision | None, bytes | None]:
        """Read the facial image; return a refusal unless its SHA-256 equals the credential's photo digest."""
        try:
            with clock.phase("card_io"):
                photo = session.get_data(ObjectId.FACIAL_IMAGE)
        except ApduError as exc:
            log.warning("card %s has no readable facial image: %s", credential.card_number, exc)
            return Decision.refuse(Reason.PHOTO_MISMATCH), None
        except ReaderError as exc:
            return reader_failure(exc), None
        with clock.phase("verify"):
            matches = credential.photo_digest is not None and hashlib.sha256(photo).digest() == credential.photo_digest
        if not matches:
            log.warning("card %s: facial image does not match the photo digest", credential.card_number)
            return Decision.refuse(Reason.PHOTO_MISMATCH), None
        return None, photo

    def scan_qr(self, text: str, program: str, now: datetime, quantity: int = 1,
                reader_available: bool = False) -> TapOutcome:
        """Decide a hand-over from a QR credential; it proves no presence, so the record carries no card signature.

        The QR code printed on a chip card is a fallback for a terminal whose
        reader is out of order: with reader_available it is refused
        (CHIP_REQUIRED), and the chip must be tapped. The QR code of a
        QR-only card is accepted either way.
        """
        verification = verify_qr(text, self.store.trust_store(), now)
        if not verification.accepted:
            return self._refused(verification)
        credential = verification.credential
        if reader_available and credential.on_chip_card:
            log.info("card %s refused: QR code of a chip card while the reader works", credential.card_number)
            return TapOutcome(Decision.refuse(Reason.CHIP_REQUIRED), credential)
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
        """Check the household's limit and insert the record in one IMMEDIATE transaction."""
        program = record.program
        with self.store.transaction() as db:
            usage = self.store.quota_usage(program, record.household_id, record.period, db)
            if usage is None:
                return TapOutcome(Decision.refuse(Reason.NO_ENTITLEMENTS, program=ProgrammeName(program)), credential)
            if usage.used_at_sync is None:
                refusal = unlisted_refusal(db, program, credential)
                log.info("card %s rejected: %s", credential.card_number, refusal.reason.value)
                return TapOutcome(refusal, credential)
            entitlement_set = usage.entitlement_set
            used = household_use(self.store, usage, program, record.household_id, record.period, db)
            # NOTE: A per-person quota is checked twice, the household against quota x entitled persons and
            # the card against the quota (terminal.card_share). The card's count covers only this terminal's
            # records because the set's use is per household. A card that also drew elsewhere in the period
            # is caught only by the server's reconciliation (quota_overuse of the card).
            # A status programme (BPJS PBI) has no quota, and the server sends quota 0 for it. Its households
            # are served while their cover lasts, with no quota left to show (terminal.status_cover).
            cover = status_cover(db, program, record.household_id)
            if cover is not None:
                return self._commit_status(db, credential, record, cover)
            limit = usage.limit
            if used + record.quantity > limit:
                log.info("card %s rejected: quota of %s used (%d of %d)", credential.card_number, program, used, limit)
                unit = entitlement_set.unit
                decision = Decision.refuse(
                    Reason.QUOTA_EXCEEDED, program=ProgrammeName(program),
                    period=QuotaPeriod(program, record.period, entitlement_set.quota_period), used=used,
                    quota=amount(limit, unit), remaining=amount(max(limit - used, 0), unit),
                    quantity=amount(record.quantity, unit),
                )
                return TapOutcome(decision, credential, remaining=limit - used, unit=entitlement_set.unit,
                                  quota_period=entitlement_set.quota_period)
            card_refusal = card_share_refusal(db, usage, record)
            if card_refusal is not None:
                log.info("card %s rejected: its share of %s for the quota period is used", credential.card_number, program)
                return TapOutcome(card_refusal, credential, unit=entitlement_set.unit,
                                  quota_period=entitlement_set.quota_period)
            remaining = limit - used - record.quantity
            self._insert(db, record, remaining, entitlement_set.unit)
        log.info("card %s accepted: %s x%d, record %s", credential.card_number, program, record.quantity, record.record_id)
        return TapOutcome(Decision.accept(), credential, record.record_id, remaining, entitlement_set.unit,
                          quota_period=entitlement_set.quota_period, quantity=record.quantity)

    def _commit_status(self, db: sqlite3.Connection, credential: Credential, record: Redemption,
                       cover: StatusCover) -> TapOutcome:
        """Record a visit under a status programme unless the cover has ended. No quota is counted or shown."""
        decision = cover_decision(cover, record.tapped_at)
        if not decision.accepted:
            log.info("card %s rejected: %s status ended on %s", credential.card_number, record.program,
                     cover.valid_until)
            return TapOutcome(decision, credential)
        self._insert(db, record, None, None)
        log.info("card %s accepted: %s status, record %s", credential.card_number, record.program, record.record_id)
        return TapOutcome(decision, credential, record.record_id)

    def _insert(self, db: sqlite3.Connection, record: Redemption, remaining: int | None, unit: str | None) -> None:
        self.store.insert_redemption(db, {
            "record_id": record.record_id, "program": record.program, "household_id": record.household_id,
            "card_number": record.card_number, "quantity": record.quantity, "period": record.period,
            "tapped_at": record.tapped_at, "assurance": record.assurance.value,
            "signed_record": sign_record(record, self.signer),
        })
        if self.on_record is not None:
            self.on_record(db, record, remaining, unit or "")
