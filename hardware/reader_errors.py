"""Reader errors: each PC/SC failure as an exception with a message for the person at the counter.

Every message is an English source string marked with N_() and translated
through the gettext catalogue, so message("id") gives Bahasa Indonesia and
message("en") English. The detail parameter carries the PC/SC function, its
error text and code, which are the same in both languages.
"""

from __future__ import annotations

from smartcard import scard

from card.i18n import N_, TranslatedError

__all__ = [
    "ReaderError", "ServiceUnavailable", "NoReader", "ReaderNotFound", "ReaderAmbiguous", "NoCard",
    "CardRemoved", "TransmitFailed", "MalformedResponse", "SERVICE_LOST_CODES", "error_for",
]

# pcscd stopped (NO_SERVICE, SERVICE_STOPPED), the socket to it broke in the middle of a call
# (F_COMM_ERROR, seen from pcsc-lite 1.9.9 when pcscd exits during SCardGetStatusChange or
# SCardTransmit), or the context belongs to a pcscd that has since restarted (E_INVALID_HANDLE).
SERVICE_LOST_CODES = frozenset({
    scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_F_COMM_ERROR, scard.SCARD_E_INVALID_HANDLE,
})
_REMOVED_CODES = frozenset({scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD})
_READER_GONE_CODES = frozenset({scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE})


class ReaderError(TranslatedError):
    """A PC/SC failure with a message for the person at the counter."""

    template = N_("The card reader failed ({detail}). Tap the card again.")

    def __init__(self, detail: str = "", **params: object):
        self.detail = detail
        super().__init__(type(self).template, detail=detail, **params)


class ServiceUnavailable(ReaderError):
    template = N_(
        "The smart-card service (pcscd) is not running ({detail}). The terminal reconnects by itself when the service is back; if it stays down, start it with 'pcscd' or restart the terminal computer."
    )


class NoReader(ReaderError):
    template = N_("No card reader is connected. Plug in the reader and wait a few seconds.")


class ReaderNotFound(ReaderError):
    template = N_(
        "The card reader '{reader}' is not connected; connected readers: {available}. Plug it in or change the configured reader name."
    )


class ReaderAmbiguous(ReaderError):
    template = N_(
        "The reader name '{reader}' matches several connected readers: {available}. Configure the full name of one of them."
    )


class NoCard(ReaderError):
    template = N_("No card was tapped within {seconds} seconds. Place the card on the reader.")


class CardRemoved(ReaderError):
    template = N_("The card was removed before the reader finished ({detail}). Place the card on the reader again and keep it still.")


class TransmitFailed(ReaderError):
    template = N_("The card did not answer ({detail}). Place the card on the reader again.")


class MalformedResponse(TransmitFailed):
    """The card answered, but with bytes that break ISO 7816-4 (no status word, endless GET RESPONSE)."""

    template = N_("The card sent an answer that breaks the smart-card standard ({detail}). It is not a Kartu Bahagia card or it is damaged.")


def error_for(hresult: int, operation: str, reader: str | None = None) -> ReaderError:
    """Map a failed PC/SC return code to the ReaderError that explains it."""
    code = hresult & 0xFFFFFFFF
    detail = f"{operation}: {scard.SCardGetErrorMessage(hresult).strip()} (0x{code:08X})"
    if hresult in SERVICE_LOST_CODES:
        return ServiceUnavailable(detail)
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return NoReader(detail)
    if hresult in _READER_GONE_CODES:
        return ReaderNotFound(detail, reader=reader or "?", available="-")
    if hresult in _REMOVED_CODES:
        return CardRemoved(detail)
    return TransmitFailed(detail)
