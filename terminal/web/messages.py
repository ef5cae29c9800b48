"""Every text of the terminal's web pages, as English gettext sources translated per request."""

from __future__ import annotations

from card.i18n import N_, translate
from terminal.programmes import programme_name

__all__ = ["PAGE_TEXTS", "page_texts", "programme_name"]

PAGE_TEXTS = {
    "waiting": N_("Place the card on the reader"),
    "waiting_hint": N_("Or scan the QR code on the back of the card."),
    "qr_label": N_("QR code"),
    "qr_placeholder": N_("Scan the QR code here"),
    "qr_submit": N_("Check QR"),
    "quantity": N_("Quantity"),
    "pin_label": N_("Cardholder PIN"),
    "pin_submit": N_("Use PIN for the next tap"),
    "pin_ready": N_("PIN entered. Tap the card now."),
    "pin_hint": N_("The holder enters the PIN, then taps the card. The card checks the PIN itself."),
    "pin_delete": N_("Delete"),
    "language": N_("Language"),
    "entitlements": N_("Entitlements"),
    "history": N_("Recent hand-overs"),
    "no_history": N_("No hand-overs recorded at this terminal."),
    "qr_photo_check": N_("QR code: compare the holder with the photo printed on the card."),
    "connection_lost": N_("Connection to the terminal lost; reconnecting."),
    "kiosk_privacy": N_("Your data disappears from the screen when you take the card away."),
    "reprint": N_("Reprint receipt"),
    "unauthorised": N_("This terminal page needs the address printed by 'kartu terminal serve'. Open that address again."),
}

ACCEPTED_WORD = N_("ACCEPTED")
REFUSED_WORD = N_("REFUSED")
REMAINING_LINE = N_("Remaining this month: {remaining}")
STANDING_LINE = N_("{programme}: {remaining} of {quota} left this month")
NOT_ENTITLED_LINE = N_("{programme}: not entitled")
COVERED_UNTIL_LINE = N_("{programme}: covered until {valid_until}")
COVERED_LINE = N_("{programme}: covered, with no end date")
COVER_ENDED_LINE = N_("{programme}: cover ended on {valid_until}")
HISTORY_LINE = N_("{when}: {programme}, {quantity}")
QR_EMPTY = N_("The QR field is empty. Scan the QR code on the back of the card.")
QUANTITY_INVALID = N_("Quantity {value} is not allowed here; choose 1 to {maximum}.")
PIN_FORMAT = N_("The PIN must be 6 to 8 digits.")
RECEIPT_QUEUED = N_("Receipt {number} is queued, not printed.")
RECEIPT_REPRINTED = N_("Receipt {number} printed again.")


def page_texts(language: str) -> dict[str, str]:
    return {key: translate(text, language) for key, text in PAGE_TEXTS.items()}
