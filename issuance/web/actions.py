"""Station work behind the web pages: the queue, resident lookup, photos, issuing, batch progress.

Every function here runs on the station thread (see issuance.web.worker) and takes
the open Station as its first argument.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from card.piv import Connection
from hardware.pcsc import PcscContext
from issuance import audit, batch
from issuance.personalise import IssuedCard
from issuance.photo_store import load_photo, store_photo
from issuance.print_face import write_pdf_from_files
from issuance.queue import QueueEntry, register_queue, search
from issuance.register import Resident, find_resident, read_register
from issuance.reissue import prepare_journal
from issuance.station import Station

__all__ = [
    "BatchProgress", "IssuedCardInfo", "NewBatch", "StationSettings", "batch_progress", "card_files",
    "card_of_resident", "create_queue_batch", "issue_for_resident", "issued_card", "load_queue", "lookup_resident", "record_nik_shown", "save_photo",
    "stored_photo",
]

log = logging.getLogger(__name__)

MAX_LISTED = 50


@dataclass(frozen=True)
class StationSettings:
    """Options of `kartu issuance serve` that the web handlers need."""

    station_dir: Path
    register: Path
    clerk: str
    faces_dir: Path
    photos_dir: Path
    print_queue: str | None = None
    reader: str | None = None  # PC/SC reader name or prefix; None picks the first reader
    qr_only: bool = False
    card_timeout: float = 30.0
    camera: str | None = None  # V4L2 device such as /dev/video0; None hides the camera button


@dataclass(frozen=True)
class IssuedCardInfo:
    card_number: str
    nik: str
    assurance: str
    issued: str


@dataclass(frozen=True)
class NewBatch:
    """A batch made from the queue (batch_id None when no resident was ready) and the residents it left out."""

    batch_id: int | None
    without_photo: int
    reissues: int


@dataclass(frozen=True)
class BatchProgress:
    batch_id: int
    created: str
    clerk: str
    total: int
    issued: int
    failed: int
    pending: int
    done: bool


def load_queue(station: Station, settings: StationSettings, text: str) -> tuple[list[QueueEntry], int]:
    """Return up to MAX_LISTED queue entries matching text, and how many entries match in all."""
    queue = register_queue(settings.register, station.journal)
    matches = search(queue.entries, text)
    return matches[:MAX_LISTED], len(matches)


def lookup_resident(station: Station, settings: StationSettings, nik: str) -> Resident:
    """Return the register's resident with nik; raise ResidentNotFoundError, or OSError if the register is unreadable."""
    return find_resident(read_register(settings.register).residents, nik)


def card_of_resident(station: Station, nik: str) -> str | None:
    """Return the card number most recently journalled for nik, or None."""
    row = station.journal.execute(
        "SELECT card_number FROM cards WHERE nik = ? ORDER BY issued DESC, card_number DESC LIMIT 1", (nik,)
    ).fetchone()
    return row[0] if row else None


def issued_card(station: Station, card_number: str) -> IssuedCardInfo | None:
    row = station.journal.execute(
        "SELECT card_number, nik, assurance, issued FROM cards WHERE card_number = ?", (card_number,)
    ).fetchone()
    return IssuedCardInfo(*row) if row else None


def save_photo(settings: StationSettings, nik: str, jpeg: bytes) -> Path:
    return store_photo(settings.photos_dir, nik, jpeg)


def stored_photo(settings: StationSettings, nik: str) -> bytes | None:
    return load_photo(settings.photos_dir, nik)


@contextmanager
def _card_connection(settings: StationSettings) -> Iterator[Connection | None]:
    if settings.qr_only:
        yield None
        return
    with PcscContext() as context:
        reader = context.choose_reader(settings.reader)
        context.wait_for_card(reader, settings.card_timeout)
        with context.connect(reader) as connection:
            yield connection


def issue_for_resident(station: Station, settings: StationSettings, resident: Resident, photo: bytes,
                       issued: date, language: str) -> IssuedCard:
    """Personalise the card in the reader (or make a QR-only card), then render its face PNGs and PDF.

    The card goes through batch.issue_card, as the command line's does: it is
    journalled with its audit entry and its registration body, which
    `kartu issuance register-pending` sends to the server. The face shows photo
    on QR-only cards too. Raises batch.CardFailure when the card fails, and
    ReaderError when no card comes to the reader.
    """
    prepare_journal(station.journal)
    with _card_connection(settings) as connection:
        issued_card = batch.issue_card(station, resident, connection, issued, settings.clerk, detail="web UI",
                                       lang=language, photo=photo).card
    front, back = batch.render_face(issued_card, resident, photo, settings.faces_dir)
    write_pdf_from_files(front, back, settings.faces_dir / f"{issued_card.card_number}.pdf")
    log.info("card %s issued from the web UI", issued_card.card_number)
    return issued_card


def record_nik_shown(station: Station, settings: StationSettings, nik: str) -> None:
    """Audit that the resident page showed the full NIK to the clerk."""
    audit.ensure_schema(station.journal)
    audit.append(station.journal, settings.clerk, "nik_shown", None, nik, "web UI resident page")


def card_files(settings: StationSettings, card_number: str) -> tuple[Path, Path, Path]:
    """Return the front PNG, back PNG and PDF paths of an issued card's face, writing the PDF if it is missing."""
    front = settings.faces_dir / f"{card_number}-front.png"
    back = settings.faces_dir / f"{card_number}-back.png"
    pdf = settings.faces_dir / f"{card_number}.pdf"
    if front.exists() and back.exists() and not pdf.exists():
        write_pdf_from_files(front, back, pdf)
    return front, back, pdf


def batch_progress(station: Station, limit: int = 20) -> list[BatchProgress]:
    """Return the latest batches with their item counts; empty when the station has never run a batch."""
    try:
        rows = station.journal.execute(
            """
            SELECT b.id, b.created, b.clerk, b.done, COUNT(i.position),
                   SUM(i.state = 'issued'), SUM(i.state = 'failed'), SUM(i.state IN ('pending', 'writing'))
            FROM batches b LEFT JOIN batch_items i ON i.batch_id = b.id
            GROUP BY b.id ORDER BY b.id DESC LIMIT ?
            """,
            (limit,),
        ).fetchall()
    except sqlite3.OperationalError:
        # A station whose journal never got the batch tables has run no batch.
        return []
    return [
        BatchProgress(batch_id, created, clerk, total, issued or 0, failed or 0, pending or 0, bool(done))
        for batch_id, created, clerk, done, total, issued, failed, pending in rows
    ]


def create_queue_batch(station: Station, settings: StationSettings) -> NewBatch:
    """Store a batch of every resident in the queue who waits for a new card.

    Reissues are left out because each needs the lost card's number. A chip
    station also leaves out residents with no accepted photo, so the batch
    never requests a blank card that it cannot write.
    """
    prepare_journal(station.journal)
    waiting = register_queue(settings.register, station.journal).entries
    new = [entry for entry in waiting if entry.reason == "new"]
    ready = new if settings.qr_only else [
        entry for entry in new if load_photo(settings.photos_dir, entry.resident.nik) is not None
    ]
    left_out = NewBatch(None, len(new) - len(ready), len(waiting) - len(new))
    if not ready:
        return left_out
    batch_id = batch.create_batch(station.journal, ready, settings.clerk, str(settings.register), settings.qr_only)
    log.info("batch %d of %d residents made from the web UI", batch_id, len(ready))
    return NewBatch(batch_id, left_out.without_photo, left_out.reissues)
