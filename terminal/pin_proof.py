"""PIN hand-overs (cash aid): the card checks the PIN, and a slot 9A signature proves it did.

The terminal never compares the PIN itself. It sends VERIFY, then asks the
PIV Authentication key (slot 9A) to sign the same tap digest that the Card
Authentication key (9E) signed. The card signs with 9A only after a correct
VERIFY in the same session, so a 9A signature that verifies with the key in
the card's 9A certificate, issued by a trusted issuer for this card number,
proves the cardholder PIN was entered for this very hand-over.

Extra APDUs after the four of the fast path: VERIFY, GENERAL AUTHENTICATE 9A,
GET DATA of the 9A certificate (5FC105), and VERIFY with P1 FF to clear the
PIN status before the card leaves the reader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from card.apdu import ApduError
from card.certificates import CertificateError, verify_card_certificate
from card.credential import Credential
from card.decision import Decision, Reason
from card.keys import verify_der_prehashed
from card.piv import InvalidPinError, PivObjectError, PivSession, Slot
from card.verify import TrustStore

__all__ = ["PinProof", "prove_pin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinProof:
    """The 9A signature over the tap digest and the certificate whose key verifies it."""

    signature: bytes
    certificate: bytes


def _issuer_kid(certificate: x509.Certificate) -> bytes | None:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return extension.value.key_identifier


def _check_certificate(der: bytes, credential: Credential, trust: TrustStore, now: datetime) -> x509.Certificate:
    """Check the 9A certificate: issued by a trusted issuer, for this card number, valid now."""
    certificate = x509.load_der_x509_certificate(der)
    issuer = trust.issuers.get(_issuer_kid(certificate) or b"")
    if issuer is None:
        raise CertificateError("the 9A certificate names no issuer this terminal trusts")
    verify_card_certificate(der, issuer.public_key)
    serials = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if [attribute.value for attribute in serials] != [credential.card_number]:
        raise CertificateError("the 9A certificate was issued for another card number")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateError("the 9A certificate is not valid at the tap time")
    return certificate


def prove_pin(session: PivSession, credential: Credential, digest: bytes, pin: str, trust: TrustStore,
              now: datetime) -> tuple[Decision | None, PinProof | None]:
    """Verify pin on the card and check its 9A signature over digest; return a refusal or the proof."""
    try:
        session.verify_pin(pin)
    except InvalidPinError as exc:
        log.info("card %s: PIN rejected, %d attempts left", credential.card_number, exc.attempts_remaining)
        if exc.blocked:
            return Decision.refuse(Reason.PIN_BLOCKED), None
        return Decision.refuse(Reason.PIN_WRONG, attempts=exc.attempts_remaining), None
    except ValueError:
        # A PIN of the wrong format never reaches the card, so it costs no attempt.
        return Decision.refuse(Reason.PIN_NEEDED), None
    try:
        signature = session.sign_digest(Slot.AUTHENTICATION, digest)
        certificate = session.read_certificate(Slot.AUTHENTICATION)
        session.clear_pin_verification()
    except (ApduError, PivObjectError) as exc:
        log.warning("card %s: no PIN signature with slot 9A: %s", credential.card_number, exc)
        return Decision.refuse(Reason.PIN_PROOF_INVALID), None
    der = certificate.public_bytes(serialization.Encoding.DER)
    try:
        checked = _check_certificate(der, credential, trust, now)
    except (CertificateError, ValueError) as exc:
        log.warning("card %s: 9A certificate rejected: %s", credential.card_number, exc)
        return Decision.refuse(Reason.PIN_PROOF_INVALID), None
    if not verify_der_prehashed(checked.public_key(), signature, digest):
        log.warning("card %s: 9A signature does not verify", credential.card_number)
        return Decision.refuse(Reason.PIN_PROOF_INVALID), None
    return None, PinProof(signature, der)
