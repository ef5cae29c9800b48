"""Trust list intake and revocation list publishing on the server.

Trust lists arrive signed by the offline city root key; the server only
checks them against the pinned root public key and keeps the newest.
Revocation lists are signed here by the server's sync key. Each revocation
writes the next version: a delta that adds the card's serial and the new full
list, in the same database transaction as the revocation itself. The sync key
must be a sync key of the newest trust list, valid on the issued day (WIB),
else terminals would reject the list, so revoking is refused until it is.

Before the first revocation a terminal would find no list and report it
missing. So the server publishes an empty version 1 as soon as its sync key
can sign lists. publish_empty_revocation_list() tries at startup and after
each trust list upload.
"""

from __future__ import annotations

import logging
from array import array
from datetime import date

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from card.cose import Signer
from card.keys import kid_of, public_key_from_spki, spki_of
from card.revocation import ListKind, RevocationList, serial_of, sign_revocation_list
from card.trustlist import Role, TrustList, TrustListError, decode_trust_list
from server.models import CARD_REVOKED, Card
from server.models_revocation import CardRevocation, RevocationListVersion, TrustListUpload, TrustRoot
from server.periods import utc_datetime, wib_date

__all__ = [
    "TrustConflict",
    "pin_root",
    "pinned_root",
    "store_trust_list",
    "latest_trust_list",
    "latest_revocation_version",
    "revoke_card",
    "publish_empty_revocation_list",
    "revocation_day_is_valid",
]

logger = logging.getLogger(__name__)


class TrustConflict(Exception):
    """The request conflicts with stored trust data. The message names the step that resolves it."""


def pinned_root(session: Session) -> ec.EllipticCurvePublicKey | None:
    row = session.get(TrustRoot, 1)
    return public_key_from_spki(row.public_key) if row else None


def pin_root(session: Session, public_key: ec.EllipticCurvePublicKey, now: float) -> bool:
    """Pin the root key once; return False when this key is already pinned, raise TrustConflict for another."""
    row = session.get(TrustRoot, 1)
    spki = spki_of(public_key)
    if row is not None:
        if row.public_key != spki:
            raise TrustConflict(
                f"root key {row.kid.hex()} is already pinned; a server follows one root key, so set up a new server"
            )
        return False
    session.add(TrustRoot(id=1, public_key=spki, kid=kid_of(public_key), pinned_at=utc_datetime(now)))
    session.commit()
    logger.info("pinned root key %s", kid_of(public_key).hex())
    return True


def latest_trust_list(session: Session) -> TrustListUpload | None:
    return session.scalars(select(TrustListUpload).order_by(TrustListUpload.sequence.desc()).limit(1)).first()


def store_trust_list(session: Session, signed: bytes, now: float) -> TrustList:
    """Verify an uploaded trust list against the pinned root key and store it when its sequence is higher.

    Raises TrustListError for a list that does not verify and TrustConflict
    when no root key is pinned or the sequence is not above the newest.
    """
    root = pinned_root(session)
    if root is None:
        raise TrustConflict("no root key is pinned; pin it with PUT /api/v1/trust/root first")
    trust_list = decode_trust_list(signed, root)
    latest = latest_trust_list(session)
    if latest is not None and trust_list.sequence <= latest.sequence:
        raise TrustConflict(
            f"trust list sequence {trust_list.sequence} is not above the stored sequence {latest.sequence}; "
            "sign a new list with a higher sequence"
        )
    session.add(TrustListUpload(sequence=trust_list.sequence, signed=signed, uploaded_at=utc_datetime(now)))
    session.commit()
    logger.info("stored trust list sequence %d with %d keys", trust_list.sequence, len(trust_list.keys))
    return trust_list


def latest_revocation_version(session: Session) -> RevocationListVersion | None:
    return session.scalars(
        select(RevocationListVersion).order_by(RevocationListVersion.version.desc()).limit(1)
    ).first()


