"""Card-face rendering: front and back of an ID-1 card as 300 dpi PNG files for the card printer.

The front carries the title, the photo, the holder's name, the card number, the
kelurahan and kecamatan and the expiry date. The back carries the QR credential and a
short instruction in Bahasa Indonesia.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import qrcode
import qrcode.exceptions
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from card.cardnumber import format_card_number, is_valid_card_number
from issuance.private_files import ensure_private_directory, write_private_file

__all__ = [
    "CardFace", "CARD_SIZE_PX", "DPI", "MIN_QR_MODULE_PX", "load_font", "make_qr_code", "qr_version",
    "render_card_face", "render_card_images",
]

DPI = 300
MM_PER_INCH = 25.4
# ID-1 (ISO/IEC 7810) is 85.60 x 53.98 mm, which is 1011 x 638 pixels at 300 dpi.
CARD_SIZE_PX = (round(85.60 / MM_PER_INCH * DPI), round(53.98 / MM_PER_INCH * DPI))
# 4 pixels at 300 dpi are 0.34 mm, above the 0.33 mm minimum module size that this
# project sets for a QR code that prints and scans reliably.
MIN_QR_MODULE_PX = 4
MAX_QR_MODULE_PX = 8
QR_QUIET_ZONE_MODULES = 4

BACK_INSTRUCTION = (
    "Tunjukkan kartu ini di agen LPG, Puskesmas atau sekolah. "
    "Jika kartu hilang, laporkan ke Dinas Sosial Kota Jambi."
)

HEADER_COLOUR = (0, 109, 91)
ACCENT_COLOUR = (242, 169, 0)
TEXT_COLOUR = (26, 26, 26)
LABEL_COLOUR = (95, 99, 104)
PHOTO_BOX_COLOUR = (225, 228, 232)
WHITE = (255, 255, 255)

MARGIN = 40
PHOTO_BOX = (MARGIN, 160, MARGIN + 240, 160 + 320)
TEXT_LEFT = PHOTO_BOX[2] + 40
TEXT_RIGHT = CARD_SIZE_PX[0] - MARGIN

# (font size in pixels, line count) to try in turn until the holder's name fits.
NAME_LAYOUTS = ((44, 1), (40, 1), (36, 1), (40, 2), (36, 2), (32, 2), (28, 2), (24, 2))


@dataclass(frozen=True)
class CardFace:
    """Content printed on one card."""

    name: str
    card_number: str  # 16 digits, printed in groups of four
    kelurahan: str
    kecamatan: str
    issued: date
    expires: date
    photo: bytes | None = None  # JPEG; None prints an empty photo box
    qr_text: str | None = None  # QR credential text; None leaves the QR code out


@functools.lru_cache(maxsize=64)
def load_font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Return DejaVu Sans at size pixels if installed, else the font bundled with Pillow (10.1 or later)."""
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def render_card_face(face: CardFace, out_dir: Path) -> tuple[Path, Path]:
    """Write <card_number>-front.png and <card_number>-back.png into out_dir and return their paths.

    The files are written atomically with mode 0600 into a 0700 directory (see issuance.private_files),
    because they show the resident's name and photo.

    Raises ValueError for an invalid card number, a photo that is not a JPEG, or QR text
    too long to print with modules of at least MIN_QR_MODULE_PX pixels.
    """
    front, back = render_card_images(face)
    out_dir = ensure_private_directory(Path(out_dir))
    front_path = write_private_file(out_dir / f"{face.card_number}-front.png", png_bytes(front))
    back_path = write_private_file(out_dir / f"{face.card_number}-back.png", png_bytes(back))
    return front_path, back_path


