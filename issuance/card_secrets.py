"""Per-card secrets derived from the issuer's personalisation master key.

Each chip card leaves issuance with its own AES-128 management key and PUK,
both HKDF-SHA256 outputs (RFC 5869) of the station's master key with the
card serial (the 11 digits inside the card number) in the info string. A
station with the master key can therefore re-derive them to rewrite a card
or unblock its PIN, while terminals, which never hold the master key, cannot
write any card. Stations that must serve each other's cards share one
master key file, as they share household.key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from card.cardnumber import REGION_PREFIX, is_valid_card_number
from card.i18n import N_, TranslatedError

__all__ = [
    "MASTER_KEY_FILE", "MASTER_KEY_SIZE", "MasterKeyError", "create_master_key", "load_master_key",
    "card_serial", "derive_management_key", "derive_puk",
]

MASTER_KEY_FILE = "personalisation.key"
MASTER_KEY_SIZE = 32
MANAGEMENT_KEY_SIZE = 16
PUK_DIGITS = 8
# Labels that separate the derived secrets; changing one changes every card's secret.
MANAGEMENT_KEY_LABEL = b"kartu-bahagia/v1/piv-management-key/"
PUK_LABEL = b"kartu-bahagia/v1/piv-puk/"


class MasterKeyError(TranslatedError):
    """The personalisation master key file is missing, unreadable, readable by others or of the wrong size."""


MASTER_KEY_MISSING = N_(
    "The personalisation master key {path} does not exist. A new station gets it from 'kartu keys create'; "
    "a station created before that needs a copy of the city's key file, with mode 0600."
)
MASTER_KEY_UNREADABLE = N_("Cannot read the personalisation master key {path} ({error}). Check the file and its owner.")
MASTER_KEY_EXPOSED = N_(
    "The personalisation master key {path} is readable by other users. Run 'chmod 600 {path}', then issue again."
)
MASTER_KEY_WRONG_SIZE = N_(
    "The personalisation master key {path} is {size} bytes long, expected {expected}. "
    "Restore the file from the station's backup."
)


def create_master_key(directory: Path) -> Path:
    """Create directory/personalisation.key with 32 random bytes and mode 0600; never overwrite one."""
    path = directory / MASTER_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(os.urandom(MASTER_KEY_SIZE))
    return path


def load_master_key(directory: Path) -> bytes:
    path = directory / MASTER_KEY_FILE
    try:
        mode = path.stat().st_mode
        key = path.read_bytes()
    except FileNotFoundError:
        raise MasterKeyError(MASTER_KEY_MISSING, path=path) from None
    except OSError as exc:
        raise MasterKeyError(MASTER_KEY_UNREADABLE, path=path, error=exc.strerror) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(MASTER_KEY_EXPOSED, path=path)
    if len(key) != MASTER_KEY_SIZE:
        raise MasterKeyError(MASTER_KEY_WRONG_SIZE, path=path, size=len(key), expected=MASTER_KEY_SIZE)
    return key


def card_serial(card_number: str) -> str:
    """Return the 11-digit serial of a card number (the digits between the region code and the check digit)."""
    if not is_valid_card_number(card_number):
        raise ValueError(f"card number {card_number!r} is not a valid 16-digit Kartu Bahagia number")
    return card_number[len(REGION_PREFIX) : -1]


def _derive(master_key: bytes, label: bytes, serial: str, length: int) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label + serial.encode("ascii"))
    return hkdf.derive(master_key)


def derive_management_key(master_key: bytes, serial: str) -> bytes:
    """Return the card's AES-128 management key."""
    return _derive(master_key, MANAGEMENT_KEY_LABEL, serial, MANAGEMENT_KEY_SIZE)


def derive_puk(master_key: bytes, serial: str) -> str:
    """Return the card's 8-digit PUK; 8 HKDF bytes reduced modulo 10^8 leave a bias below 10^-11."""
    value = int.from_bytes(_derive(master_key, PUK_LABEL, serial, 8), "big")
    return f"{value % 10**PUK_DIGITS:0{PUK_DIGITS}d}"
