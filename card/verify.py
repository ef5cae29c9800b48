"""Offline verification of chip and QR credentials and of the card's tap signature.

The verifier takes the trust store and the current time as arguments and never
reads a clock or the network. Validity is judged in WIB (UTC+7, Kota Jambi's
time zone, which has no daylight saving time). The boundary rule, to the
second: a credential issued on day I and expiring on day E is valid for
  start of I (00:00:00 WIB) - clock skew  <=  now  <  start of E + 1 day (00:00:00 WIB)
so its last valid second is 23:59:59 WIB on E. The clock skew is the trust
store's tolerance for a terminal clock that is behind (CLOCK_SKEW_TOLERANCE on
terminals, zero unless a store sets it). There is no tolerance on expiry.

Checks run in this order, and the first failure is the decision. First the
COSE envelope, the issuer kid, the signature, the payload and the profile.
Then the issuer key against the issued day: its revocation day first, then
its signing window. Last come card revocation and validity at now.
verify_qr() first tries a fast path for credentials in the issuance
station's own byte layout, which makes the same checks and leaves every
refusal but a bad signature to this order.
"""

from __future__ import annotations

import functools
import logging
from hashlib import sha256 as _sha256
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from card import cose
from card.credential import Credential, CredentialError, Profile, decode_payload
from card.credential_layout import decode_common_payload
from card.decision import Decision, Reason
from card.i18n import N_, Localized, translate
from card.keys import ES256_PREHASHED, decompress_point, kid_of, raw_to_der, verify_der_prehashed
from card.qrtext import QRTextError, from_qr_text
from card.revocation import NO_REVOCATIONS, CardRevocation, RevokedSerials

__all__ = [
    "WIB",
    "CLOCK_SKEW_TOLERANCE",
    "IssuerKey",
    "TrustStore",
    "Verification",
    "verify_chip",
    "verify_qr",
    "verify_tap_signature",
    "local_date",
    "validity_window",
    "DecoderDetail",
]

log = logging.getLogger(__name__)

WIB = timezone(timedelta(hours=7), "WIB")

# A terminal accepts a credential from 12 hours before the start of its issued
# day. So a card issued today is accepted by a terminal whose clock is up to
# 12 hours behind, which then reads 12:00 WIB yesterday or later. Expiry gets
# no tolerance. A terminal whose clock is ahead therefore rejects a card in the
# last hours of its final day, which is rare because cards run for years.
CLOCK_SKEW_TOLERANCE = timedelta(hours=12)


