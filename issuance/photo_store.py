"""Accepted portraits waiting for their card: STATION/photos/<NIK>.jpg, readable by the station's user only."""

from __future__ import annotations

import os
from pathlib import Path

from card.i18n import N_, translate

__all__ = ["PHOTOS_DIR", "PhotoMissingError", "load_photo", "photo_path", "require_photo", "store_photo"]

PHOTOS_DIR = "photos"
PHOTO_MISSING = N_(
    "The resident has no accepted photo, and a chip card needs one. Take it with 'kartu issuance photo' or in "
    "the station UI, then issue the card again. No card was written."
)


class PhotoMissingError(Exception):
    """A chip card is to be issued to a resident whose accepted portrait is not stored; raised before any card is touched."""

    def __init__(self) -> None:
        super().__init__(self.message("en"))

    def message(self, language: str = "id") -> str:
        return translate(PHOTO_MISSING, language)


def photo_path(photos_dir: Path, nik: str) -> Path:
    """Return the portrait path for nik; raise ValueError unless nik is 16 digits, so it never names another path."""
    if not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
        raise ValueError(f"NIK {nik!r} is not 16 digits")
    return photos_dir / f"{nik}.jpg"


def store_photo(photos_dir: Path, nik: str, jpeg: bytes) -> Path:
    """Write the portrait with mode 0600 through a temporary file, so a crash never leaves half a JPEG."""
    path = photo_path(photos_dir, nik)
    photos_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(jpeg)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def load_photo(photos_dir: Path, nik: str) -> bytes | None:
    """Return the stored portrait for nik, or None when the resident has none."""
    path = photo_path(photos_dir, nik)
    return path.read_bytes() if path.exists() else None


def require_photo(photos_dir: Path, nik: str) -> bytes:
    """Return the stored portrait for nik; raise PhotoMissingError when the resident has none."""
    photo = load_photo(photos_dir, nik)
    if photo is None:
        raise PhotoMissingError()
    return photo
