"""Every text of the terminal's web pages, as English gettext sources translated per request."""

from __future__ import annotations

from card.decision import Reason
from card.i18n import N_, Counted, translate
from terminal.programmes import QuotaPeriod, programme_name, quota_period_of

__all__ = ["PAGE_TEXTS", "page_texts", "programme_name", "remaining_line", "standing_line"]

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
# The same lines for a quota period other than a calendar month, such as the scholarship's semester.
REMAINING_PERIOD_LINE = N_("Remaining for {period}: {remaining}")
STANDING_PERIOD_LINE = N_("{programme}: {remaining} of {quota} left for {period}")
NOT_ENTITLED_LINE = N_("{programme}: not entitled")
COVERED_UNTIL_LINE = N_("{programme}: covered until {valid_until}")
COVERED_LINE = N_("{programme}: covered, with no end date")
COVER_ENDED_LINE = N_("{programme}: cover ended on {valid_until}")
HISTORY_LINE = N_("{when}: {programme}, {quantity}")
HISTORY_PLACE_LINE = N_("{when}: {programme}, {quantity}, at {service_point}")
HISTORY_OFFLINE = N_("History from the server is not available, so only hand-overs recorded at this terminal "
                     "are shown.")
HISTORY_QR = N_("A QR code shows only hand-overs recorded at this terminal. Tap the card on the reader for the "
                "full history.")
NO_SERVER_HISTORY = N_("No hand-overs in the last 6 months.")
QR_EMPTY = N_("The QR field is empty. Scan the QR code on the back of the card.")
QUANTITY_INVALID = N_("Quantity {value} is not allowed here; choose 1 to {maximum}.")
PIN_FORMAT = N_("The PIN must be 6 to 8 digits.")
RECEIPT_QUEUED = N_("Receipt {number} is queued, not printed.")
RECEIPT_REPRINTED = N_("Receipt {number} printed again.")
# A QR-only card prints no photo, only a grey box, so the clerk checks the holder's identity card instead.
QR_ONLY_ID_CHECK = N_("QR-only card without a photo: check the holder's KTP before serving.")
# The decision word with the units to hand over, such as "GIVE 2 cylinders".
HAND_OVER_WORD = N_("{word} {quantity}")
# Rejection texts for the resident who scans their own card at the kiosk, in place of the clerk's wording.
KIOSK_REFUSALS = {
    Reason.CHIP_REQUIRED: N_(
        "This QR code is printed on a card with a chip, so place the card on the reader instead. If the card "
        "cannot be read, ask at the Dinas Sosial office for a new card."
    ),
}


def page_texts(language: str) -> dict[str, str]:
    return {key: translate(text, language) for key, text in PAGE_TEXTS.items()}


def _is_monthly(program: str | None, month: str, quota_period: str | None) -> bool:
    return program is None or quota_period_of(program, month, quota_period) == [month]


def remaining_line(program: str | None, month: str, remaining: Counted, language: str,
                   quota_period: str | None = None) -> str:
    """Return the quota left after a hand-over in month, naming the month or the programme's longer quota period.

    quota_period is the pulled set's word. None falls back to terminal.programmes.FALLBACK_QUOTA_PERIODS.
    """
    if _is_monthly(program, month, quota_period):
        return translate(REMAINING_LINE, language, remaining=remaining)
    return translate(REMAINING_PERIOD_LINE, language, remaining=remaining,
                     period=QuotaPeriod(program, month, quota_period))


def standing_line(program: str, month: str, remaining: int, quota: Counted, language: str,
                  quota_period: str | None = None) -> str:
    """Return a programme's line of the kiosk list, with the quota left in the period containing month."""
    programme = programme_name(program, language)
    if _is_monthly(program, month, quota_period):
        return translate(STANDING_LINE, language, programme=programme, remaining=remaining, quota=quota)
    return translate(STANDING_PERIOD_LINE, language, programme=programme, remaining=remaining, quota=quota,
                     period=QuotaPeriod(program, month, quota_period))
