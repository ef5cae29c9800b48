"""The one-line state report that `kartu issuance issue` prints when the clerk presses Ctrl-C."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from card.cardnumber import make_card_number
from card.i18n import N_, translate
from issuance import pending
from issuance.station import COUNTER_LIMIT, Station

__all__ = ["INTERRUPTED_BEFORE_WRITING", "JournalSnapshot", "interrupted_message", "take_snapshot"]

INTERRUPTED_BEFORE_CHIP_JOURNALLED = N_(
    "Interrupted: card {card_number} was not journalled, and the card in the reader may be half-written. Do not "
    "hand it out: wipe it with 'kartu issuance wipe --station {station} --card {card_number}', then issue again."
)
INTERRUPTED_BEFORE_WRITING = N_("Interrupted: no card was written or issued. Issue again.")
INTERRUPTED_UNREGISTERED = N_(
    "Interrupted: card {card_number} is written and journalled but not registered with the server. Run "
    "'kartu issuance register-pending --station {station} --server URL --admin-token-file FILE --clerk NAME'. If "
    "its face is missing, redraw it with 'kartu issuance print --station {station} --card {card_number} --register "
    "FILE'."
)
INTERRUPTED_REGISTERED = N_(
    "Interrupted: card {card_number} is written, journalled and registered with the server. If its face is "
    "missing, redraw it with 'kartu issuance print --station {station} --card {card_number} --register FILE'."
)


@dataclass(frozen=True)
class JournalSnapshot:
    """The resident's journalled cards and the station's card serial counter before an issue began."""

    cards: frozenset[str]
    counter: int


def take_snapshot(station: Station, nik: str) -> JournalSnapshot:
    rows = station.journal.execute("SELECT card_number FROM cards WHERE nik = ?", (nik,))
    return JournalSnapshot(frozenset(number for (number,) in rows), _counter(station))


def _counter(station: Station) -> int:
    row = station.journal.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
    return int(row[0]) if row else 0


def interrupted_message(station: Station, station_dir: Path, nik: str, before: JournalSnapshot, chip: bool,
                        lang: str) -> str:
    """Say what state the interrupted card is in, judged by the journal, and what the clerk runs next.

    A card number journalled since before is the card this run issued. Without one, a chip card whose
    serial was allocated (the counter moved) may be half-written, because personalisation allocates the
    serial just before its first write to the chip.
    """
    after = take_snapshot(station, nik)
    new_cards = sorted(after.cards - before.cards)
    if new_cards:
        card_number = new_cards[-1]
        unsent = [call for call in pending.pending_calls(station.journal)
                  if call.kind == pending.REGISTRATION and call.card_number == card_number]
        template = INTERRUPTED_UNREGISTERED if unsent else INTERRUPTED_REGISTERED
        return translate(template, lang, card_number=card_number, station=station_dir)
    if chip and after.counter > before.counter:
        card_number = make_card_number(station.station_number * COUNTER_LIMIT + after.counter)
        return translate(INTERRUPTED_BEFORE_CHIP_JOURNALLED, lang, card_number=card_number, station=station_dir)
    return translate(INTERRUPTED_BEFORE_WRITING, lang)
