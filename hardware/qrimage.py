"""QR code decoding from an image file (a photo or a scan of the card's back), with zxing-cpp."""

from __future__ import annotations

from pathlib import Path

import zxingcpp
from PIL import Image, UnidentifiedImageError

__all__ = ["QRImageError", "decode_qr_image"]


class QRImageError(Exception):
    """The image could not be read or holds no QR code."""


def decode_qr_image(path: str | Path) -> str:
    """Return the text of the single QR code in the image at path."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    except FileNotFoundError:
        raise QRImageError(f"image file {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise QRImageError(f"image file {path} is not a readable image ({exc})") from None
    texts = [result.text for result in results if result.valid]
    if not texts:
        raise QRImageError(f"no QR code found in {path}; scan the back of the card again, flat and in focus")
    if len(set(texts)) > 1:
        raise QRImageError(f"{len(texts)} different QR codes found in {path}; show only the back of one card")
    return texts[0]
