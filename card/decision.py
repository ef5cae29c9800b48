"""Typed decisions: accepted, or refused with a reason code and a bilingual message.

Every refusal names what the person at the counter should do next. Messages
are English source strings translated through the gettext catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from card.i18n import N_, Counted, translate

__all__ = ["Reason", "Decision"]


class Reason(str, Enum):
    """Refusal reason codes, each with its English message template."""

    QR_TEXT_INVALID = "qr_text_invalid"
    CREDENTIAL_MALFORMED = "credential_malformed"
    UNKNOWN_ISSUER = "unknown_issuer"
    ISSUER_KEY_NOT_VALID = "issuer_key_not_valid"
    BAD_SIGNATURE = "bad_signature"
    WRONG_PROFILE = "wrong_profile"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    CARD_NOT_GENUINE = "card_not_genuine"
    NOT_KARTU_BAHAGIA = "not_kartu_bahagia"
    CARD_READ_FAILED = "card_read_failed"
    NOT_ENTITLED = "not_entitled"
    QUOTA_EXCEEDED = "quota_exceeded"
    # A per-person quota: this card has drawn one person's share of the quota period (terminal.card_share).
    CARD_SHARE_USED = "card_share_used"
    # The card's household is missing from the entitlement set, and the card was issued on or after the set's day.
    CARD_NEWER_THAN_LIST = "card_newer_than_list"
    NO_ENTITLEMENTS = "no_entitlements"
    # The household's cover by a status programme without a quota (BPJS PBI) ended before today.
    STATUS_ENDED = "status_ended"
    ISSUER_KEY_REVOKED = "issuer_key_revoked"
    CARD_REVOKED = "card_revoked"
    # Refusals of the chip tap: the card is not what it claims, or the tap did not finish.
    CARD_CLONED = "card_cloned"
    SIGNATURE_REPLAYED = "signature_replayed"
    CREDENTIAL_ON_OTHER_CARD = "credential_on_other_card"
    CERTIFICATE_OF_OTHER_CARD = "certificate_of_other_card"
    PHOTO_MISMATCH = "photo_mismatch"
    NOT_PIV_CARD = "not_piv_card"
    CARD_ANSWER_INVALID = "card_answer_invalid"
    CARD_REMOVED = "card_removed"
    READER_LOST = "reader_lost"
    # The QR code of a chip card, scanned at a terminal whose card reader works.
    CHIP_REQUIRED = "chip_required"
    # The terminal has gone longer without a sync than the programme's offline rule allows.
    OFFLINE_TOO_LONG = "offline_too_long"
    # Refusals of a PIN hand-over (cash aid): the card checks the PIN and proves it with slot 9A.
    PIN_NEEDED = "pin_needed"
    PIN_WRONG = "pin_wrong"
    PIN_BLOCKED = "pin_blocked"
    PIN_PROOF_INVALID = "pin_proof_invalid"

    @property
    def template(self) -> str:
        return _TEMPLATES[self]


_TEMPLATES = {
    Reason.QR_TEXT_INVALID: N_(
        "The QR code is not a Kartu Bahagia code ({detail}). Scan the QR code on the back of the card again."
    ),
    Reason.CREDENTIAL_MALFORMED: N_(
        "The card data is damaged ({detail}). Do not serve this card; send the holder to Dinas Sosial for a new card."
    ),
    Reason.UNKNOWN_ISSUER: N_(
        "The card was signed by an issuer this terminal does not trust. Sync the terminal and tap again; if it is still refused, do not serve the card."
    ),
    Reason.ISSUER_KEY_NOT_VALID: N_(
        "The card was signed by an issuer key that was not valid on {issued}. Do not serve the card; report its number to Dinas Sosial."
    ),
    Reason.BAD_SIGNATURE: N_(
        "The card's signature is invalid: the data was changed or forged. Do not serve the card; report its number to Dinas Sosial."
    ),
    Reason.WRONG_PROFILE: N_(
        "This credential is meant for the {expected} path, not the {actual} path. Use the chip reader for a chip card and the scanner for a QR code."
    ),
    Reason.NOT_YET_VALID: N_(
        "The card is valid only from {issued}. Check the terminal's date and time; if they are right, ask the holder to come back then."
    ),
    Reason.EXPIRED: N_(
        "The card expired on {expires}. Send the holder to Dinas Sosial to renew the card."
    ),
    Reason.CARD_NOT_GENUINE: N_(
        "The chip did not prove it is the card that was issued: it may be a copy. Do not serve the card; keep it and report its number to Dinas Sosial."
    ),
    Reason.NOT_KARTU_BAHAGIA: N_(
        "This is not a Kartu Bahagia card ({detail}). Ask the holder for their Kartu Bahagia."
    ),
    Reason.CARD_READ_FAILED: N_(
        "The card could not be read ({detail}). Hold the card still on the reader and tap again."
    ),
    Reason.NOT_ENTITLED: N_(
        "This household is not entitled to {program}. Nothing was recorded; the holder can ask Dinas Sosial about their eligibility."
    ),
    Reason.QUOTA_EXCEEDED: N_(
        "This household has used {used} of {quota} of its {program} quota for {period}. Requested: {quantity}; still available: {remaining}. Nothing was recorded. Hand over at most {remaining}, or ask the holder to come back when the next quota period starts."
    ),
    Reason.CARD_SHARE_USED: N_(
        "This card has received {used} of {program} for {period} so far, and one card may receive at most {quota} in that period: one entitled person's share. Requested: {quantity}. Nothing was recorded. Another entitled member of the household must bring their own card to receive their share."
    ),
    Reason.CARD_NEWER_THAN_LIST: N_(
        "This card was issued on {issued}, and this terminal's entitlement list for {program} dates from {listed}, so the list may not include the card's household yet. Nothing was recorded. Sync the terminal, then tap again; if the card is refused again after the sync, the holder can ask Dinas Sosial about their eligibility."
    ),
    Reason.STATUS_ENDED: N_(
        "This household's {program} status ended on {valid_until}. Nothing was recorded. Send the holder to the programme's office to renew the status; if it was renewed, sync the terminal and tap again."
    ),
    Reason.NO_ENTITLEMENTS: N_(
        "This terminal has no entitlement list for {program}. Sync the terminal, then tap again."
    ),
    Reason.ISSUER_KEY_REVOKED: N_(
        "The card was signed on {issued} by an issuer key that was withdrawn from {revoked_from} because it may be misused. Do not serve the card; send the holder to Dinas Sosial to have it checked and replaced."
    ),
    Reason.CARD_REVOKED: N_(
        "This card has been revoked (reported lost, replaced or withdrawn). Do not serve it; keep it if you can and send the holder to Dinas Sosial."
    ),
    Reason.CARD_CLONED: N_(
        "The chip holds a copy of a card's data but cannot sign with the card's key, so it is a copy. Nothing was recorded. Do not serve it; keep the card and report its number to Dinas Sosial."
    ),
    Reason.SIGNATURE_REPLAYED: N_(
        "The chip answered with a signature from an earlier tap instead of signing this one, so the card was tampered with. Nothing was recorded. Do not serve it; keep the card and report its number to Dinas Sosial."
    ),
    Reason.CREDENTIAL_ON_OTHER_CARD: N_(
        "The card data was issued for another chip: this chip is a genuine card, but its key is not the one the card data names. Nothing was recorded. Do not serve it; keep the card and report its number to Dinas Sosial."
    ),
    Reason.CERTIFICATE_OF_OTHER_CARD: N_(
        "The chip carries the certificate of another card and cannot sign with the key that certificate names, so it is a copy. Nothing was recorded. Do not serve it; keep the card and report its number to Dinas Sosial."
    ),
    Reason.PHOTO_MISMATCH: N_(
        "The photo on the chip is missing or does not match the card data, so the holder's identity cannot be checked. Nothing was recorded. Do not serve the card; send the holder to Dinas Sosial to have it checked."
    ),
    Reason.NOT_PIV_CARD: N_(
        "This card has no PIV application, so it is not a Kartu Bahagia card (it may be a bank or transport card). Ask the holder for their Kartu Bahagia."
    ),
    Reason.CARD_ANSWER_INVALID: N_(
        "The card sent an answer that a Kartu Bahagia card never sends ({detail}), so it is not a Kartu Bahagia card or it is damaged. Nothing was recorded. Ask the holder for their Kartu Bahagia; if it is one, send the holder to Dinas Sosial for a new card."
    ),
    Reason.CARD_REMOVED: N_(
        "The card was taken off the reader before the tap finished. Nothing was recorded. Place the card on the reader again and hold it still until the result appears."
    ),
    Reason.CHIP_REQUIRED: N_(
        "This QR code is printed on a chip card, and this terminal's card reader works, so the chip must be used. Nothing was recorded. Tap the card on the reader; the QR code is only for when the reader is out of order. If the chip cannot be read, send the holder to Dinas Sosial for a new card."
    ),
    Reason.READER_LOST: N_(
        "The card reader stopped working during the tap ({detail}). Nothing was recorded. Wait until the terminal shows that the reader is ready, then tap the card again."
    ),
    Reason.OFFLINE_TOO_LONG: N_(
        "This terminal has not synced for {hours}, and {program} allows at most {limit} without a sync. Nothing was recorded. Connect the terminal to the network, run a sync, then tap again."
    ),
    Reason.PIN_NEEDED: N_(
        "This hand-over needs the cardholder's PIN. Nothing was recorded. Let the holder enter their PIN (6 to 8 digits) on the screen, then tap the card again."
    ),
    Reason.PIN_WRONG: N_(
        "The card rejected the PIN. Attempts left before the card blocks it: {attempts}. Nothing was recorded. Let the holder enter their PIN again, then tap the card again."
    ),
    Reason.PIN_BLOCKED: N_(
        "The card's PIN is blocked after too many wrong attempts. Nothing was recorded. Send the holder to Dinas Sosial to unblock the PIN."
    ),
    Reason.PIN_PROOF_INVALID: N_(
        "The card accepted the PIN but could not prove it with its PIN key. Nothing was recorded. Do not pay out; keep the card and report its number to Dinas Sosial."
    ),
}

# QUOTA_EXCEEDED with nothing left: "hand over at most 0" would read as an instruction, so this message states that the quota is used up.
QUOTA_USED_UP = N_(
    "This household has used {used} of {quota} of its {program} quota for {period}, so the quota is used up until the next quota period starts. Nothing was recorded. Hand over nothing now; the holder can come back then."
)


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: Reason | None = None
    params: dict[str, object] = field(default_factory=dict)

    @classmethod
    def accept(cls) -> "Decision":
        return cls(accepted=True)

    @classmethod
    def refuse(cls, reason: Reason, **params: object) -> "Decision":
        return cls(accepted=False, reason=reason, params=params)

    def message(self, language: str = "id") -> str:
        if self.accepted:
            return translate(N_("Accepted."), language)
        template = self.reason.template
        remaining = self.params.get("remaining")
        if isinstance(remaining, Counted):
            remaining = remaining.count
        if self.reason is Reason.QUOTA_EXCEEDED and remaining == 0:
            template = QUOTA_USED_UP
        return translate(template, language, **self.params)

    @property
    def message_id(self) -> str:
        return self.message("id")

    @property
    def message_en(self) -> str:
        return self.message("en")
