"""Synthetic placeholder portraits."""

import io

from PIL import Image

from issuance.photo import MAX_PHOTO_BYTES, PHOTO_SIZE_PX, placeholder_photo

LONG_NAME = "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK"


def test_photo_is_valid_jpeg_of_portrait_size():
    data = placeholder_photo("SITI AISYAH", seed=1)

    image = Image.open(io.BytesIO(data))
    image.load()

    assert image.format == "JPEG"
    assert image.size == PHOTO_SIZE_PX
    assert PHOTO_SIZE_PX == (240, 320)


def test_photo_at_most_12_kb():
    assert MAX_PHOTO_BYTES == 12 * 1024
    for seed in range(10):
        assert len(placeholder_photo(LONG_NAME, seed=seed)) <= MAX_PHOTO_BYTES


def test_photo_deterministic_for_name_and_seed():
    assert placeholder_photo("BUDI SANTOSO", seed=4) == placeholder_photo("BUDI SANTOSO", seed=4)


def test_photo_differs_by_name():
    assert placeholder_photo("BUDI SANTOSO", seed=4) != placeholder_photo("SITI AISYAH", seed=4)


def test_photo_background_follows_seed():
    corners = set()
    for seed in range(20):
        image = Image.open(io.BytesIO(placeholder_photo("BUDI SANTOSO", seed=seed))).convert("RGB")
        corners.add(tuple(channel // 16 for channel in image.getpixel((5, 5))))
    assert len(corners) >= 3


def test_photo_for_empty_name():
    image = Image.open(io.BytesIO(placeholder_photo("", seed=1)))
    assert image.format == "JPEG"