def _check_sync_key(session: Session, signer: Signer, day: date) -> None:
    latest = latest_trust_list(session)
    root = pinned_root(session)
    if latest is None or root is None:
        raise TrustConflict("no trust list is stored; upload one that names the server's sync key first")
    try:
        trust_list = decode_trust_list(latest.signed, root)
    except TrustListError as exc:
        raise TrustConflict(f"the stored trust list no longer verifies: {exc}") from None
    entry = next((key for key in trust_list.with_role(Role.SYNC) if key.kid == signer.kid), None)
    if entry is None:
        raise TrustConflict(
            f"the server's sync key {signer.kid.hex()} is not a sync key of trust list sequence "
            f"{trust_list.sequence}; upload a trust list that names it"
        )
    if not entry.may_sign_on(day):
        raise TrustConflict(
            f"the server's sync key {signer.kid.hex()} may not sign on {day} "
            f"(valid {entry.not_before} to {entry.not_after}); rotate the sync key"
        )


def _revoked_serials(session: Session) -> list[int]:
    return [serial_of(number) for number in session.scalars(select(CardRevocation.card_number))]


def revoke_card(
    session: Session, signer: Signer, card: Card, reason: str, revoked_from: date, now: float
) -> CardRevocation:
    """Revoke a card and publish the next revocation list version, all in one transaction.

    The caller checks that the card is not revoked yet. Raises TrustConflict
    when the sync key cannot sign a list that terminals would accept.
    """
    issued_at = int(now)
    _check_sync_key(session, signer, wib_date(issued_at))
    previous = latest_revocation_version(session)
    version = (previous.version if previous else 0) + 1
    serial = serial_of(card.card_number)
    revoked = sorted(set(_revoked_serials(session)) | {serial})
    full = RevocationList(ListKind.FULL, version, issued_at, array("Q", revoked), count=len(revoked))
    delta = RevocationList(
        ListKind.DELTA, version, issued_at, array("Q", [serial]), count=len(revoked), base_version=version - 1
    )
    if previous is not None:
        session.execute(update(RevocationListVersion).where(RevocationListVersion.full.is_not(None)).values(full=None))
    session.add(RevocationListVersion(
        version=version, issued_at=issued_at, count=len(revoked), signer_kid=signer.kid,
        delta=sign_revocation_list(delta, signer), full=sign_revocation_list(full, signer),
    ))
    session.flush()
    revocation = CardRevocation(
        card_number=card.card_number, reason=reason, revoked_from=revoked_from,
        revoked_at=utc_datetime(now), list_version=version,
    )
    session.add(revocation)
    card.status = CARD_REVOKED
    session.commit()
    logger.info("card %s revoked from %s; revocation list version %d lists %d cards",
                card.card_number, revoked_from, version, len(revoked))
    return revocation


def publish_empty_revocation_list(session: Session, signer: Signer, now: float) -> bool:
    """Publish revocation list version 1 listing no card when no version exists yet, and commit.

    Returns True when it published. Returns False when a version exists, or
    when no stored trust list names the sync key for today, because terminals
    would reject the list. The next trust list upload tries again.
    """
    if latest_revocation_version(session) is not None:
        return False
    issued_at = int(now)
    try:
        _check_sync_key(session, signer, wib_date(issued_at))
    except TrustConflict as exc:
        logger.info("empty revocation list not published yet, retried after the next trust list upload: %s", exc)
        return False
    empty = array("Q")
    full = RevocationList(ListKind.FULL, 1, issued_at, empty, count=0)
    delta = RevocationList(ListKind.DELTA, 1, issued_at, empty, count=0, base_version=0)
    session.add(RevocationListVersion(
        version=1, issued_at=issued_at, count=0, signer_kid=signer.kid,
        delta=sign_revocation_list(delta, signer), full=sign_revocation_list(full, signer),
    ))
    try:
        session.commit()
    except IntegrityError as exc:
        # Another worker or a revocation published version 1 first.
        session.rollback()
        logger.info("empty revocation list not published because version 1 already exists: %s", exc.orig)
        return False
    logger.info("published empty revocation list version 1 signed by sync key %s", signer.kid.hex())
    return True


def revocation_day_is_valid(revoked_from: date, now: float) -> bool:
    """Return True when revoked_from is not after today in WIB: lists cannot carry a future start."""
    return revoked_from <= wib_date(now)
