"""The issuance station: its keys and its journal of issued cards.

The station directory holds issuer.key and household.key (both 0600, made by
`kartu keys create`) and station.db, a SQLite journal that allocates card
serials and remembers every card issued and whether the server has it yet.
Card serials are the station number (2 digits) followed by a 9-digit counter,
so two stations never allocate the same card number.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from card.cardnumber import make_card_number
from card.keys import FileSigner, KeyFileError, generate_private_key, kid_of, save_private_key, save_public_key

__all__ = ["Station", "StationError", "JournalEntry", "create_station_keys", "ISSUER_PUBLIC_KEY"]

ISSUER_KEY = "issuer.key"
ISSUER_PUBLIC_KEY = "issuer.pub.pem"
HOUSEHOLD_KEY = "household.key"
HOUSEHOLD_KEY_SIZE = 32
JOURNAL = "station.db"
COUNTER_LIMIT = 10**9

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    card_number TEXT PRIMARY KEY,
    nik TEXT NOT NULL,
    household_id BLOB NOT NULL,
    assurance TEXT NOT NULL,
    issued TEXT NOT NULL,
    expires TEXT NOT NULL,
    qr_text TEXT NOT NULL,
    registered INTEGER NOT NULL DEFAULT 0
);
"""


class StationError(Exception):
    """The station directory is incomplete or its files are unusable."""


def create_station_keys(directory: Path) -> bytes:
    """Create issuer.key (0600), issuer.pub.pem and household.key (0600); return the issuer kid.

    Existing files are never overwritten, because losing an issuer or
    household key would orphan every card made with it. The household key
    must be the same at every station of the city, so a second station gets a
    copy of the first one's file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    existing = [name for name in (ISSUER_KEY, ISSUER_PUBLIC_KEY, HOUSEHOLD_KEY) if (directory / name).exists()]
    if existing:
        raise FileExistsError(f"{directory} already holds {', '.join(existing)}; keys are never overwritten")
    private_key = generate_private_key()
    save_private_key(private_key, directory / ISSUER_KEY)
    save_public_key(private_key.public_key(), directory / ISSUER_PUBLIC_KEY)
    fd = os.open(directory / HOUSEHOLD_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(HOUSEHOLD_KEY_SIZE))
    return kid_of(private_key.public_key())


@dataclass(frozen=True)
class JournalEntry:
    card_number: str
    nik: str
    assurance: str
    registered: bool


class Station:
    def __init__(self, directory: Path, station_number: int = 1):
        if not 0 < station_number < 100:
            raise StationError(f"station number {station_number} must be 1 to 99")
        self.directory = directory
        self.station_number = station_number
        try:
            self.issuer = FileSigner.from_file(directory / ISSUER_KEY)
            self.household_key = self._read_household_key(directory / HOUSEHOLD_KEY)
        except KeyFileError as exc:
            raise StationError(f"{exc}; create the station keys with 'kartu keys create --dir {directory}'") from None
        self._db = sqlite3.connect(directory / JOURNAL, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    @staticmethod
    def _read_household_key(path: Path) -> bytes:
        try:
            if path.stat().st_mode & 0o077:
                raise KeyFileError(f"household key {path} is readable by others; run 'chmod 600 {path}'")
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(f"household key {path} does not exist") from None

    def close(self) -> None:
        self._db.close()

    def allocate_card_number(self) -> str:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
            counter = int(row[0]) + 1 if row else 1
            if counter >= COUNTER_LIMIT:
                raise StationError(f"station {self.station_number} has used all {COUNTER_LIMIT} card serials")
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)", (str(counter),))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return make_card_number(self.station_number * COUNTER_LIMIT + counter)

    def record_card(self, card_number: str, nik: str, household_id: bytes, assurance: str,
                    issued: str, expires: str, qr_text: str) -> None:
        self._db.execute(
            "INSERT INTO cards (card_number, nik, household_id, assurance, issued, expires, qr_text) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (card_number, nik, household_id, assurance, issued, expires, qr_text),
        )

    def mark_registered(self, card_number: str) -> None:
        self._db.execute("UPDATE cards SET registered = 1 WHERE card_number = ?", (card_number,))

    def cards(self) -> list[JournalEntry]:
        rows = self._db.execute("SELECT card_number, nik, assurance, registered FROM cards ORDER BY card_number")
        return [JournalEntry(number, nik, assurance, bool(registered)) for number, nik, assurance, registered in rows]
