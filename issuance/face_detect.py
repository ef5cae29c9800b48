"""Frontal face detection in a portrait photo, with the Haar cascade that ships inside opencv-python-headless.

The cascade file comes with the wheel (cv2.data.haarcascades in OpenCV 4.x; OpenCV 5
no longer bundles it, hence the "<5" pin in pyproject.toml), so detection needs no
network download at run time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

__all__ = ["FaceBox", "detect_faces"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Large camera frames are scaled down to this longest side before detection, because
# the cascade's run time grows with the pixel count and a portrait face stays large.
DETECTION_MAX_SIDE_PX = 800
SCALE_FACTOR = 1.1
MIN_NEIGHBOURS = 5
# The smallest face searched for, as a fraction of the shorter image side; smaller
# detections in a portrait are background clutter, not the resident.
MIN_FACE_FRACTION = 0.08


@dataclass(frozen=True)
class FaceBox:
    """Face rectangle in pixels of the original image."""

    left: int
    top: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.width / 2, self.top + self.height / 2)

    @property
    def area(self) -> int:
        return self.width * self.height


@functools.lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / CASCADE_FILE
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise RuntimeError(f"OpenCV face cascade {path} is missing or unreadable; reinstall opencv-python-headless<5")
    return classifier


def detect_faces(image: Image.Image) -> list[FaceBox]:
    """Return the frontal faces in image, largest first, in the image's own pixel coordinates."""
    gray = image.convert("L")
    scale = min(1.0, DETECTION_MAX_SIDE_PX / max(gray.size))
    if scale < 1.0:
        small_size = (round(gray.width * scale), round(gray.height * scale))
        gray = gray.resize(small_size, Image.Resampling.BILINEAR)
    pixels = np.asarray(gray, dtype=np.uint8)
    min_side = max(24, round(min(gray.size) * MIN_FACE_FRACTION))
    found = _cascade().detectMultiScale(
        pixels, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS, minSize=(min_side, min_side)
    )
    if len(found) == 0:
        # Histogram equalisation rescues a flat, low-contrast face, but on a frame that
        # is mostly plain background it washes the face out, so it is only the second try.
        found = _cascade().detectMultiScale(
            cv2.equalizeHist(pixels), scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS, minSize=(min_side, min_side)
        )
    boxes = [
        FaceBox(round(x / scale), round(y / scale), round(w / scale), round(h / scale))
        for (x, y, w, h) in found
    ]
    return sorted(boxes, key=lambda box: box.area, reverse=True)
