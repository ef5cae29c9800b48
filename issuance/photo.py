"""Synthetic placeholder portraits for demos and tests, in place of a resident's photo."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

from issuance.face import load_font

__all__ = ["PHOTO_SIZE_PX", "MAX_PHOTO_BYTES", "placeholder_photo"]

# 3:4 portrait, the shape of the photo box on the card front.
PHOTO_SIZE_PX = (240, 320)
# Maximum JPEG size, because the facial image is stored on the chip, where space is scarce.
MAX_PHOTO_BYTES = 12 * 1024
JPEG_QUALITIES = (85, 75, 65, 55, 45, 35, 25, 15)

BACKGROUNDS = (
    (173, 216, 230),
    (186, 225, 200),
    (250, 218, 160),
    (230, 190, 220),
    (200, 200, 240),
    (240, 200, 180),
)
SILHOUETTE = (90, 98, 110)
INITIALS_COLOUR = (255, 255, 255)


def placeholder_photo(name: str, seed: int) -> bytes:
    """Draw a head-and-shoulders silhouette with the name's initials and return it as a JPEG.

    The background colour follows the seed. JPEG quality is lowered step by step until
    the file is at most MAX_PHOTO_BYTES, and RuntimeError is raised if even the lowest
    quality is too large.
    """
    image = _draw_portrait(_initials(name), random.Random(seed))
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
        data = buffer.getvalue()
        if len(data) <= MAX_PHOTO_BYTES:
            return data
    raise RuntimeError(
        f"placeholder photo is {len(data)} bytes at JPEG quality {JPEG_QUALITIES[-1]}, over {MAX_PHOTO_BYTES}"
    )


def _initials(name: str) -> str:
    """Return the first letters of the first two words of the name, e.g. "SA" for "SITI AISYAH"."""
    letters = [word[0] for word in name.split() if word[0].isalpha()]
    return "".join(letters[:2]).upper() or "?"


def _draw_portrait(initials: str, rng: random.Random) -> Image.Image:
    width, height = PHOTO_SIZE_PX
    image = Image.new("RGB", PHOTO_SIZE_PX, rng.choice(BACKGROUNDS))
    draw = ImageDraw.Draw(image)
    centre_x = width // 2
    head_radius = 58 + rng.randint(-4, 4)
    head_centre_y = 130
    head_half_height = head_radius * 1.15
    head_box = (centre_x - head_radius, head_centre_y - head_half_height, centre_x + head_radius, head_centre_y + head_half_height)
    draw.ellipse(head_box, fill=SILHOUETTE)
    neck_top = head_centre_y + head_radius
    draw.rectangle((centre_x - 24, neck_top - 10, centre_x + 24, neck_top + 30), fill=SILHOUETTE)
    shoulder_top = neck_top + 20
    # The lower half of this ellipse falls outside the image, so only the shoulders show.
    shoulders_box = (centre_x - 115, shoulder_top, centre_x + 115, shoulder_top + 2 * (height - shoulder_top))
    draw.ellipse(shoulders_box, fill=SILHOUETTE)
    draw.text((centre_x, head_centre_y), initials, font=load_font(52, bold=True), fill=INITIALS_COLOUR, anchor="mm")
    return image
