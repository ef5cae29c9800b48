"""The issuance station: its keys and its journal of issued cards.

The station directory contains the issuer signing key, household.key (0600),
personalisation.key (0600) and station.db. The personalisation key is the
master key of the per-card secrets (see issuance.card_secrets). station.db is
a SQLite journal that allocates card serials and remembers every card issued
and whether the server has it yet. The issuer key is either the
file issuer.key (0600) or a key on a PKCS#11 token, named by the URI in the
file issuer.uri (see card.signing). `kartu keys create --dir` makes either.
issuer.pub.pem is always the public key of the current issuer key, and
retired/ keeps the public keys of rotated issuer keys.
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
from card.keys import KeyFileError, kid_of, load_public_key, save_public_key
from card.signing import Signer, SignerError, create_key, is_pkcs11_uri, open_signer
from issuance.card_secrets import MASTER_KEY_FILE, create_master_key

__all__ = [
    "Station",
    "StationError",
    "JournalEntry",
    "create_station_keys",
    "rotate_issuer_key",
    "issuer_key_reference",
    "ISSUER_PUBLIC_KEY",
]

ISSUER_KEY = "issuer.key"
ISSUER_KEY_URI = "issuer.uri"
ISSUER_PUBLIC_KEY = "issuer.pub.pem"
RETIRED_DIR = "retired"
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


@dataclass(frozen=True)
class JournalEntry:
    """One card in the station journal."""

    card_number: str
    nik: str
    assurance: str
    registered: bool


def create_station_keys(directory: Path, issuer_key: str | None = None) -> bytes:
    """Create the issuer key, issuer.pub.pem, household.key and personalisation.key (0600); return the issuer kid.

    The issuer key is the file issuer.key (0600) unless issuer_key is a
    PKCS#11 URI, in which case the key is generated on that token and the URI
    is written to issuer.uri. Existing files are never overwritten, because
    losing an issuer or household key would orphan every card made with it.
    The household key must be the same at every station of the city, so a
    second station gets a copy of the first one's file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    names = (ISSUER_KEY, ISSUER_KEY_URI, ISSUER_PUBLIC_KEY, HOUSEHOLD_KEY, MASTER_KEY_FILE)
    existing = [name for name in names if (directory / name).exists()]
    if existing:
        raise FileExistsError(f"{directory} already holds {', '.join(existing)}; keys are never overwritten")
    if issuer_key is not None and not is_pkcs11_uri(issuer_key):
        raise StationError(f"issuer key {issuer_key!r} is not a PKCS#11 URI; leave it out for a key file")
    signer = _create_issuer_key(directory, issuer_key)
    fd = os.open(directory / HOUSEHOLD_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(HOUSEHOLD_KEY_SIZE))
    create_master_key(directory)
    return signer.kid


def _create_issuer_key(directory: Path, token_uri: str | None) -> Signer:
    """Create the issuer key as issuer.key or on a token (recorded in issuer.uri), and write issuer.pub.pem."""
    try:
        signer = create_key(token_uri if token_uri is not None else directory / ISSUER_KEY)
    except SignerError as exc:
        raise StationError(str(exc)) from None
    _install_issuer_key(directory, signer, token_uri)
    return signer


def _install_issuer_key(directory: Path, signer: Signer, token_uri: str | None) -> None:
    if token_uri is not None:
        (directory / ISSUER_KEY_URI).write_text(token_uri + "\n", encoding="utf-8")
    save_public_key(signer.public_key, directory / ISSUER_PUBLIC_KEY)
    _close(signer)


def _close(signer: Signer) -> None:
    close = getattr(signer, "close", None)
    if close is not None:
        close()


def issuer_key_reference(directory: Path) -> str:
    """Return the station's issuer key reference: the URI in issuer.uri, else the path of issuer.key."""
    uri_file = directory / ISSUER_KEY_URI
    if uri_file.exists():
        return uri_file.read_text(encoding="utf-8").strip()
    return str(directory / ISSUER_KEY)


def rotate_issuer_key(directory: Path, new_key: str | None = None) -> tuple[bytes, bytes]:
    """Replace the station's issuer key with a new one; return (old kid, new kid).

    The old public key moves to retired/issuer-<kid>.pub.pem, where it stays
    for the trust list: cards it signed remain valid until they expire. An old
    key file is deleted so it can sign nothing more. An old token key stays on
    its token, because deleting token objects is the token officer's task.
    The new key is a file unless new_key is a PKCS#11 URI. Add the new public
    key to the trust list before the station issues cards with it, or
    terminals reject those cards as unknown.
    """
    if new_key is not None and not is_pkcs11_uri(new_key):
        raise StationError(f"new issuer key {new_key!r} is not a PKCS#11 URI; leave it out for a key file")
    old_public = directory / ISSUER_PUBLIC_KEY
    try:
        old_kid = kid_of(load_public_key(old_public))
    except KeyFileError as exc:
        raise StationError(f"{exc}; the station has no issuer key to rotate") from None
    # The new key is made first, so a failure leaves the old key in place.
    pending_file = directory / (ISSUER_KEY + ".new")
    try:
        signer = create_key(new_key if new_key is not None else pending_file)
    except SignerError as exc:
        raise StationError(str(exc)) from None
    retired = directory / RETIRED_DIR
    retired.mkdir(exist_ok=True)
    os.replace(old_public, retired / f"issuer-{old_kid.hex()}.pub.pem")
    (directory / ISSUER_KEY_URI).unlink(missing_ok=True)
    if new_key is None:
        os.replace(pending_file, directory / ISSUER_KEY)
    else:
        (directory / ISSUER_KEY).unlink(missing_ok=True)
    _install_issuer_key(directory, signer, new_key)
    return old_kid, signer.kid


def open_journal(path: Path) -> sqlite3.Connection:
    """Open station.db in autocommit mode, creating it with mode 0600.

    The journal contains NIKs, so only its owner may read it. SQLite (3.40.1
    checked) creates the -wal and -shm files with the database file's mode.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


class Station:
    """An issuance station directory opened for issuing.

    issuer_key overrides the station's own issuer key reference (a key file
    path or a PKCS#11 URI, see card.signing).
    """

    def __init__(self, directory: Path, station_number: int = 1, issuer_key: str | None = None):
        if not 0 < station_number < 100:
            raise StationError(f"station number {station_number} must be 1 to 99")
        self.directory = directory
        self.station_number = station_number
        try:
            self.issuer = open_signer(issuer_key or issuer_key_reference(directory))
            self.household_key = self._read_household_key(directory / HOUSEHOLD_KEY)
        except (KeyFileError, SignerError) as exc:
            raise StationError(f"{exc}; create the station keys with 'kartu keys create --dir {directory}'") from None
        self._db = open_journal(directory / JOURNAL)
        self._db.executescript(SCHEMA)

    @staticmethod
    def _read_household_key(path: Path) -> bytes:
        try:
            if path.stat().st_mode & 0o077:
                raise KeyFileError(f"household key {path} is readable by others; run 'chmod 600 {path}'")
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(f"household key {path} does not exist") from None

    @property
    def journal(self) -> sqlite3.Connection:
        """The station.db connection (autocommit), for the queue, batch, audit and pending-registration tables."""
        return self._db

    def close(self) -> None:
        self._db.close()
        _close(self.issuer)

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
