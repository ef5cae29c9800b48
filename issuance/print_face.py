"""Print output of a card face: front and back PNGs, a two-page ID-1 PDF, and a preview for the clerk's screen."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from issuance.face import CARD_SIZE_PX, DPI, CardFace, png_bytes, render_card_images
from issuance.private_files import ensure_private_directory, write_private_file

__all__ = [
    "FaceFiles", "PREVIEW_GAP_PX", "card_pdf_bytes", "preview_png", "preview_png_from_files", "write_face_files",
    "write_pdf_from_files",
]

# Gap between the front and the back in the side-by-side preview.
PREVIEW_GAP_PX = 40
PREVIEW_BACKGROUND = (238, 240, 242)
PDF_JPEG_QUALITY = 95


@dataclass(frozen=True)
class FaceFiles:
    """Files written for one card: PNGs for a card printer's own software, the PDF for CUPS."""

    front_png: Path
    back_png: Path
    pdf: Path


def card_pdf_bytes(front: Image.Image, back: Image.Image) -> bytes:
    """Return a two-page PDF, front then back, each page exactly ID-1 (85.60 x 53.98 mm).

    Pillow writes each page as one embedded image whose page size is its pixel size
    divided by the resolution, so 1011 x 638 px at 300 dpi gives 242.6 x 153.1 pt.
    Pillow (13.0) embeds RGB pages as JPEG. Quality 95 without chroma subsampling
    keeps text edges and QR modules sharp, but colours may shift by a few levels.
    """
    buffer = io.BytesIO()
    front.save(buffer, format="PDF", resolution=DPI, save_all=True, append_images=[back], title="Kartu Bahagia",
               quality=PDF_JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def write_face_files(face: CardFace, out_dir: Path) -> FaceFiles:
    """Render face and write <card_number>-front.png, -back.png and .pdf into out_dir, each 0600 and atomically.

    Raises ValueError as render_card_images does, before any file is written.
    """
    front, back = render_card_images(face)
    ensure_private_directory(out_dir)
    files = FaceFiles(
        out_dir / f"{face.card_number}-front.png",
        out_dir / f"{face.card_number}-back.png",
        out_dir / f"{face.card_number}.pdf",
    )
    write_private_file(files.front_png, png_bytes(front))
    write_private_file(files.back_png, png_bytes(back))
    write_private_file(files.pdf, card_pdf_bytes(front, back))
    return files


def preview_png(face: CardFace, scale: float = 0.5) -> bytes:
    """Return front and back side by side as one PNG, scaled by scale, for the print preview."""
    return _preview_sheet(*render_card_images(face), scale)


def preview_png_from_files(front_png: Path, back_png: Path, scale: float = 0.5) -> bytes:
    """Return the preview_png sheet for a face already written as front and back PNG files."""
    with Image.open(front_png) as front, Image.open(back_png) as back:
        return _preview_sheet(front.convert("RGB"), back.convert("RGB"), scale)


def write_pdf_from_files(front_png: Path, back_png: Path, pdf: Path) -> Path:
    """Write the two-page ID-1 PDF for a face already written as front and back PNG files."""
    with Image.open(front_png) as front, Image.open(back_png) as back:
        write_private_file(pdf, card_pdf_bytes(front.convert("RGB"), back.convert("RGB")))
    return pdf


def _preview_sheet(front: Image.Image, back: Image.Image, scale: float) -> bytes:
    width, height = CARD_SIZE_PX
    sheet = Image.new("RGB", (2 * width + PREVIEW_GAP_PX, height), PREVIEW_BACKGROUND)
    sheet.paste(front, (0, 0))
    sheet.paste(back, (width + PREVIEW_GAP_PX, 0))
    if scale != 1.0:
        sheet = sheet.resize((round(sheet.width * scale), round(sheet.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
