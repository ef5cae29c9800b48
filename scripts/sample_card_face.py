"""Write the sample card face in docs/: a synthetic resident, an illustrated portrait, a signed QR credential.

Run from the repository root: .venv/bin/python scripts/sample_card_face.py
It creates a throwaway station in a temporary directory, so the QR code on the back
carries a real credential signed by a key that exists nowhere else. Every input is
synthetic (issuance.synth and issuance.illustrated), never a real person's data.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from issuance.face import DPI, CardFace, render_card_images  # noqa: E402
from issuance.illustrated import portrait_jpeg  # noqa: E402
from issuance.personalise import issue_qr_only  # noqa: E402
from issuance.photo import prepare_photo  # noqa: E402
from issuance.print_face import card_pdf_bytes  # noqa: E402
from issuance.station import Station, create_station_keys  # noqa: E402
from issuance.synth import generate_register  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
ISSUED = date(2026, 12, 4)
REGISTER_SEED = 7
PORTRAIT_SEED = 3


def main() -> int:
    resident = generate_register(1, seed=REGISTER_SEED)[0]
    photo = prepare_photo(portrait_jpeg(seed=PORTRAIT_SEED, size=(960, 1280))).jpeg
    with tempfile.TemporaryDirectory() as scratch:
        station_dir = Path(scratch) / "station"
        create_station_keys(station_dir)
        station = Station(station_dir)
        try:
            card = issue_qr_only(resident, station, ISSUED)
        finally:
            station.close()
    face = CardFace(
        name=resident.name, card_number=card.card_number, kelurahan=resident.kelurahan, kecamatan=resident.kecamatan,
        issued=card.issued, expires=card.expires, photo=photo, qr_text=card.qr_text,
    )
    front, back = render_card_images(face)
    front.save(DOCS / "sample-card-front.png", format="PNG", dpi=(DPI, DPI))
    back.save(DOCS / "sample-card-back.png", format="PNG", dpi=(DPI, DPI))
    (DOCS / "sample-card.pdf").write_bytes(card_pdf_bytes(front, back))
    print(f"wrote {DOCS}/sample-card-front.png, sample-card-back.png and sample-card.pdf for card {card.card_number}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
