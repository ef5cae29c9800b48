"""The failure path of the chip tap: why the card's answer to the challenge does not verify.

The fast path sends nothing for this. Only when the card's signature fails
with the card key that its credential names does the terminal read more, to
tell the person at the counter what kind of card is on the reader:

1. Replay: this terminal already recorded the same signature for this card,
   or the signature verifies over the challenge of an earlier recorded tap
   (a re-encoded or (r, n - s) copy of an old signature). Failing that, the
   card gets a second, different challenge: a card that answers it with the
   same bytes, or now with a valid signature, answered the first challenge
   with a signature it did not make for it.
2. The CAK certificate (PIV object 5FC101). If a trusted issuer signed it and
   the card signs with its key, the card is a genuine Kartu Bahagia chip that
   carries another card's credential. If the card cannot sign with the
   certified key, the certificate belongs to another card.
3. No certificate, or one that no trusted issuer signed: CARD_NOT_GENUINE.

A card that cannot sign with slot 9E at all is refused earlier, by the tap
itself, as CARD_CLONED.
"""

from __future__ import annotations

import logging
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from card import cose
from card.apdu import ApduError
from card.credential import Credential
from card.decision import Reason
from card.keys import decompress_point, verify_der_prehashed
from card.piv import PivSession, Slot
from card.piv_objects import PivObjectError
from card.records import Assurance, RecordError, Redemption, decode_record
from card.verify import TrustStore
from hardware.reader_errors import ReaderError
from terminal.store import TerminalStore

__all__ = ["diagnose_signature_failure", "issued_by_trusted_issuer"]

log = logging.getLogger(__name__)


def diagnose_signature_failure(session: PivSession, credential: Credential, digest: bytes, signature: bytes,
                               store: TerminalStore, trust: TrustStore) -> Reason:
    """Return the refusal reason for a card whose 9E signature over digest fails with the credential's card key."""
    try:
        card_key = decompress_point(credential.card_key or b"")
    except ValueError:
        return Reason.CARD_NOT_GENUINE
    if _recorded_earlier(store, credential.card_number, card_key, signature):
        log.warning("card %s returned a signature recorded at an earlier tap", credential.card_number)
        return Reason.SIGNATURE_REPLAYED
    try:
        if _answers_probe_like_a_replay(session, card_key, signature):
            log.warning("card %s repeated its signature for a second challenge, or signed only that one", credential.card_number)
            return Reason.SIGNATURE_REPLAYED
        certificate = session.card_authentication_certificate()
    except (ApduError, PivObjectError, ReaderError, ValueError) as exc:
        log.warning("card %s: no usable CAK certificate (%s)", credential.card_number, exc)
        return Reason.CARD_NOT_GENUINE
    return _judge_certificate(certificate, credential, digest, signature, trust)


def _recorded_earlier(store: TerminalStore, card_number: str, card_key: ec.EllipticCurvePublicKey,
                      signature: bytes) -> bool:
    for record in _chip_records(store, card_number):
        if record.card_signature == signature:
            return True
        if verify_der_prehashed(card_key, signature, record.digest()):
            return True
    return False


def _chip_records(store: TerminalStore, card_number: str) -> list[Redemption]:
    """Return this terminal's chip records of card_number, skipping any that do not decode."""
    with store.transaction() as db:
        rows = db.execute(
            "SELECT signed_record FROM redemptions WHERE card_number = ? AND assurance = ?",
            (card_number, Assurance.CHIP.value),
        ).fetchall()
    records = []
    for (signed_record,) in rows:
        try:
            records.append(decode_record(cose.decode_sign1(signed_record).payload))
        except (cose.COSEError, RecordError) as exc:
            log.error("stored record of card %s does not decode: %s", card_number, exc)
    return records


def _answers_probe_like_a_replay(session: PivSession, card_key: ec.EllipticCurvePublicKey, signature: bytes) -> bool:
    """Send a second, random challenge; a replaying card repeats itself or only now signs correctly."""
    probe = os.urandom(32)
    second = session.sign_digest(Slot.CARD_AUTHENTICATION, probe)
    return second == signature or verify_der_prehashed(card_key, second, probe)


def issued_by_trusted_issuer(certificate: x509.Certificate, trust: TrustStore) -> bool:
    """Return whether an issuer key of the trust store signed certificate (ECDSA, the certificate's hash)."""
    for issuer in trust.issuers.values():
        try:
            issuer.public_key.verify(
                certificate.signature, certificate.tbs_certificate_bytes,
                ec.ECDSA(certificate.signature_hash_algorithm),
            )
        except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
            continue
        return True
    return False


def _judge_certificate(certificate: x509.Certificate, credential: Credential, digest: bytes, signature: bytes,
                       trust: TrustStore) -> Reason:
    try:
        certified_key = certificate.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return Reason.CARD_NOT_GENUINE
    if not isinstance(certified_key, ec.EllipticCurvePublicKey) or not issued_by_trusted_issuer(certificate, trust):
        log.warning("card %s: CAK certificate not issued by a trusted issuer", credential.card_number)
        return Reason.CARD_NOT_GENUINE
    if verify_der_prehashed(certified_key, signature, digest):
        log.warning("card %s: credential found on another genuine card", credential.card_number)
        return Reason.CREDENTIAL_ON_OTHER_CARD
    log.warning("card %s: chip cannot sign with the key of its CAK certificate", credential.card_number)
    return Reason.CERTIFICATE_OF_OTHER_CARD
