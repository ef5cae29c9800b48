"""Screens that the web UI pushes to the browser, rendered in each viewer's language.

A screen holds no translated text: each server-sent event stream renders it
in the language its page was opened with, so the language switch re-renders
the screen on display.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import Enum
from datetime import datetime, timezone

from card.decision import Decision
from card.i18n import translate
from card.verify import WIB
from terminal.programmes import amount
from terminal.modes import HistoryEntry, Mode, ProgrammeStanding, mask_card_number
from terminal.tap import TapOutcome, period_of
from terminal.web import messages

__all__ = ["TapScreen", "NoticeScreen", "ClearScreen", "ReceiptNotice", "HistorySource", "KioskHistory", "tap_screen"]


class HistorySource(str, Enum):
    """Source of the kiosk's list of recent hand-overs."""

    SERVER = "server"
    # Recorded at this terminal, because the server call failed.
    LOCAL_OFFLINE = "local_offline"
    # Recorded at this terminal, because a QR scan cannot prove that the card is present.
    LOCAL_QR = "local_qr"


@dataclass(frozen=True)
class KioskHistory:
    """The kiosk's list of recent hand-overs, newest first, and its source."""

    entries: tuple[HistoryEntry, ...]
    source: HistorySource


@dataclass(frozen=True)
class TapScreen:
    """The decision of one tap or QR scan, with only what the mode may show."""

    mode: Mode
    decision: Decision
    name: str | None
    card_number: str | None
    photo: bytes | None
    remaining: int | None
    unit: str | None
    from_qr: bool = False
    standings: tuple[ProgrammeStanding, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    # Set when the hand-over was recorded past a "warn" offline rule (terminal.offline_rules.OfflineStatus).
    offline_warning: object | None = None
    # Set when the receipt of the hand-over was not printed (terminal.web.receipts.ReceiptState).
    receipt: object | None = None
    # Programme code of the hand-over and the WIB month ("YYYY-MM") of the tap, for the quota period shown.
    program: str | None = None
    period: str = ""
    # The pulled set's quota period of that programme; None falls back to terminal.programmes.
    quota_period: str | None = None
    # Set on a kiosk screen only.
    history_source: HistorySource | None = None
    # The card is QR-only (credential.on_chip_card False), so it carries no printed photo.
    qr_only: bool = False
    # Units recorded by an accepted hand-over (TapOutcome.quantity).
    quantity: int | None = None

    def _receipt(self, language: str) -> str:
        if self.receipt is None or not self.receipt.failed:
            return ""
        return ReceiptNotice(self.receipt).message(language)

    def _note(self, language: str) -> str:
        if self.offline_warning is not None:
            return self.offline_warning.warning(language)
        if self.from_qr and self.mode.check_photo:
            if self.qr_only:
                return translate(messages.QR_ONLY_ID_CHECK, language)
            return translate(messages.PAGE_TEXTS["qr_photo_check"], language)
        return ""

    def _word(self, language: str) -> str:
        if not self.decision.accepted:
            return translate(messages.REFUSED_WORD, language)
        word = translate(self.mode.accepted_word, language)
        # Only a mode whose clerk picks a quantity names it; elsewhere every hand-over is one unit.
        if self.mode.max_quantity > 1 and self.quantity is not None:
            return translate(messages.HAND_OVER_WORD, language, word=word, quantity=amount(self.quantity, self.unit))
        return word

    def _message(self, language: str) -> str:
        if self.decision.accepted:
            return ""
        kiosk_text = messages.KIOSK_REFUSALS.get(self.decision.reason) if not self.mode.records else None
        if kiosk_text is not None:
            return translate(kiosk_text, language)
        return self.decision.message(language)

    def _remaining(self, language: str) -> str:
        if self.remaining is None or not self.mode.records:
            return ""
        return messages.remaining_line(self.program, self.period, amount(self.remaining, self.unit), language,
                                       self.quota_period)

    def _standings(self, language: str) -> list[str]:
        lines = []
        for standing in self.standings:
            programme = messages.programme_name(standing.program, language)
            if not standing.entitled:
                lines.append(translate(messages.NOT_ENTITLED_LINE, language, programme=programme))
                continue
            if standing.status is not None:
                lines.append(_cover_line(standing, programme, language))
                continue
            lines.append(messages.standing_line(standing.program, standing.period, standing.remaining,
                                                amount(standing.limit, standing.unit), language,
                                                standing.quota_period))
        return lines

    def _history(self, language: str) -> list[str]:
        lines = []
        for entry in self.history:
            template = messages.HISTORY_LINE if entry.service_point is None else messages.HISTORY_PLACE_LINE
            lines.append(translate(
                template, language, programme=messages.programme_name(entry.program, language),
                quantity=entry.quantity, when=datetime.fromtimestamp(entry.tapped_at, WIB).strftime("%d-%m-%Y %H:%M"),
                service_point=entry.service_point,
            ))
        return lines

    def _history_texts(self, language: str) -> tuple[str, str]:
        """Return the line under the kiosk's history and the text shown when the list is empty."""
        if self.history_source is HistorySource.SERVER:
            return "", translate(messages.NO_SERVER_HISTORY, language)
        no_history = translate(messages.PAGE_TEXTS["no_history"], language)
        if self.history_source is HistorySource.LOCAL_OFFLINE:
            return translate(messages.HISTORY_OFFLINE, language), no_history
        if self.history_source is HistorySource.LOCAL_QR:
            return translate(messages.HISTORY_QR, language), no_history
        return "", no_history

    def render(self, language: str) -> dict[str, object]:
        accepted = self.decision.accepted
        show_photo = self.mode.check_photo and self.photo is not None
        label = self.mode.entitlement_label if accepted and self.mode.entitlement_label else None
        history_note, no_history = self._history_texts(language)
        return {
            "kind": "tap",
            "accepted": accepted,
            "reason": None if accepted else self.decision.reason.value,
            "word": self._word(language),
            "name": self.name or "",
            "card": mask_card_number(self.card_number) if self.card_number else "",
            "photo": "data:image/jpeg;base64," + base64.b64encode(self.photo).decode("ascii") if show_photo else None,
            "remaining": self._remaining(language),
            "entitlement": translate(label, language) if label else "",
            "message": self._message(language),
            "note": self._note(language),
            "standings": self._standings(language),
            "history": self._history(language),
            "history_note": history_note,
            "no_history": no_history,
            "receipt": self._receipt(language),
            "receipt_number": self.receipt.number if self.receipt is not None and self.receipt.failed else None,
        }


@dataclass(frozen=True)
class NoticeScreen:
    """A reader notice (reader ready, reader lost); notice is a terminal.tap_loop Notice or a ReaderError."""

    notice: object

    def render(self, language: str) -> dict[str, object]:
        return {"kind": "notice", "text": self.notice.message(language)}


@dataclass(frozen=True)
class ReceiptNotice:
    """A receipt that was not printed; receipt is a failed terminal.web.receipts.ReceiptState."""

    receipt: object

    def message(self, language: str) -> str:
        queued = translate(messages.RECEIPT_QUEUED, language, number=self.receipt.number)
        return f"{queued} {self.receipt.error.message(language)}"


@dataclass(frozen=True)
class ClearScreen:
    """Back to the waiting screen: the kiosk shows it as soon as the card leaves the reader."""

    def render(self, language: str) -> dict[str, object]:
        return {"kind": "clear"}


def _cover_line(standing: ProgrammeStanding, programme: str, language: str) -> str:
    """Describe a status programme's cover; a status programme has no quota to show."""
    valid_until = standing.status.valid_until
    if valid_until is None:
        return translate(messages.COVERED_LINE, language, programme=programme)
    template = messages.COVER_ENDED_LINE if standing.cover_ended else messages.COVERED_UNTIL_LINE
    return translate(template, language, programme=programme, valid_until=valid_until.strftime("%d-%m-%Y"))


def tap_screen(mode: Mode, outcome: TapOutcome, from_qr: bool = False,
               standings: tuple[ProgrammeStanding, ...] = (), history: tuple[HistoryEntry, ...] = (),
               offline_warning: object | None = None, program: str | None = None,
               now: datetime | None = None, history_source: HistorySource | None = None) -> TapScreen:
    """Build the screen of one decision; program defaults to the mode's and now to the current time."""
    credential = outcome.credential
    return TapScreen(
        mode=mode, decision=outcome.decision,
        name=credential.holder.name if credential else None,
        card_number=credential.card_number if credential else None,
        photo=outcome.photo, remaining=outcome.remaining, unit=outcome.unit, from_qr=from_qr,
        standings=standings, history=history, offline_warning=offline_warning,
        program=program or mode.program, period=period_of(now or datetime.now(timezone.utc)),
        quota_period=outcome.quota_period, history_source=history_source,
        qr_only=credential is not None and not credential.on_chip_card, quantity=outcome.quantity,
    )
