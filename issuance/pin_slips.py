"""Cardholder PINs for chip cards, handed to residents on PIN slips that the clerk prints and then deletes.

A chip card from a batch or a reissue gets its own random 6-digit PIN from
the `secrets` module. Outside the card, the PIN exists only in one slip file,
STATION/pin-slips/GROUP/CARD_NUMBER.txt (directory 0700, file 0600), written
after personalisation has verified the card and before the card is
journalled. GROUP is "batch-N" for batch N, "reissue", or "single". The clerk prints a
group's slips (`kartu issuance pin-slips N --print QUEUE`), seals each slip
with its card in an envelope, and deletes the files (`--delete`). The PIN is
never logged, never stored in station.db and never sent to the server.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from card.i18n import N_, translate
from issuance import cups
from issuance.register import Resident

__all__ = [
    "PIN_DIGITS", "SLIPS_DIR", "REISSUE_GROUP", "SINGLE_GROUP", "batch_group", "delete_slips", "group_directory", "new_pin",
    "print_slips", "slip_paths", "write_slip",
]

log = logging.getLogger(__name__)

PIN_DIGITS = 6
SLIPS_DIR = "pin-slips"
REISSUE_GROUP = "reissue"
# Slips of chip cards issued one at a time without a PIN given.
SINGLE_GROUP = "single"

SLIP_TEXT = N_(
    "KARTU BAHAGIA - CARDHOLDER PIN\n"
    "\n"
    "Card number: {card_number}\n"
    "Name: {name}\n"
    "Kelurahan: {kelurahan}\n"
    "\n"
    "PIN: {pin}\n"
    "\n"
    "Keep this PIN secret and destroy this slip once you remember it.\n"
    "Never tell it to anyone, including service point staff: you type it yourself.\n"
)


def new_pin() -> str:
    """Return a random 6-digit PIN that is not one repeated digit or a run such as 123456 or 654321."""
    while True:
        pin = f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
        steps = {int(after) - int(before) for before, after in zip(pin, pin[1:])}
        if not (len(steps) == 1 and steps <= {-1, 0, 1}):
            return pin


def batch_group(batch_id: int) -> str:
    return f"batch-{batch_id}"


def group_directory(station_dir: Path, group: str) -> Path:
    return station_dir / SLIPS_DIR / group


def write_slip(station_dir: Path, group: str, card_number: str, resident: Resident, pin: str,
               lang: str = "id") -> Path:
    """Write the card's PIN slip with mode 0600, atomically, and return its path; raise OSError on failure."""
    directory = group_directory(station_dir, group)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (directory.parent, directory):
        folder.chmod(0o700)
    text = translate(SLIP_TEXT, lang, card_number=card_number, name=resident.name, kelurahan=resident.kelurahan,
                     pin=pin)
    path = directory / f"{card_number}.txt"
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    log.info("PIN slip for card %s written to group %s", card_number, group)
    return path


def slip_paths(station_dir: Path, group: str) -> list[Path]:
    """Return the group's slip files in card number order (an empty list when there are none)."""
    directory = group_directory(station_dir, group)
    return sorted(directory.glob("*.txt")) if directory.is_dir() else []


def print_slips(station_dir: Path, group: str, queue: str) -> tuple[str, int]:
    """Send every slip of the group to the CUPS queue as one job; return the job id and the number of slips.

    Raises LookupError when the group has no slips and cups.PrintError when lp fails.
    """
    paths = slip_paths(station_dir, group)
    if not paths:
        raise LookupError(group)
    job = cups.print_text_files(paths, queue, f"kartu-pin-slips-{group}")
    return job, len(paths)


def delete_slips(station_dir: Path, group: str) -> int:
    """Overwrite each slip of the group with zeros, delete it, and return how many were deleted.

    NOTE: overwriting in place does not erase the old blocks on a journalling
    or copy-on-write file system or on flash storage, so keep the station
    directory on an encrypted disk.
    """
    paths = slip_paths(station_dir, group)
    for path in paths:
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
    directory = group_directory(station_dir, group)
    for leftover in directory.glob("*.tmp") if directory.is_dir() else []:
        leftover.unlink()
    if directory.is_dir():
        directory.rmdir()
    log.info("%d PIN slips of group %s deleted", len(paths), group)
    return len(paths)
