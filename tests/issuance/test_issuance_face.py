"""Card-face rendering: ID-1 PNGs at 300 dpi, the QR code on the back, text fitting."""

import random
from datetime import date

import pytest
import zxingcpp
from PIL import Image

from card.cardnumber import make_card_number
from issuance import face as face_module
from issuance.face import CARD_SIZE_PX, MIN_QR_MODULE_PX, CardFace, render_card_face
from issuance.photo import placeholder_photo

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
LONG_NAME = "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK"


def qr_text(length: int = 290, seed: int = 1) -> str:
    """A QR credential-like text: the KB1: prefix, then Base45 alphabet characters."""
    rng = random.Random(seed)
    return "KB1:" + "".join(rng.choice(BASE45_ALPHABET) for _ in range(length - 4))


def card_face(**changes) -> CardFace:
    fields = {
        "name": LONG_NAME,
        "card_number": make_card_number(12),
        "kelurahan": "Kenali Asam Bawah",
        "kecamatan": "Kota Baru",
        "issued": date(2025, 7, 1),
        "expires": date(2030, 6, 30),
        "photo": placeholder_photo(LONG_NAME, seed=1),
        "qr_text": qr_text(),
    }
    fields.update(changes)
    return CardFace(**fields)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("faces")
    return render_card_face(card_face(), out_dir)


def test_file_names_use_card_number(rendered):
    front, back = rendered
    assert front.name == "1571000000000122-front.png"
    assert back.name == "1571000000000122-back.png"
    assert front.exists()
    assert back.exists()


def test_png_is_id1_size_at_300_dpi(rendered):
    assert CARD_SIZE_PX == (1011, 638)
    for path in rendered:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == (1011, 638)
            assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_back_qr_decodes_to_exact_text(rendered):
    text = qr_text()
    assert len(text) == 290

    with Image.open(rendered[1]) as image:
        barcodes = zxingcpp.read_barcodes(image)

    assert len(barcodes) == 1
    assert barcodes[0].format == zxingcpp.BarcodeFormat.QRCode
    assert barcodes[0].text == text
    assert barcodes[0].ec_level == "M"


def test_back_qr_module_size_and_quiet_zone(rendered):
    with Image.open(rendered[1]) as image:
        barcode = zxingcpp.read_barcodes(image)[0]
        gray = image.convert("L")
    modules = 17 + 4 * int(barcode.extra["Version"])
    left, top = barcode.position.top_left.x, barcode.position.top_left.y
    right = barcode.position.top_right.x
    module_px = (right - left) / modules
    assert module_px >= MIN_QR_MODULE_PX

    quiet = round(4 * module_px)
    size = right - left
    ring = [
        (x, y)
        for x in range(left - quiet, left + size + quiet)
        for y in range(top - quiet, top + size + quiet)
        if not (left <= x < left + size and top <= y < top + size)
    ]
    assert min(gray.getpixel(point) for point in ring) == 255


def test_front_and_back_without_photo_and_qr(tmp_path):
    front, back = render_card_face(card_face(photo=None, qr_text=None, name="SITI AISYAH"), tmp_path)

    with Image.open(back) as image:
        assert zxingcpp.read_barcodes(image) == []
    with Image.open(front) as image:
        photo_centre = (face_module.PHOTO_BOX[0] + 20, face_module.PHOTO_BOX[1] + 20)
        assert image.getpixel(photo_centre) == face_module.PHOTO_BOX_COLOUR


def test_long_name_stays_inside_text_column(tmp_path):
    front, _ = render_card_face(card_face(), tmp_path)

    with Image.open(front) as image:
        right_of_column = (face_module.TEXT_RIGHT + 1, face_module.PHOTO_BOX[1], CARD_SIZE_PX[0], face_module.PHOTO_BOX[3])
        strip = image.crop(right_of_column)
        assert strip.getextrema() == ((255, 255), (255, 255), (255, 255))


def test_fit_text_wraps_sixty_character_name():
    width = face_module.TEXT_RIGHT - face_module.TEXT_LEFT

    font, lines = face_module._fit_text(LONG_NAME, width, face_module.NAME_LAYOUTS, bold=True)

    assert len(LONG_NAME) == 60
    assert 1 <= len(lines) <= 2
    assert " ".join(lines) == LONG_NAME
    assert all(font.getlength(line) <= width for line in lines)


def test_fit_text_breaks_word_wider_than_column():
    word = "A" * 60
    width = face_module.TEXT_RIGHT - face_module.TEXT_LEFT

    font, lines = face_module._fit_text(word, width, face_module.NAME_LAYOUTS, bold=True)

    assert "".join(lines) == word
    assert all(font.getlength(line) <= width for line in lines)


def test_invalid_card_number_rejected(tmp_path):
    with pytest.raises(ValueError, match="card number"):
        render_card_face(card_face(card_number="1571000000000123"), tmp_path)
    with pytest.raises(ValueError, match="card number"):
        render_card_face(card_face(card_number="../../etc/passwd"), tmp_path)


def test_photo_that_is_not_jpeg_rejected(tmp_path):
    with pytest.raises(ValueError, match="JPEG"):
        render_card_face(card_face(photo=b"not an image"), tmp_path)


def test_qr_text_too_long_to_print_rejected(tmp_path):
    with pytest.raises(ValueError, match="QR text"):
        render_card_face(card_face(qr_text=qr_text(2000)), tmp_path)


def test_qr_text_beyond_qr_capacity_rejected(tmp_path):
    with pytest.raises(ValueError, match="QR text"):
        render_card_face(card_face(qr_text=qr_text(5000)), tmp_path)