def local_date(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(WIB).date()


def validity_window(issued: date, expires: date, clock_skew: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """Return the first valid instant and the first instant after validity (exclusive), in WIB."""
    start = datetime(issued.year, issued.month, issued.day, tzinfo=WIB) - clock_skew
    end = datetime(expires.year, expires.month, expires.day, tzinfo=WIB) + timedelta(days=1)
    return start, end


@functools.lru_cache(maxsize=256)
def _cached_validity_window(issued: date, expires: date, clock_skew: timedelta) -> tuple[datetime, datetime]:
    """Return validity_window() in UTC, computed once per (issued, expires, skew).

    Cards are issued in batches, so few such triples occur. Terminals pass
    now in UTC, and two datetimes with the same tzinfo compare without UTC
    offset calls. A WIB bound against a UTC now costs about a microsecond
    more per comparison (timeit).
    """
    start, end = validity_window(issued, expires, clock_skew)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


@dataclass(frozen=True)
class IssuerKey:
    """An issuer public key, the days on which it may sign credentials (inclusive) and its revocation day.

    A credential whose issued day is on or after revoked_from is refused,
    because the key was reported compromised from that day on.
    """

    public_key: ec.EllipticCurvePublicKey
    not_before: date | None = None
    not_after: date | None = None
    revoked_from: date | None = None

    @property
    def kid(self) -> bytes:
        return kid_of(self.public_key)

    def valid_on(self, day: date) -> bool:
        return (self.not_before is None or day >= self.not_before) and (
            self.not_after is None or day <= self.not_after
        )

    def revoked_on(self, day: date) -> bool:
        return self.revoked_from is not None and day >= self.revoked_from


@dataclass(frozen=True)
class TrustStore:
    """Verifier trust anchors: issuer keys by kid, the revoked cards and the clock skew tolerance."""

    issuers: Mapping[bytes, IssuerKey] = field(default_factory=dict)
    revoked_cards: CardRevocation = NO_REVOCATIONS
    clock_skew: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuers", MappingProxyType(dict(self.issuers)))
        if self.clock_skew < timedelta(0):
            raise ValueError(f"clock skew tolerance {self.clock_skew} must not be negative")

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


# Decision is frozen and an acceptance carries no parameters, so every
# accepted verification shares this one instance.
_ACCEPTED = Decision.accept()
_new_object = object.__new__


TEXT_NOT_DECODED = N_("the text could not be decoded")
DATA_NOT_DECODED = N_("the data could not be decoded")


@dataclass(frozen=True)
class DecoderDetail(Localized):
    """A decoder's English error text used as the {detail} of a rejection message.

    English output shows the text itself. The decoders word their errors in
    English only, so other languages show a translated short form instead.
    """

    english: str
    short_form: str

    def localize(self, language: str) -> str:
        return self.english if language == "en" else translate(self.short_form, language)

    def __str__(self) -> str:
        return self.english


def _refuse(reason: Reason, credential: Credential | None = None, **params: object) -> Verification:
    return Verification(Decision.refuse(reason, **params), credential)


def _verify_message(data: bytes, trust: TrustStore, now: datetime, profile: Profile) -> Verification:
    try:
        message = cose.decode_sign1(data)
    except cose.COSEError as exc:
        return _refuse(Reason.CREDENTIAL_MALFORMED, detail=DecoderDetail(str(exc), DATA_NOT_DECODED))
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
        return _refuse(Reason.CREDENTIAL_MALFORMED, detail=DecoderDetail(str(exc), DATA_NOT_DECODED))
    return _check_credential(credential, issuer, trust, now, profile)


def _check_credential(
    credential: Credential, issuer: IssuerKey, trust: TrustStore, now: datetime, profile: Profile
) -> Verification:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if credential.profile is not profile:
        return _refuse(
            Reason.WRONG_PROFILE, credential, expected=credential.profile.name.lower(), actual=profile.name.lower()
        )
    # The issued day is formatted only for a refusal, because accepting is the common path.
    if issuer.revoked_on(credential.issued):
        return _refuse(
            Reason.ISSUER_KEY_REVOKED, credential, issued=credential.issued.isoformat(),
            revoked_from=issuer.revoked_from.isoformat(),
        )
    if not issuer.valid_on(credential.issued):
        return _refuse(Reason.ISSUER_KEY_NOT_VALID, credential, issued=credential.issued.isoformat())
    if trust.revoked_cards.is_revoked(credential.card_number):
        return _refuse(Reason.CARD_REVOKED, credential)
    start, end = _cached_validity_window(credential.issued, credential.expires, trust.clock_skew)
    if now < start:
        return _refuse(Reason.NOT_YET_VALID, credential, issued=credential.issued.isoformat())
    if now >= end:
        return _refuse(Reason.EXPIRED, credential, expires=credential.expires.isoformat())
    return Verification(_ACCEPTED, credential)


def verify_chip(data: bytes, trust: TrustStore, now: datetime) -> Verification:
    """Verify the chip credential read from the card's credential object."""
    return _verify_message(data, trust, now, Profile.CHIP)


def verify_qr(text: str, trust: TrustStore, now: datetime) -> Verification:
    """Verify a QR credential given as its "KB1:" text."""
    verification = _accept_common_qr(text, trust, now)
    if verification is not None:
        return verification
    try:
        data = from_qr_text(text)
    except QRTextError as exc:
        # The decoder's text names format faults (a character and its position, a length), never card data.
        log.info("QR text rejected: %s", exc)
        return _refuse(Reason.QR_TEXT_INVALID, detail=DecoderDetail(str(exc), TEXT_NOT_DECODED))
    return _verify_message(data, trust, now, Profile.QR)


def _accept_common_qr(text: str, trust: TrustStore, now: datetime) -> Verification | None:
    """Accept a QR credential in the layout that the issuance station writes, or return None.

    The COSE envelope and the payload are sliced (cose.common_layout_parts,
    decode_common_payload) instead of decoded, and the checks run in one
    function. Every check of _verify_message and _check_credential is made.
    A failure returns None, and verify_qr() then decides on the general
    path with the reason, except a bad signature, which the general path
    would reach with the same message, issuer and outcome.
    """
    try:
        data = from_qr_text(text)
    except QRTextError:
        return None
    parts = cose.common_layout_parts(data)
    if parts is None or now.tzinfo is None:
        return None
    kid, to_be_signed, payload, signature = parts
    issuer = trust.issuers.get(kid)
    if issuer is None:
        return None
    try:
        # Hashing with hashlib and verifying the digest is about 5 us faster
        # than letting cryptography hash the Sig_structure (timeit).
        issuer.public_key.verify(raw_to_der(signature), _sha256(to_be_signed).digest(), ES256_PREHASHED)
    except InvalidSignature:
        return _refuse(Reason.BAD_SIGNATURE)
    credential = decode_common_payload(payload)
    if credential is None:
        return None
    issued = credential.issued
    if issuer.revoked_from is not None or issuer.not_before is not None or issuer.not_after is not None:
        if issuer.revoked_on(issued) or not issuer.valid_on(issued):
            return None
    revocations = trust.revoked_cards
    if type(revocations) is RevokedSerials:
        # The card number passed the Luhn check in decode_common_payload, so
        # its serial is read without serial_of() checking it again.
        revoked = revocations.contains_serial(int(credential.card_number[4:-1]))
    else:
        revoked = revocations.is_revoked(credential.card_number)
    if revoked:
        return None
    start, end = _cached_validity_window(issued, credential.expires, trust.clock_skew)
    if not start <= now < end:
        return None
    # The frozen dataclass __init__ sets each field through object.__setattr__.
    # Writing the instance dictionary gives an equal object in half the time (timeit).
    verification = _new_object(Verification)
    fields = verification.__dict__
    fields["decision"] = _ACCEPTED
    fields["credential"] = credential
    return verification


def verify_tap_signature(credential: Credential, digest: bytes, signature: bytes) -> bool:
    """Check the card's 9E signature over the tap digest with the card key in the credential."""
    if credential.card_key is None:
        return False
    try:
        card_key = decompress_point(credential.card_key)
    except ValueError:
        return False
    return verify_der_prehashed(card_key, signature, digest)
