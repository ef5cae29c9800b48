"""Batch issuance: a whole queue of residents, one card after another, resumable after a restart.

A batch and its items live in station.db. An item moves pending -> writing ->
issued or failed, and every move is committed before the next step, so a
station that stops at any point resumes where it stopped: an item found in
"writing" was interrupted and goes back to "pending", with a failed-card
entry in the audit log. A card is journalled as issued only after
personalisation has read everything back and verified it. A card pulled out
half-written, or one that reads back wrong, is therefore reported as a
failed card and never registered, and the batch goes on with the next
resident.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol, TextIO

from card.apdu import ApduError
from card.cardnumber import make_card_number
from card.i18n import translate
from card.piv import Connection, ManagementKeyError, PivSession
from hardware.pcsc import ReaderError
from issuance import audit, pending, pin_slips
from issuance.card_secrets import MasterKeyError
from issuance.face import CardFace, render_card_face
from issuance.personalise import IssuedCard, PersonalisationError, issue_qr_only, personalise_chip_card
from issuance.photo_store import PHOTOS_DIR, PhotoMissingError, load_photo, require_photo
from issuance.queue import QueueEntry, resident_from_dict, resident_to_dict
from issuance.register import Resident
from issuance.server_client import RegistrationError, ServerUnreachableError, registration_body
from issuance.station import COUNTER_LIMIT, Station

__all__ = [
    "BatchReport", "CardFailure", "CardSlot", "IssuedWithPhoto", "Registration", "batch_is_qr_only", "create_batch",
    "ensure_schema", "issue_card", "latest_open_batch", "progress_bar", "render_face", "retry_failed", "run_batch",
]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    clerk TEXT NOT NULL,
    source TEXT NOT NULL,
    qr_only INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id INTEGER NOT NULL REFERENCES batches (id),
    position INTEGER NOT NULL,
    nik TEXT NOT NULL,
    resident TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'writing', 'issued', 'failed')),
    card_number TEXT,
    error TEXT,
    old_card TEXT,
    PRIMARY KEY (batch_id, position)
);
"""
PROGRESS_WIDTH = 30
# Reissue reason journalled for a queued reissue, whose card the server revoked before it was queued.
REVOKED_ON_SERVER = "revoked on the server"


class CardSlot(Protocol):
    """Source of blank cards: each call waits for one card and yields its connection."""

    def __call__(self, entry: QueueEntry) -> AbstractContextManager[Connection]: ...


@dataclass(frozen=True)
class Registration:
    """The server that issued cards are registered with; client is for tests."""

    server_url: str
    admin_token: str
    client: object | None = None


@dataclass
class BatchReport:
    batch_id: int
    issued: list[str] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    unregistered: int = 0
    stopped: str | None = None


class CardFailure(Exception):
    """A card failed during personalisation; card_number is the number it was given, if it got one."""

    def __init__(self, message: str, card_number: str | None = None):
        super().__init__(message)
        self.card_number = card_number


@dataclass(frozen=True)
class IssuedWithPhoto:
    card: IssuedCard
    photo: bytes | None


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(batch_items)")}
    if "old_card" not in columns:
        # A station.db from before batches carried reissues.
        db.execute("ALTER TABLE batch_items ADD COLUMN old_card TEXT")


def _counter(station: Station) -> int:
    row = station.journal.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
    return int(row[0]) if row else 0


def _allocated_since(station: Station, before: int) -> str | None:
    after = _counter(station)
    return make_card_number(station.station_number * COUNTER_LIMIT + after) if after > before else None


