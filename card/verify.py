"""Offline verification of chip and QR credentials and of the card's tap signature.

The verifier takes the trust store and the current time as arguments and never
reads a clock or the network. Validity is judged on the calendar date in WIB
(UTC+7, Kota Jambi's time zone, which has no daylight saving time): a
credential is valid from the start of its issued day through the end of its
expires day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Mapping

from cryptography.hazmat.primitives.asymmetric import ec

from card import cose
from card.credential import Credential, CredentialError, Profile, decode_payload
from card.decision import Decision, Reason
from card.keys import decompress_point, kid_of, verify_der_prehashed
from card.qrtext import QRTextError, from_qr_text

__all__ = ["WIB", "IssuerKey", "TrustStore", "Verification", "verify_chip", "verify_qr", "verify_tap_signature", "local_date"]

WIB = timezone(timedelta(hours=7), "WIB")


def local_date(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(WIB).date()


@dataclass(frozen=True)
class IssuerKey:
    """An issuer public key and the days on which it may sign credentials (inclusive)."""

    public_key: ec.EllipticCurvePublicKey
    not_before: date | None = None
    not_after: date | None = None

    @property
    def kid(self) -> bytes:
        return kid_of(self.public_key)

    def valid_on(self, day: date) -> bool:
        return (self.not_before is None or day >= self.not_before) and (
            self.not_after is None or day <= self.not_after
        )


@dataclass(frozen=True)
class TrustStore:
    issuers: Mapping[bytes, IssuerKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuers", MappingProxyType(dict(self.issuers)))

    @classmethod
    def of(cls, *keys: IssuerKey) -> "TrustStore":
        return cls({key.kid: key for key in keys})


@dataclass(frozen=True)
class Verification:
    decision: Decision
    credential: Credential | None = None

    @property
    def accepted(self) -> bool:
        return self.decision.accepted


def _refuse(reason: Reason, credential: Credential | None = None, **params: object) -> Verification:
    return Verification(Decision.refuse(reason, **params), credential)


def _verify_message(data: bytes, trust: TrustStore, now: datetime, profile: Profile) -> Verification:
    try:
        message = cose.decode_sign1(data)
    except cose.COSEError as exc:
        return _refuse(Reason.CREDENTIAL_MALFORMED, detail=str(exc))
    issuer = trust.issuers.get(message.kid)
    if issuer is None:
        return _refuse(Reason.UNKNOWN_ISSUER)
    # The signature is checked before the payload is decoded, so a forged
    # payload is never parsed beyond the COSE envelope.
    if not cose.verify_sign1(message, issuer.public_key):
        return _refuse(Reason.BAD_SIGNATURE)
    try:
        credential = decode_payload(message.payload)
    except CredentialError as exc:
        return _refuse(Reason.CREDENTIAL_MALFORMED, detail=str(exc))
    return _check_credential(credential, issuer, now, profile)


def _check_credential(credential: Credential, issuer: IssuerKey, now: datetime, profile: Profile) -> Verification:
    if credential.profile is not profile:
        return _refuse(
            Reason.WRONG_PROFILE, credential, expected=credential.profile.name.lower(), actual=profile.name.lower()
        )
    if not issuer.valid_on(credential.issued):
        return _refuse(Reason.ISSUER_KEY_NOT_VALID, credential, issued=credential.issued.isoformat())
    today = local_date(now)
    if today < credential.issued:
        return _refuse(Reason.NOT_YET_VALID, credential, issued=credential.issued.isoformat())
    if today > credential.expires:
        return _refuse(Reason.EXPIRED, credential, expires=credential.expires.isoformat())
    return Verification(Decision.accept(), credential)


def verify_chip(data: bytes, trust: TrustStore, now: datetime) -> Verification:
    """Verify the chip credential read from the card's credential object."""
    return _verify_message(data, trust, now, Profile.CHIP)


def verify_qr(text: str, trust: TrustStore, now: datetime) -> Verification:
    """Verify a QR credential given as its "KB1:" text."""
    try:
        data = from_qr_text(text)
    except QRTextError as exc:
        return _refuse(Reason.QR_TEXT_INVALID, detail=str(exc))
    return _verify_message(data, trust, now, Profile.QR)


def verify_tap_signature(credential: Credential, digest: bytes, signature: bytes) -> bool:
    """Check the card's 9E signature over the tap digest with the card key in the credential."""
    if credential.card_key is None:
        return False
    try:
        card_key = decompress_point(credential.card_key)
    except ValueError:
        return False
    return verify_der_prehashed(card_key, signature, digest)
