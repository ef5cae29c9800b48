"""Card-face print output: PNG pair, two-page ID-1 PDF, preview sheet."""

import io
import re
import shutil
import subprocess
from datetime import date

import pytest
import zxingcpp
from PIL import Image

from card.cardnumber import make_card_number
from issuance.face import CARD_SIZE_PX, CardFace
from issuance.illustrated import portrait_jpeg
from issuance.photo import prepare_photo
from issuance.print_face import PREVIEW_GAP_PX, card_pdf_bytes, preview_png, write_face_files

QR_TEXT = "KB1:" + "6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0BGJLFX2V8O33WKR+2EGJ9ZBC8" * 3
# ID-1 in PostScript points: 85.60 mm and 53.98 mm at 72 / 25.4 points per mm.
ID1_POINTS = (85.60 * 72 / 25.4, 53.98 * 72 / 25.4)


def card_face(**changes) -> CardFace:
    fields = {
        "name": "SITI NURHALIZA",
        "card_number": make_card_number(77),
        "kelurahan": "Sungai Putri",
        "kecamatan": "Telanaipura",
        "issued": date(2026, 12, 4),
        "expires": date(2031, 12, 3),
        "photo": prepare_photo(portrait_jpeg(seed=3)).jpeg,
        "qr_text": QR_TEXT,
    }
    fields.update(changes)
    return CardFace(**fields)


def pdf_media_boxes(pdf: bytes) -> list[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(width), float(height)) for width, height in boxes]


def test_files_written_for_card_number(tmp_path):
    face = card_face()

    files = write_face_files(face, tmp_path / "faces")

    assert files.front_png.name == f"{face.card_number}-front.png"
    assert files.back_png.name == f"{face.card_number}-back.png"
    assert files.pdf.name == f"{face.card_number}.pdf"
    for path in (files.front_png, files.back_png, files.pdf):
        assert path.stat().st_size > 0


def test_pngs_are_id1_at_300_dpi(tmp_path):
    files = write_face_files(card_face(), tmp_path)

    for path in (files.front_png, files.back_png):
        with Image.open(path) as image:
            assert image.size == CARD_SIZE_PX
            assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_pdf_has_two_id1_pages(tmp_path):
    files = write_face_files(card_face(), tmp_path)
    pdf = files.pdf.read_bytes()

    assert pdf.startswith(b"%PDF-")
    boxes = pdf_media_boxes(pdf)
    assert len(boxes) == 2
    for width, height in boxes:
        assert width == pytest.approx(ID1_POINTS[0], abs=0.3)
        assert height == pytest.approx(ID1_POINTS[1], abs=0.3)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (Debian poppler-utils) is not installed")
def test_pdf_back_page_qr_decodes(tmp_path):
    files = write_face_files(card_face(), tmp_path)

    subprocess.run(["pdftoppm", "-r", "300", "-png", "-f", "2", "-l", "2", str(files.pdf), str(tmp_path / "page")],
                   check=True)
    [page] = sorted(tmp_path.glob("page*.png"))
    with Image.open(page) as image:
        assert abs(image.width - CARD_SIZE_PX[0]) <= 1
        barcodes = zxingcpp.read_barcodes(image)

    assert [barcode.text for barcode in barcodes] == [QR_TEXT]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (Debian poppler-utils) is not installed")
def test_pdf_first_page_is_front(tmp_path):
    front = Image.new("RGB", CARD_SIZE_PX, (255, 0, 0))
    back = Image.new("RGB", CARD_SIZE_PX, (0, 0, 255))
    pdf_path = tmp_path / "card.pdf"
    pdf_path.write_bytes(card_pdf_bytes(front, back))

    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf_path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))

    assert len(pages) == 2
    with Image.open(pages[0]) as first, Image.open(pages[1]) as second:
        first_red, _, first_blue = first.convert("RGB").getpixel((5, 5))
        second_red, _, second_blue = second.convert("RGB").getpixel((5, 5))
    # The page images are JPEG inside the PDF, so colours are compared with a tolerance.
    assert first_red > 240
    assert first_blue < 15
    assert second_blue > 240
    assert second_red < 15


def test_preview_shows_front_and_back():
    data = preview_png(card_face(), scale=1.0)

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (2 * CARD_SIZE_PX[0] + PREVIEW_GAP_PX, CARD_SIZE_PX[1])
        back = image.crop((CARD_SIZE_PX[0] + PREVIEW_GAP_PX, 0, image.width, image.height))
        assert [barcode.text for barcode in zxingcpp.read_barcodes(back)] == [QR_TEXT]


def test_preview_scaled_for_screen():
    with Image.open(io.BytesIO(preview_png(card_face()))) as image:
        assert image.width == round((2 * CARD_SIZE_PX[0] + PREVIEW_GAP_PX) * 0.5)


def test_invalid_card_number_writes_nothing(tmp_path):
    out_dir = tmp_path / "faces"

    with pytest.raises(ValueError, match="card number"):
        write_face_files(card_face(card_number="1571000000000000"), out_dir)

    assert not out_dir.exists()
