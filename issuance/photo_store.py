"""Accepted portraits waiting for their card: STATION/photos/<NIK>.jpg, readable by the station's user only."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PHOTOS_DIR", "load_photo", "photo_path", "store_photo"]

PHOTOS_DIR = "photos"


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