def png_bytes(image: Image.Image) -> bytes:
    """Encode a card side as PNG tagged with the print resolution (DPI)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(DPI, DPI))
    return buffer.getvalue()


def render_card_images(face: CardFace) -> tuple[Image.Image, Image.Image]:
    """Draw the front and back at CARD_SIZE_PX, raising ValueError as render_card_face does."""
    if not is_valid_card_number(face.card_number):
        raise ValueError(
            f"invalid card number {face.card_number!r}: expected 16 digits starting 1571 with a Luhn check digit"
        )
    return _render_front(face), _render_back(face)


def _render_front(face: CardFace) -> Image.Image:
    image = Image.new("RGB", CARD_SIZE_PX, WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, CARD_SIZE_PX[0], 124), fill=HEADER_COLOUR)
    draw.rectangle((0, 124, CARD_SIZE_PX[0], 132), fill=ACCENT_COLOUR)
    draw.text((MARGIN, 14), "KARTU BAHAGIA", font=load_font(56, bold=True), fill=WHITE)
    draw.text((MARGIN, 80), "Pemerintah Kota Jambi", font=load_font(30), fill=WHITE)
    _draw_photo(image, draw, face.photo)

    width = TEXT_RIGHT - TEXT_LEFT
    y = PHOTO_BOX[1]
    y = _draw_label(draw, y, "Nama")
    font, lines = _fit_text(face.name, width, NAME_LAYOUTS, bold=True)
    for line in lines:
        draw.text((TEXT_LEFT, y), line, font=font, fill=TEXT_COLOUR)
        y += round(font.size * 1.2)
    y = max(y, PHOTO_BOX[1] + 140) + 12
    y = _draw_label(draw, y, "Nomor Kartu")
    draw.text((TEXT_LEFT, y), format_card_number(face.card_number), font=load_font(40, bold=True), fill=TEXT_COLOUR)
    y += 66
    y = _draw_label(draw, y, "Kelurahan / Kecamatan")
    region_text = f"{face.kelurahan}, {face.kecamatan}"
    font, lines = _fit_text(region_text, width, ((30, 1), (26, 1), (22, 1), (22, 2)), bold=False)
    for line in lines:
        draw.text((TEXT_LEFT, y), line, font=font, fill=TEXT_COLOUR)
        y += round(font.size * 1.2)

    bottom = CARD_SIZE_PX[1] - MARGIN
    validity = f"Berlaku s.d. {_format_date(face.expires)}"
    draw.text((MARGIN, bottom - 36), validity, font=load_font(32, bold=True), fill=TEXT_COLOUR)
    draw.text(
        (TEXT_RIGHT, bottom - 30),
        f"Diterbitkan {_format_date(face.issued)}",
        font=load_font(24),
        fill=LABEL_COLOUR,
        anchor="ra",
    )
    return image


def _render_back(face: CardFace) -> Image.Image:
    image = Image.new("RGB", CARD_SIZE_PX, WHITE)
    draw = ImageDraw.Draw(image)
    band_bottom = 64
    draw.rectangle((0, 0, CARD_SIZE_PX[0], band_bottom), fill=HEADER_COLOUR)
    draw.text((MARGIN, 14), "KARTU BAHAGIA  ·  Pemerintah Kota Jambi", font=load_font(30, bold=True), fill=WHITE)

    text_left = MARGIN
    if face.qr_text is not None:
        available = CARD_SIZE_PX[1] - band_bottom - 2 * 20
        qr_image = _qr_image(face.qr_text, available)
        top = band_bottom + (CARD_SIZE_PX[1] - band_bottom - qr_image.height) // 2
        image.paste(qr_image, (MARGIN - 10, top))
        text_left = MARGIN - 10 + qr_image.width + 20

    width = TEXT_RIGHT - text_left
    font, lines = _fit_text(BACK_INSTRUCTION, width, ((30, 6), (26, 8), (22, 10), (18, 12)), bold=False)
    y = band_bottom + 40
    for line in lines:
        draw.text((text_left, y), line, font=font, fill=TEXT_COLOUR)
        y += round(font.size * 1.3)
    y += 24
    draw.text((text_left, y), "Nomor Kartu", font=load_font(22), fill=LABEL_COLOUR)
    card_number = format_card_number(face.card_number)
    draw.text((text_left, y + 28), card_number, font=load_font(26, bold=True), fill=TEXT_COLOUR)
    return image


def make_qr_code(text: str) -> qrcode.QRCode:
    """Build the QR code that the card back prints: error correction M, the smallest version that fits text.

    The quiet zone is QR_QUIET_ZONE_MODULES modules. Raises ValueError if no QR version fits text.
    """
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QR_QUIET_ZONE_MODULES, box_size=1)
    code.add_data(text)
    try:
        code.make(fit=True)
    except (qrcode.exceptions.DataOverflowError, ValueError):
        # qrcode 8.2 raises ValueError("Invalid version ...") when no version 1-40 fits.
        raise ValueError(
            f"QR text of {len(text)} characters does not fit in any QR version at error correction M"
        ) from None
    return code


def qr_version(text: str) -> int:
    """Return the QR version (1-40) that make_qr_code picks for text, without drawing the symbol."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QR_QUIET_ZONE_MODULES, box_size=1)
    code.add_data(text)
    try:
        return code.best_fit()
    except (qrcode.exceptions.DataOverflowError, ValueError):
        raise ValueError(
            f"QR text of {len(text)} characters does not fit in any QR version at error correction M"
        ) from None


