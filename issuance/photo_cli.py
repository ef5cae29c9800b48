"""`kartu issuance photo`: check a resident's photo and store the chip portrait in STATION/photos/<NIK>.jpg.

`kartu issuance serve` stores and reads portraits in the same place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from card.i18n import N_, translate
from issuance.photo import PhotoRejected, capture_camera_photo, prepare_photo, read_photo_file
from issuance.photo_store import PHOTOS_DIR, store_photo
from issuance.station import ISSUER_PUBLIC_KEY

__all__ = ["add_commands"]

PHOTO_STORED = N_("Photo accepted for NIK {nik}: {size} bytes, face {width} pixels wide, stored in {path}.")
INVALID_NIK = N_("--nik {nik} is not a NIK: give the 16 digits exactly as printed on the KTP.")
NOT_A_STATION = N_("{station} is not a station directory: it has no {marker}. Check the --station path, or create "
                   "the station with 'kartu keys create --dir {station}'. The photo was not stored.")


def add_commands(commands: argparse._SubParsersAction) -> None:
    photo = commands.add_parser("photo", help="check a resident's photo and store the chip portrait")
    photo.add_argument("--station", type=Path, required=True, help="station directory (from 'kartu keys create')")
    photo.add_argument("--nik", required=True, help="NIK of the resident in the photo")
    source = photo.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="JPEG or PNG photo file")
    source.add_argument("--camera", help="camera device to take the photo with, e.g. /dev/video0")
    photo.set_defaults(handler=_photo)


def _photo(args: argparse.Namespace) -> int:
    nik = args.nik.strip()
    if not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
        print(translate(INVALID_NIK, args.lang, nik=args.nik), file=sys.stderr)
        return 2
    # Checked before the photo is taken, so a mistyped path never becomes a new directory of portraits.
    if not (args.station / ISSUER_PUBLIC_KEY).is_file():
        print(translate(NOT_A_STATION, args.lang, station=args.station, marker=ISSUER_PUBLIC_KEY), file=sys.stderr)
        return 2
    try:
        data = read_photo_file(args.file) if args.file is not None else capture_camera_photo(args.camera)
        prepared = prepare_photo(data)
    except PhotoRejected as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 1
    path = store_photo(args.station / PHOTOS_DIR, nik, prepared.jpeg)
    print(translate(PHOTO_STORED, args.lang, nik=nik, size=len(prepared.jpeg), width=prepared.face.width, path=path))
    return 0
