"""Illustrated (drawn, not photographed) head-and-shoulders portraits for tests, demos and docs.

The drawings are simple enough to be obviously synthetic, yet the OpenCV frontal-face
cascade finds the face in them, so they can stand in for a camera photo when the photo
pipeline is exercised. No real person's photo is used anywhere in the project.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["draw_portrait", "portrait_jpeg"]

SKIN_TONES = ((224, 172, 140), (198, 140, 100), (170, 115, 80), (236, 192, 160))
HAIR_COLOURS = ((40, 30, 25), (25, 20, 20), (70, 50, 35))
BACKGROUNDS = ((200, 215, 230), (215, 225, 210), (230, 220, 205), (205, 205, 225))
SHIRT_COLOURS = ((60, 80, 120), (120, 60, 60), (60, 110, 80), (90, 90, 90))
EYE_WHITE = (250, 250, 250)
IRIS = (50, 35, 25)
MOUTH = (150, 60, 60)


def draw_portrait(seed: int, size: tuple[int, int] = (480, 640)) -> Image.Image:
    """Draw a frontal face on a plain background; colours follow seed, proportions follow size."""
    rng = random.Random(seed)
    width, height = size
    skin = rng.choice(SKIN_TONES)
    image = Image.new("RGB", size, rng.choice(BACKGROUNDS))
    draw = ImageDraw.Draw(image)

    centre_x, centre_y = width // 2, round(height * 0.42)
    half_width, half_height = round(width * 0.30), round(height * 0.27)
    draw.ellipse(
        (centre_x - half_width - width * 0.02, centre_y - half_height - height * 0.05,
         centre_x + half_width + width * 0.02, centre_y + half_height * 0.2),
        fill=rng.choice(HAIR_COLOURS),
    )
    neck_half = round(width * 0.15)
    draw.rectangle((centre_x - neck_half, centre_y + half_height * 0.9, centre_x + neck_half, centre_y + half_height * 1.3),
                   fill=skin)
    draw.ellipse((centre_x - width * 0.45, centre_y + half_height * 1.2, centre_x + width * 0.45, height * 1.5),
                 fill=rng.choice(SHIRT_COLOURS))
    draw.ellipse((centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height), fill=skin)
    _draw_features(draw, centre_x, centre_y, half_width, half_height, skin)
    # A slight blur softens the hard drawn edges, which the cascade treats like camera focus.
    return image.filter(ImageFilter.GaussianBlur(max(1, width // 160)))


def _draw_features(draw: ImageDraw.ImageDraw, cx: int, cy: int, half_width: int, half_height: int,
                   skin: tuple[int, int, int]) -> None:
    unit = half_width / 144
    eye_dx, eye_y = half_width * 0.42, cy - half_height * 0.12
    for side in (-1, 1):
        x = cx + side * eye_dx
        draw.ellipse((x - 28 * unit, eye_y - 13 * unit, x + 28 * unit, eye_y + 13 * unit), fill=EYE_WHITE)
        draw.ellipse((x - 12 * unit, eye_y - 12 * unit, x + 12 * unit, eye_y + 12 * unit), fill=IRIS)
        draw.line((x - 34 * unit, eye_y - 34 * unit, x + 34 * unit, eye_y - 38 * unit), fill=IRIS,
                  width=max(2, round(10 * unit)))
    nose_shade = tuple(max(0, channel - 25) for channel in skin)
    nose_bottom = cy + half_height * 0.35
    draw.polygon([(cx, eye_y + 10 * unit), (cx - 18 * unit, nose_bottom), (cx + 18 * unit, nose_bottom)], fill=nose_shade)
    draw.arc((cx - 55 * unit, nose_bottom, cx + 55 * unit, cy + half_height * 0.65), 20, 160, fill=MOUTH,
             width=max(2, round(9 * unit)))


def portrait_jpeg(seed: int, size: tuple[int, int] = (480, 640), quality: int = 90) -> bytes:
    """Return draw_portrait(seed, size) as JPEG bytes, as a camera would deliver it."""
    buffer = io.BytesIO()
    draw_portrait(seed, size).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
