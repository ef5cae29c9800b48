"""Service-point modes: one terminal app, configured per counter.

A mode fixes what a tap does and what the screen may show: the programme it
records, whether it reads the chip's photo for an identity check, whether the
card must prove the cardholder PIN with a slot 9A signature, and whether it
records anything at all (the kiosk never does). The decision itself is always
terminal.tap's.

Kartu Bahagia credentials carry no NIK, so no mode can show one. The screen
still masks the card number, because a counter screen faces the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from card.i18n import N_
from card.verify import WIB
from terminal.status_cover import StatusCover, status_cover
from terminal.store import TerminalStore
from terminal.tap import household_use, period_of

__all__ = [
    "ModeName", "Mode", "MODES", "mode_named", "mask_card_number", "ProgrammeStanding", "HistoryEntry",
    "household_standing", "household_history",
]

# Unmasked digits at the end of a card number on screen: enough to compare with the printed card.
VISIBLE_DIGITS = 4


class ModeName(str, Enum):
    LPG = "lpg"
    CLINIC = "clinic"
    SCHOOL = "school"
    CASH_AID = "cash_aid"
    KIOSK = "kiosk"


@dataclass(frozen=True)
class Mode:
    """Behaviour of one kind of service point at a tap; titles and words are English gettext sources."""

    name: ModeName
    title: str
    # Programme code recorded by a tap; `kartu terminal serve --program` overrides it.
    program: str | None
    accepted_word: str
    check_photo: bool = False
    requires_pin: bool = False
    records: bool = True
    # Largest quantity the clerk may pick on screen for one hand-over.
    max_quantity: int = 1
    # Line under the decision naming what the status of the programme means at this counter.
    entitlement_label: str | None = None


MODES: dict[ModeName, Mode] = {
    ModeName.LPG: Mode(
        ModeName.LPG, N_("LPG 3 kg agent"), "lpg", N_("GIVE"), max_quantity=3,
        entitlement_label=N_("LPG 3 kg for the household"),
    ),
    ModeName.CLINIC: Mode(
        ModeName.CLINIC, N_("Puskesmas front desk"), "pbi", N_("REGISTERED"), check_photo=True,
        entitlement_label=N_("BPJS PBI contribution paid by the city: active"),
    ),
    ModeName.SCHOOL: Mode(
        ModeName.SCHOOL, N_("School scholarship"), "beasiswa", N_("PAY OUT"),
        entitlement_label=N_("Scholarship for this period"),
    ),
    ModeName.CASH_AID: Mode(
        ModeName.CASH_AID, N_("Cash aid"), "bantuan_bencana", N_("PAY OUT"), check_photo=True, requires_pin=True,
        entitlement_label=N_("Cash aid for this period"),
    ),
    ModeName.KIOSK: Mode(
        ModeName.KIOSK, N_("Resident kiosk"), None, N_("VALID CARD"), records=False,
    ),
}


def mode_named(name: str) -> Mode:
    """Return the mode called name; raise ValueError naming the known modes otherwise."""
    try:
        return MODES[ModeName(name)]
    except ValueError:
        known = ", ".join(mode.value for mode in ModeName)
        raise ValueError(f"mode {name!r} is unknown; use one of {known}") from None


def mask_card_number(card_number: str) -> str:
    """Mask all but the last four digits, in the groups of four printed on the card."""
    digits = card_number.replace(" ", "")
    masked = "•" * max(len(digits) - VISIBLE_DIGITS, 0) + digits[-VISIBLE_DIGITS:]
    return " ".join(masked[index:index + 4] for index in range(0, len(masked), 4))


@dataclass(frozen=True)
class ProgrammeStanding:
    """A household's entitlement to one programme, from this terminal's cached data.

    limit is the household's limit per period: the programme's quota times
    the household's entitled persons for a per-person quota, else the quota.
    A status programme (terminal.status_cover) has no quota: status holds the
    household's cover, cover_ended whether it ended before the day looked up,
    and limit and used are 0. period is the month looked up and quota_period
    the pulled set's quota period (None: terminal.programmes falls back).
    """

    program: str
    entitled: bool
    limit: int
    used: int
    unit: str
    period: str
    status: StatusCover | None = None
    cover_ended: bool = False
    quota_period: str | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0) if self.entitled else 0


@dataclass(frozen=True)
class HistoryEntry:
    """One hand-over on the kiosk screen; service_point is set for a hand-over listed by the server."""

    program: str
    quantity: int
    tapped_at: int
    service_point: str | None = None


def household_standing(store: TerminalStore, household_id: bytes, now: datetime) -> list[ProgrammeStanding]:
    """List every cached programme with the household's use, counted as terminal.tap counts it.

    Use is the server's count at the last sync plus this terminal's records
    since then; use at other terminals after the last sync is not known here.
    """
    period = period_of(now)
    rows = store._db.execute("SELECT program FROM entitlement_sets ORDER BY program").fetchall()
    standings = []
    for (program,) in rows:
        usage = store.quota_usage(program, household_id, period)
        entitlement_set = usage.entitlement_set
        if usage.used_at_sync is None:
            standings.append(ProgrammeStanding(program, False, entitlement_set.quota, 0, entitlement_set.unit, period))
            continue
        cover = status_cover(store._db, program, household_id)
        if cover is not None:
            ended = cover.ended_on(now.astimezone(WIB).date())
            standings.append(ProgrammeStanding(program, True, 0, 0, entitlement_set.unit, period, cover, ended))
            continue
        used = household_use(store, usage, program, household_id, period)
        standings.append(ProgrammeStanding(program, True, usage.limit, used, entitlement_set.unit, period,
                                           quota_period=entitlement_set.quota_period))
    return standings


def household_history(store: TerminalStore, household_id: bytes, limit: int = 5) -> list[HistoryEntry]:
    """Return the household's latest hand-overs recorded in this store, newest first.

    A kiosk records nothing itself, so there this list is empty. It shows the
    history from the server instead (terminal.kiosk_history) when it can.
    """
    rows = store._db.execute(
        "SELECT program, quantity, tapped_at FROM redemptions WHERE household_id = ? AND status != 'rejected' "
        "ORDER BY tapped_at DESC LIMIT ?",
        (household_id, limit),
    ).fetchall()
    return [HistoryEntry(*row) for row in rows]
