"""Card-face rendering and photo preparation times per card at the issuance station.

Measured, each as the median of --runs runs after two warm-up runs:
  - rendering the front and back images of one card (render_card_images), the
    figure held to the 100 ms target;
  - writing the front PNG, back PNG and two-page PDF (write_face_files);
  - the side-by-side print preview PNG at half size (preview_png);
  - prepare_photo on camera frames of 960 x 1280 and 3000 x 4000 pixels: face
    detection, portrait crop and compression to at most 12 KB.
The baseline is Pillow decoding and re-encoding the same front PNG, the least
work any renderer that writes a PNG file has to do.

Run: .venv/bin/python bench/card_face.py [--runs N]
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from card.cardnumber import make_card_number  # noqa: E402
from issuance.face import CardFace, render_card_images  # noqa: E402
from issuance.illustrated import portrait_jpeg  # noqa: E402
from issuance.photo import prepare_photo  # noqa: E402
from issuance.print_face import preview_png, write_face_files  # noqa: E402

TARGET_RENDER_MS = 100.0
# A QR text of the length the design budgets for a 60-character name: 290 characters.
QR_TEXT = "KB1:" + "6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0BGJLFX2V8O33WKR+2EGJ9ZBC8RT" * 4
QR_TEXT = QR_TEXT[:290]
LONG_NAME = "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK"


def median_ms(work, runs: int) -> float:
    for _ in range(2):
        work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per figure (default 30)")
    args = parser.parse_args()

    photo = prepare_photo(portrait_jpeg(seed=3, size=(960, 1280))).jpeg
    face = CardFace(
        name=LONG_NAME, card_number=make_card_number(12), kelurahan="Kenali Asam Bawah", kecamatan="Kota Baru",
        issued=date(2026, 12, 4), expires=date(2031, 12, 3), photo=photo, qr_text=QR_TEXT,
    )
    front, _ = render_card_images(face)
    front_png = io.BytesIO()
    front.save(front_png, format="PNG")

    def baseline() -> None:
        with Image.open(io.BytesIO(front_png.getvalue())) as image:
            image.load()
            image.save(io.BytesIO(), format="PNG")

    camera_small = portrait_jpeg(seed=5, size=(960, 1280))
    camera_large = portrait_jpeg(seed=5, size=(3000, 4000))
    with tempfile.TemporaryDirectory() as scratch:
        figures = {
            "render front and back images": median_ms(lambda: render_card_images(face), args.runs),
            "write front PNG, back PNG and PDF": median_ms(lambda: write_face_files(face, Path(scratch)), args.runs),
            "print preview PNG (half size)": median_ms(lambda: preview_png(face), args.runs),
            "prepare_photo, 960 x 1280 camera JPEG": median_ms(lambda: prepare_photo(camera_small), args.runs),
            "prepare_photo, 3000 x 4000 camera JPEG": median_ms(lambda: prepare_photo(camera_large), args.runs),
            "baseline: decode and re-encode the front PNG": median_ms(baseline, args.runs),
        }

    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{args.runs} runs per figure")
    for name, value in figures.items():
        print(f"{name:48s} {value:8.1f} ms")
    render = figures["render front and back images"]
    print(f"render / target {TARGET_RENDER_MS:.0f} ms: {render / TARGET_RENDER_MS:.2f}")
    print(f"render / baseline: {render / figures['baseline: decode and re-encode the front PNG']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