def _qr_image(text: str, max_side: int) -> Image.Image:
    """Draw text as a QR code (error correction M, 4-module quiet zone) with whole-pixel modules."""
    matrix = make_qr_code(text).get_matrix()
    modules = len(matrix)
    module_px = min(MAX_QR_MODULE_PX, max_side // modules)
    if module_px < MIN_QR_MODULE_PX:
        raise ValueError(
            f"QR text of {len(text)} characters needs {modules} modules, which at {MIN_QR_MODULE_PX} px "
            f"per module exceeds the {max_side} px available on the card back"
        )
    small = Image.new("1", (modules, modules), 1)
    small.putdata([0 if dark else 1 for row in matrix for dark in row])
    return small.resize((modules * module_px, modules * module_px), Image.Resampling.NEAREST).convert("RGB")


def _draw_photo(image: Image.Image, draw: ImageDraw.ImageDraw, photo: bytes | None) -> None:
    box_size = (PHOTO_BOX[2] - PHOTO_BOX[0], PHOTO_BOX[3] - PHOTO_BOX[1])
    if photo is None:
        draw.rectangle(PHOTO_BOX, fill=PHOTO_BOX_COLOUR, outline=LABEL_COLOUR, width=2)
        centre = ((PHOTO_BOX[0] + PHOTO_BOX[2]) // 2, (PHOTO_BOX[1] + PHOTO_BOX[3]) // 2)
        draw.text(centre, "FOTO", font=load_font(32, bold=True), fill=LABEL_COLOUR, anchor="mm")
        return
    try:
        portrait = Image.open(io.BytesIO(photo))
        if portrait.format != "JPEG":
            raise ValueError(f"photo must be a JPEG image, got {portrait.format}")
        portrait = ImageOps.exif_transpose(portrait).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"photo is not a readable JPEG image: {exc}") from exc
    image.paste(ImageOps.fit(portrait, box_size, method=Image.Resampling.LANCZOS), PHOTO_BOX[:2])


def _draw_label(draw: ImageDraw.ImageDraw, y: int, label: str) -> int:
    draw.text((TEXT_LEFT, y), label, font=load_font(22), fill=LABEL_COLOUR)
    return y + 28


def _fit_text(
    text: str, max_width: int, layouts: tuple[tuple[int, int], ...], *, bold: bool
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Return the first (font, lines) from layouts whose word-wrapped lines all fit max_width.

    If no layout fits at word boundaries, the last layout is retried with breaks inside
    words. Raises ValueError if even that needs more lines than the layout allows.
    """
    for size, max_lines in layouts:
        font = load_font(size, bold=bold)
        lines = _wrap_words(text, font, max_width)
        if lines is not None and len(lines) <= max_lines:
            return font, lines
    size, max_lines = layouts[-1]
    font = load_font(size, bold=bold)
    lines = _wrap_characters(text, font, max_width)
    if len(lines) > max_lines:
        raise ValueError(f"text does not fit in {max_lines} lines of {max_width} px: {text!r}")
    return font, lines


def _wrap_words(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str] | None:
    """Wrap at spaces, or return None if one word alone is wider than max_width."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if font.getlength(word) > max_width:
            return None
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    return lines


def _wrap_characters(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for char in " ".join(text.split()):
        if current and font.getlength(current + char) > max_width:
            lines.append(current.rstrip())
            current = char.lstrip()
        else:
            current += char
    if current:
        lines.append(current)
    return lines


def _format_date(day: date) -> str:
    return day.strftime("%d-%m-%Y")
