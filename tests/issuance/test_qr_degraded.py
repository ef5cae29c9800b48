"""The printed QR code scans after the damage a phone camera or a worn card adds.

The card back is rendered at 300 dpi for a few signed QR credentials. Each
of 200 seeded copies is then rotated by up to 15 degrees, blurred, reduced
in contrast and saved as JPEG at quality 30, and every second copy is
inverted. The copies are decoded through hardware.qrimage (zxing-cpp), and at
least 99 % must give the exact QR text. The images are grayscale, which is what zxing-cpp
reads anyway, to keep the test near 10 seconds.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from card.cardnumber import make_card_number
from card.credential import Holder, sign_credential
from card.keys import FileSigner, generate_private_key
from card.qrtext import to_qr_text
from hardware.qrimage import QRImageError, decode_qr_image
from issuance.face import DPI, CardFace, render_card_face
from tests.conftest import make_credential

NAMES = (
    "SITI AISYAH",
    "BUDI SANTOSO",
    "NUR HALIMAH BINTI AHMAD LUBIS",
    "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK",
)
COPIES = 200
MIN_DECODED_SHARE = 0.99
MIN_MODULE_MM = 0.33
MM_PER_INCH = 25.4


@pytest.fixture(scope="module")
def backs(tmp_path_factory) -> list[tuple[str, Image.Image]]:
    """Render the back of one card per name; return (QR text, grayscale back image) pairs."""
    signer = FileSigner(generate_private_key())
    out_dir = tmp_path_factory.mktemp("backs")
    rendered = []
    for index, name in enumerate(NAMES):
        card_number = make_card_number(10**11 - 1 - index)
        holder = Holder(name, date(1950 + index, 1, 1), "P", "1571011001")
        text = to_qr_text(sign_credential(make_credential(holder=holder, card_number=card_number), signer))
        face = CardFace(
            name=name, card_number=card_number, kelurahan="Kenali Asam Bawah", kecamatan="Kota Baru",
            issued=date(2026, 12, 1), expires=date(2031, 12, 1), qr_text=text,
        )
        _, back_path = render_card_face(face, out_dir)
        with Image.open(back_path) as image:
            rendered.append((text, image.convert("L")))
    return rendered


def degrade(image: Image.Image, rng: random.Random, invert: bool) -> Image.Image:
    angle = rng.uniform(-15.0, 15.0)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.25, 0.5))
    if invert:
        image = ImageOps.invert(image)
    return image


def test_module_size_and_quiet_zone_of_longest_credential(backs) -> None:
    text, image = max(backs, key=lambda pair: len(pair[0]))
    barcode = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)[0]
    assert barcode.text == text
    modules = 17 + 4 * int(barcode.extra["Version"])
    left, top = barcode.position.top_left.x, barcode.position.top_left.y
    side = barcode.position.top_right.x - left
    module_mm = side / modules * MM_PER_INCH / DPI
    assert module_mm >= MIN_MODULE_MM
    quiet = round(4 * side / modules)
    around = image.crop((left - quiet, top - quiet, left + side + quiet, top + side + quiet))
    inner = (quiet, quiet, quiet + side, quiet + side)
    ring = [around.getpixel((x, y)) for x in range(around.width) for y in range(around.height)
            if not (inner[0] <= x < inner[2] and inner[1] <= y < inner[3])]
    assert min(ring) == 255, "the 4-module quiet zone is not blank"


def test_degraded_copies_decode_to_exact_text(backs, tmp_path: Path) -> None:
    rng = random.Random(20261204)
    decoded = 0
    failures = []
    for copy in range(COPIES):
        text, image = backs[copy % len(backs)]
        path = tmp_path / f"copy-{copy}.jpg"
        degrade(image, rng, invert=copy % 2 == 1).save(path, format="JPEG", quality=30)
        try:
            result = decode_qr_image(path)
        except QRImageError as exc:
            failures.append(f"copy {copy}: {exc}")
            continue
        if result == text:
            decoded += 1
        else:
            failures.append(f"copy {copy}: decoded other text")
    assert decoded / COPIES >= MIN_DECODED_SHARE, failures
