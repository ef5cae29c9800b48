"""Reconciliation of PIN hand-overs: a record of a PIN programme needs a PIN signature that verifies.

A programme whose rule has pin_required pays out only after the cardholder
entered the PIN. The card's PIV Authentication key (slot 9A) signs the tap
digest only after a correct VERIFY in the same session. The proof is
therefore a 9A signature over the record's tap digest that verifies with
the 9A key registered at issuance. Intake rejects a PIN signature that does not verify
with a registered key. This check adds one pin_unproven finding per record
of a PIN programme that the intake could not prove, with the cause:

- missing: the record carries no PIN signature (a QR scan, or a terminal
  that skipped the PIN);
- no_registered_key: the card was registered without its 9A key;
- invalid: the signature does not verify with the registered key (a record
  stored before the key was registered).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from card import cose
from card.keys import decompress_point, verify_der_prehashed
from card.records import RecordError, decode_record
from server.keyed_rows import select_by_keys
from server.models import Card, Redemption
from server.models_register import ProgrammeRule

__all__ = ["check_pin_proof", "KIND"]

logger = logging.getLogger(__name__)

KIND = "pin_unproven"
_CHUNK = 1000


def _pin_programmes(session: Session) -> set[str]:
    return set(session.scalars(select(ProgrammeRule.program).where(ProgrammeRule.pin_required.is_(True))))


def _registered_keys(session: Session, card_numbers: set[str]) -> dict[str, bytes | None]:
    numbers = sorted(card_numbers)
    keys: dict[str, bytes | None] = {}
    for start in range(0, len(numbers), _CHUNK):
        rows = session.execute(select_by_keys(session, Card.card_number, numbers[start:start + _CHUNK],
                                              (Card.card_number, Card.authentication_key)))
        keys.update((number, key) for number, key in rows)
    return keys


def _signed_records(session: Session, record_ids: list[str]) -> dict[str, bytes]:
    signed: dict[str, bytes] = {}
    for start in range(0, len(record_ids), _CHUNK):
        signed.update(session.execute(
            select_by_keys(session, Redemption.record_id, record_ids[start:start + _CHUNK],
                           (Redemption.record_id, Redemption.signed_record))
        ).all())
    return signed


def pin_problem(signed_record: bytes, authentication_key: bytes | None) -> str | None:
    """Return why the stored signed record does not prove a PIN entry, or None when its PIN signature verifies."""
    try:
        redemption = decode_record(cose.decode_sign1(bytes(signed_record)).payload)
    except (cose.COSEError, RecordError):
        # Intake stored only records that decoded, so this is a damaged row.
        return "missing"
    if redemption.pin_signature is None:
        return "missing"
    if authentication_key is None:
        return "no_registered_key"
    if not verify_der_prehashed(decompress_point(authentication_key), redemption.pin_signature, redemption.digest()):
        return "invalid"
    return None


def check_pin_proof(session: Session, records: list[Redemption], now: datetime, save: Callable[..., bool]) -> int:
    """Add a finding for each record of a PIN programme without a verified PIN signature; return the changes.

    save is server.reconcile's finding writer, so the finding is keyed by
    record id and running the check again changes nothing.
    """
    programmes = _pin_programmes(session)
    candidates = [record for record in records if record.program in programmes]
    if not candidates:
        return 0
    keys = _registered_keys(session, {record.card_number for record in candidates})
    # The records come without their signed bytes, which only this check reads.
    signed = _signed_records(session, [record.record_id for record in candidates])
    changed = 0
    for record in candidates:
        problem = pin_problem(signed[record.record_id], keys.get(record.card_number))
        if problem is None:
            continue
        detail = {"terminal_id": record.terminal_id, "assurance": record.assurance, "problem": problem}
        changed += save(session, now, KIND, record.program, record.card_number, f"{KIND}:{record.record_id}",
                        detail, {record.record_id})
    if changed:
        logger.info("%d records of PIN programmes without a verified PIN signature", changed)
    return changed