def issue_card(station: Station, resident: Resident, connection: Connection | None, issued_on: date, clerk: str,
               action: str = "issue", detail: str = "",
               in_transaction: Callable[[sqlite3.Connection, str], None] | None = None,
               lang: str = "id", photo: bytes | None = None, pin: str | None = None,
               slip_group: str = pin_slips.SINGLE_GROUP) -> IssuedWithPhoto:
    """Personalise a chip card (or make a QR-only one when connection is None) and journal it.

    A chip card gets photo, or else the resident's accepted portrait from
    STATION/photos; with neither it raises PhotoMissingError before the card
    is touched. It gets pin as its cardholder PIN, or else a new random PIN
    that is written to a PIN slip in slip_group before the card is journalled.
    The card, its registration body and the audit entry are committed in one
    transaction, together with whatever in_transaction writes, and only after
    personalisation has verified the card. A card that fails, or whose PIN
    slip cannot be written, is logged as a failed card under the number it
    was given and raises CardFailure.
    """
    db = station.journal
    if connection is None:
        photo = None
    elif photo is None:
        photo = require_photo(station.directory / PHOTOS_DIR, resident.nik)
    before = _counter(station)
    slip_pin = pin_slips.new_pin() if connection is not None and pin is None else None
    try:
        if connection is None:
            card = issue_qr_only(resident, station, issued_on)
        else:
            card = personalise_chip_card(PivSession(connection), resident, station, photo, issued_on,
                                         pin=pin or slip_pin)
    except (PersonalisationError, ApduError, ManagementKeyError, ReaderError) as exc:
        card_number = _allocated_since(station, before)
        message = exc.message(lang) if isinstance(exc, ReaderError) else str(exc)
        _fail(db, clerk, card_number, resident.nik, detail, message)
        log.warning("%s: card %s failed during personalisation: %s", detail,
                    card_number or "(no card number allocated yet)", type(exc).__name__)
        raise CardFailure(message, card_number) from exc
    if slip_pin is not None:
        _write_pin_slip(station, slip_group, card.card_number, resident, slip_pin, clerk, detail, lang)

    db.execute("BEGIN IMMEDIATE")
    try:
        station.record_card(card.card_number, resident.nik, card.household_id, card.assurance,
                            card.issued.isoformat(), card.expires.isoformat(), card.qr_text)
        pending.journal_registration(db, registration_body(card, resident, station.issuer.kid))
        audit.append(db, clerk, action, card.card_number, resident.nik, detail)
        if in_transaction is not None:
            in_transaction(db, card.card_number)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    log.info("card %s journalled (%s)", card.card_number, action)
    return IssuedWithPhoto(card, photo)


def _fail(db: sqlite3.Connection, clerk: str, card_number: str | None, nik: str, detail: str, message: str) -> None:
    audit.append(db, clerk, "failed", card_number, nik, f"{detail}: {message}".lstrip(": "))


def _write_pin_slip(station: Station, group: str, card_number: str, resident: Resident, pin: str, clerk: str,
                    detail: str, lang: str) -> None:
    """Write the PIN slip; a card whose PIN the resident cannot get is a failed card."""
    try:
        pin_slips.write_slip(station.directory, group, card_number, resident, pin, lang)
    except OSError as exc:
        message = translate("the PIN slip could not be written ({error}); wipe the card with "
                            "'kartu issuance wipe' and issue again", lang, error=exc.strerror or exc)
        _fail(station.journal, clerk, card_number, resident.nik, detail, message)
        log.warning("PIN slip of card %s could not be written: %s", card_number, exc.strerror)
        raise CardFailure(message, card_number) from None


def render_face(card: IssuedCard, resident: Resident, photo: bytes | None, faces: Path) -> tuple[Path, Path]:
    """Render the card face PNGs into faces, named by card number."""
    return render_card_face(
        CardFace(name=resident.name, card_number=card.card_number, kelurahan=resident.kelurahan,
                 kecamatan=resident.kecamatan, issued=card.issued, expires=card.expires, photo=photo,
                 qr_text=card.qr_text),
        faces,
    )


def progress_bar(done: int, total: int, width: int = PROGRESS_WIDTH) -> str:
    """Return a text progress bar such as '[#########---------] 12/24'."""
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total}"


def create_batch(db: sqlite3.Connection, entries: Iterable[QueueEntry], clerk: str, source: str,
                 qr_only: bool) -> int:
    """Store a new batch of queue entries in order and return its id."""
    db.execute("BEGIN IMMEDIATE")
    try:
        cursor = db.execute(
            "INSERT INTO batches (created, clerk, source, qr_only) VALUES (datetime('now'), ?, ?, ?)",
            (clerk, source, int(qr_only)),
        )
        batch_id = cursor.lastrowid
        for position, entry in enumerate(entries, start=1):
            db.execute(
                "INSERT INTO batch_items (batch_id, position, nik, resident, reason, state, old_card) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (batch_id, position, entry.resident.nik, json.dumps(resident_to_dict(entry.resident)), entry.reason,
                 entry.old_card),
            )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return batch_id


def batch_is_qr_only(db: sqlite3.Connection, batch_id: int) -> bool:
    row = db.execute("SELECT qr_only FROM batches WHERE id = ?", (batch_id,)).fetchone()
    return bool(row and row[0])


def latest_open_batch(db: sqlite3.Connection) -> int | None:
    row = db.execute("SELECT id FROM batches WHERE done = 0 ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def retry_failed(db: sqlite3.Connection, batch_id: int) -> int:
    """Put the failed items of a batch back to pending and return how many."""
    cursor = db.execute(
        "UPDATE batch_items SET state = 'pending', error = NULL WHERE batch_id = ? AND state = 'failed'", (batch_id,)
    )
    db.execute("UPDATE batches SET done = 0 WHERE id = ?", (batch_id,))
    return cursor.rowcount


def _recover_interrupted(db: sqlite3.Connection, batch_id: int, clerk: str) -> list[int]:
    """Put items left in 'writing' by a stopped station back to pending and log each as a failed card."""
    rows = db.execute(
        "SELECT position, nik FROM batch_items WHERE batch_id = ? AND state = 'writing'", (batch_id,)
    ).fetchall()
    for position, nik in rows:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE batch_items SET state = 'pending' WHERE batch_id = ? AND position = ?", (batch_id, position))
        audit.append(db, clerk, "failed", None, nik,
                     f"batch {batch_id} item {position} interrupted by a station stop; the card may be half-written")
        db.execute("COMMIT")
        log.warning("batch %d item %d was interrupted; it goes back to the queue", batch_id, position)
    return [position for position, _ in rows]


def _items(db: sqlite3.Connection, batch_id: int) -> list[tuple[int, str, str, str, str | None]]:
    return db.execute(
        "SELECT position, resident, reason, state, old_card FROM batch_items WHERE batch_id = ? ORDER BY position",
        (batch_id,),
    ).fetchall()


def _set_state(db: sqlite3.Connection, batch_id: int, position: int, state: str, card_number: str | None = None,
               error: str | None = None) -> None:
    db.execute(
        "UPDATE batch_items SET state = ?, card_number = COALESCE(?, card_number), error = ? "
        "WHERE batch_id = ? AND position = ?",
        (state, card_number, error, batch_id, position),
    )


@dataclass
class _Run:
    station: Station
    batch_id: int
    clerk: str
    issued_on: date
    faces: Path
    slot: CardSlot | None
    registration: Registration | None
    out: TextIO
    lang: str
    report: BatchReport


def run_batch(station: Station, batch_id: int, clerk: str, issued_on: date, faces: Path, slot: CardSlot | None,
              registration: Registration | None, out: TextIO, lang: str = "id") -> BatchReport:
    """Issue every pending item of the batch in order, printing a progress bar line after each.

    slot is None for a QR-only batch. A failed card is reported and the batch
    goes on. A ReaderError while waiting for a card (no card put in, reader
    gone) stops the batch with the item still pending, to be resumed.
    """
    db = station.journal
    if db.execute("SELECT 1 FROM batches WHERE id = ?", (batch_id,)).fetchone() is None:
        raise LookupError(translate("batch {batch_id} does not exist in this station", lang, batch_id=batch_id))
    run = _Run(station, batch_id, clerk, issued_on, faces, slot, registration, out, lang, BatchReport(batch_id))
    run.report.interrupted = _recover_interrupted(db, batch_id, clerk)
    for position in run.report.interrupted:
        print(translate("item {position} was interrupted by a station stop and is issued again; "
                        "set aside the card that was in the reader then", lang, position=position), file=out)
    items = _items(db, batch_id)
    total = len(items)
    done = sum(1 for item in items if item[3] in ("issued", "failed"))
    for position, resident_json, reason, state, old_card in items:
        if state != "pending":
            continue
        entry = QueueEntry(position, resident_from_dict(json.loads(resident_json)), reason, old_card)
        if not _run_item(run, entry):
            break
        done += 1
        print(f"{progress_bar(done, total)} {_last_line(run, entry)}", file=out, flush=True)
    if run.report.stopped is None:
        db.execute("UPDATE batches SET done = 1 WHERE id = ?", (batch_id,))
    return run.report


def _last_line(run: _Run, entry: QueueEntry) -> str:
    row = run.station.journal.execute(
        "SELECT state, card_number, error FROM batch_items WHERE batch_id = ? AND position = ?",
        (run.batch_id, entry.position),
    ).fetchone()
    state, card_number, error = row
    if state == "issued":
        return translate("card {card_number} issued to {name}", run.lang, card_number=card_number,
                         name=entry.resident.name)
    return translate("FAILED for {name}: {error}", run.lang, name=entry.resident.name, error=error)


def _existing_card(db: sqlite3.Connection, entry: QueueEntry) -> str | None:
    """Return a card of this station that makes the item unnecessary; for a reissue, the card it replaces is not one."""
    if entry.reason != "reissue":
        row = db.execute("SELECT card_number FROM cards WHERE nik = ? ORDER BY card_number LIMIT 1",
                         (entry.resident.nik,)).fetchone()
        return row[0] if row else None
    row = db.execute(
        "SELECT card_number FROM cards WHERE nik = ? AND card_number != ? "
        "AND card_number NOT IN (SELECT old_card FROM reissues) ORDER BY card_number LIMIT 1",
        (entry.resident.nik, entry.old_card or ""),
    ).fetchone()
    if row is None and entry.old_card is not None:
        row = db.execute("SELECT new_card FROM reissues WHERE old_card = ?", (entry.old_card,)).fetchone()
    return row[0] if row else None


def _skip_reason(run: _Run, entry: QueueEntry) -> str | None:
    """Return why the item must not be issued, or None when it can be."""
    existing = _existing_card(run.station.journal, entry)
    if existing is not None:
        # The resident got a card after the batch was made (another batch, 'kartu issuance issue' or a reissue).
        return translate("already has card {card_number} in this station's journal; not issued again",
                         run.lang, card_number=existing)
    if entry.reason == "reissue" and entry.old_card is None:
        return translate("the queue names no revoked card for this reissue; issue it with 'kartu issuance reissue'",
                         run.lang)
    return None


def _run_item(run: _Run, entry: QueueEntry) -> bool:
    """Issue one item; return False when the batch must stop here."""
    db = run.station.journal
    skip = _skip_reason(run, entry)
    if skip is not None:
        _set_state(db, run.batch_id, entry.position, "failed", None, skip)
        run.report.failed.append((entry.position, skip))
        return True
    photos = run.station.directory / PHOTOS_DIR
    # A QR-only card prints the accepted portrait on its face when there is one.
    photo = load_photo(photos, entry.resident.nik) if run.slot is None else None
    if run.slot is not None:
        try:
            photo = require_photo(photos, entry.resident.nik)
        except PhotoMissingError as exc:
            # Checked before the slot asks for a card, so no blank card is used up.
            error = exc.message(run.lang)
            _set_state(db, run.batch_id, entry.position, "failed", None, error)
            run.report.failed.append((entry.position, error))
            return True
    _set_state(db, run.batch_id, entry.position, "writing")
    card_number = None
    try:
        if run.slot is None:
            card_number = _issue(run, entry, None, photo)
        else:
            with run.slot(entry) as connection:
                card_number = _issue(run, entry, connection, photo)
    except CardFailure as exc:
        _record_failure(run, entry, exc)
        return True
    except MasterKeyError as exc:
        # The station cannot personalise any card, so every further item would fail the same way.
        _set_state(db, run.batch_id, entry.position, "pending")
        run.report.stopped = str(exc)
        print(translate("batch stopped at item {position}: {error}", run.lang, position=entry.position,
                        error=run.report.stopped), file=run.out)
        return False
    except ReaderError as exc:
        if card_number is None:
            # Raised by the slot while waiting for or opening a card, before anything was written.
            _set_state(db, run.batch_id, entry.position, "pending")
            run.report.stopped = exc.message(run.lang)
            print(translate("batch stopped at item {position}: {error}", run.lang, position=entry.position,
                            error=run.report.stopped), file=run.out)
            return False
    run.report.issued.append(card_number)
    _register(run, card_number)
    return True


def _issue(run: _Run, entry: QueueEntry, connection: Connection | None, photo: bytes | None) -> str:
    def mark_issued(db: sqlite3.Connection, card_number: str) -> None:
        _set_state(db, run.batch_id, entry.position, "issued", card_number)
        if entry.reason == "reissue":
            # The reissues table belongs to issuance.reissue; the server revoked the old card already.
            db.execute(
                "INSERT INTO reissues (old_card, new_card, nik, reason, at) VALUES (?, ?, ?, ?, datetime('now'))",
                (entry.old_card, card_number, entry.resident.nik, REVOKED_ON_SERVER),
            )

    detail = f"batch {run.batch_id} item {entry.position}"
    if entry.reason == "reissue":
        detail += f" replaces card {entry.old_card}"
    issued = issue_card(run.station, entry.resident, connection, run.issued_on, run.clerk,
                        action="reissue" if entry.reason == "reissue" else "issue",
                        detail=detail, in_transaction=mark_issued,
                        lang=run.lang, photo=photo, slip_group=pin_slips.batch_group(run.batch_id))
    try:
        render_face(issued.card, entry.resident, photo, run.faces)
    except (OSError, ValueError) as exc:
        print(translate("card {card_number} is issued but its face was not rendered: {error}; "
                        "render it again before printing", run.lang, card_number=issued.card.card_number,
                        error=exc), file=run.out)
    return issued.card.card_number


def _record_failure(run: _Run, entry: QueueEntry, failure: CardFailure) -> None:
    _set_state(run.station.journal, run.batch_id, entry.position, "failed", failure.card_number, str(failure))
    run.report.failed.append((entry.position, str(failure)))


def _register(run: _Run, card_number: str) -> None:
    """Register the card now when the server is reachable, else leave it pending for register-pending."""
    if run.registration is None:
        run.report.unregistered += 1
        return
    db = run.station.journal
    calls = [call for call in pending.pending_calls(db)
             if call.kind == pending.REGISTRATION and call.card_number == card_number]
    try:
        pending.send_one(db, calls[0], run.registration.server_url, run.registration.admin_token, run.clerk,
                         run.registration.client)
    except ServerUnreachableError as exc:
        # Without a network the rest of the batch is issued offline; register-pending sends the cards later.
        log.warning("server unreachable during batch %d, continuing offline: %s", run.batch_id, exc)
        print(translate("server unreachable, the batch goes on offline; run 'kartu issuance register-pending' "
                        "when the network is back", run.lang), file=run.out)
        run.registration = None
        run.report.unregistered += 1
    except RegistrationError as exc:
        run.report.unregistered += 1
        print(translate("server rejected card {card_number}: {error}", run.lang, card_number=card_number,
                        error=exc), file=run.out)

