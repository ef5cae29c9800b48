"""The resident's facial image for the chip and the card front: capture, checks, portrait crop, compression.

prepare_photo turns a camera JPEG into the stored portrait, or raises PhotoRejected
with the reason in the clerk's language. placeholder_photo draws a stand-in portrait
for demos and for cards issued without a photo.
"""

from __future__ import annotations

import io
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps, ImageStat, UnidentifiedImageError

from card.i18n import N_, translate
from issuance.face import load_font
from issuance.face_detect import FaceBox, detect_faces

__all__ = [
    "PHOTO_SIZE_PX", "MAX_PHOTO_BYTES", "MAX_UPLOAD_BYTES", "MIN_BRIGHTNESS", "MIN_FACE_WIDTH_PX",
    "PhotoRejected", "PreparedPhoto", "capture_camera_photo", "placeholder_photo", "prepare_photo", "read_photo_file",
]

log = logging.getLogger(__name__)

# 3:4 portrait, the shape of the photo box on the card front.
PHOTO_SIZE_PX = (240, 320)
# Maximum JPEG size, because the facial image is stored on the chip, where space is scarce.
MAX_PHOTO_BYTES = 12 * 1024
JPEG_QUALITIES = (85, 75, 65, 55, 45, 35, 25, 15)
# Camera JPEGs are a few MB, so anything larger is not a portrait photo.
MAX_UPLOAD_BYTES = 15 * 1024 * 1024
ACCEPTED_FORMATS = ("JPEG", "PNG")
# Mean luminance (0-255) below which the photo, or the face within it, is too dark to
# recognise the resident on a printed card.
MIN_BRIGHTNESS = 60
# A face narrower than this would be enlarged by more than about 1.3 times to fill
# the portrait, which blurs it.
MIN_FACE_WIDTH_PX = 100
# A second face at least this fraction of the largest face's area is another person.
SECOND_FACE_AREA_FRACTION = 0.25
# Portrait framing: the face box fills this fraction of the portrait width, and its
# centre sits at this fraction of the portrait height from the top.
FACE_WIDTH_FRACTION = 0.55
FACE_CENTRE_HEIGHT_FRACTION = 0.45

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
    compressed = _compress_to_budget(image)
    if compressed is None:
        raise RuntimeError(f"placeholder photo is over {MAX_PHOTO_BYTES} bytes at JPEG quality {JPEG_QUALITIES[-1]}")
    return compressed[0]


def _compress_to_budget(image: Image.Image) -> tuple[bytes, int] | None:
    """Return (JPEG bytes, quality) at the highest quality in JPEG_QUALITIES that fits MAX_PHOTO_BYTES, or None.

    Pillow writes no EXIF block unless one is passed, so camera metadata such as GPS
    position never reaches the chip.
    """
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() <= MAX_PHOTO_BYTES:
            return buffer.getvalue(), quality
    return None


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


class PhotoRejected(ValueError):
    """A photo that cannot become the resident's portrait, with the reason for the clerk.

    reason is a stable code (unreadable, too_large_file, too_small, too_dark, no_face,
    several_faces, face_too_small, over_budget, camera_unavailable); str() is the
    English message and message(language) the translated one.
    """

    def __init__(self, reason: str, template: str, **params: object) -> None:
        super().__init__(translate(template, "en", **params))
        self.reason = reason
        self.template = template
        self.params = params

    def message(self, language: str) -> str:
        return translate(self.template, language, **self.params)


@dataclass(frozen=True)
class PreparedPhoto:
    """Portrait ready for the chip and the card face."""

    jpeg: bytes  # PHOTO_SIZE_PX, at most MAX_PHOTO_BYTES
    quality: int  # JPEG quality that met the budget
    face: FaceBox  # face found in the source image, in source pixels
    source_size: tuple[int, int]


def read_photo_file(path: Path) -> bytes:
    """Read a photo file, rejecting one that is missing or larger than MAX_UPLOAD_BYTES."""
    try:
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise _too_large(size)
        return path.read_bytes()
    except OSError as exc:
        raise PhotoRejected(
            "unreadable", N_("Cannot read the photo file {path}: {error}. Check the path and choose the file again."),
            path=str(path), error=exc.strerror or type(exc).__name__,
        ) from None


def capture_camera_photo(device: int | str = 0) -> bytes:
    """Grab one frame from a V4L2 camera (index or /dev/videoN path) through OpenCV and return it as a JPEG."""
    import cv2  # OpenCV is only needed here and in face detection

    capture = cv2.VideoCapture(device)
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
    finally:
        capture.release()
    if not ok or frame is None:
        raise PhotoRejected(
            "camera_unavailable", N_("No picture could be taken from the camera {device}. "
                                     "Check that the camera is connected, or choose a photo file instead."),
            device=str(device),
        )
    encoded_ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not encoded_ok:
        raise RuntimeError(f"OpenCV could not encode the camera frame from {device} as JPEG")
    return encoded.tobytes()


def prepare_photo(data: bytes) -> PreparedPhoto:
    """Check a JPEG or PNG photo, crop it to a portrait around the one face in it, and compress it.

    Raises PhotoRejected, checked in this order: unreadable or wrong format, file too
    large, image too small, too dark, no face, several faces, face too small, face too
    dark, portrait not compressible to MAX_PHOTO_BYTES.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large(len(data))
    image = _decode(data)
    _check_size(image)
    _check_brightness(image)
    face = _single_face(image)
    if face.width < MIN_FACE_WIDTH_PX:
        raise PhotoRejected(
            "face_too_small", N_("The face is only {width} pixels wide in the photo; at least {minimum} are needed. "
                                 "Move the camera closer to the resident and take the photo again."),
            width=face.width, minimum=MIN_FACE_WIDTH_PX,
        )
    _check_brightness(image.crop((face.left, face.top, face.left + face.width, face.top + face.height)))
    portrait = image.crop(_portrait_box(face, image.size)).resize(PHOTO_SIZE_PX, Image.Resampling.LANCZOS)
    compressed = _compress_to_budget(portrait)
    if compressed is None:
        raise PhotoRejected(
            "over_budget", N_("The portrait does not fit in {maximum} bytes even at the lowest JPEG quality. "
                              "Take the photo again against a plain background."),
            maximum=MAX_PHOTO_BYTES,
        )
    log.debug("photo prepared: %dx%d source, face %s, quality %d, %d bytes",
              image.width, image.height, face, compressed[1], len(compressed[0]))
    return PreparedPhoto(compressed[0], compressed[1], face, image.size)


def _too_large(size: int) -> PhotoRejected:
    return PhotoRejected(
        "too_large_file", N_("The photo file is {size} bytes, more than the {maximum} bytes accepted. "
                             "Choose the JPEG straight from the camera."),
        size=size, maximum=MAX_UPLOAD_BYTES,
    )


def _decode(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image_format = image.format
        image.load()
        # Camera JPEGs often store portrait shots as landscape pixels plus an EXIF rotation.
        image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        image_format = None
    if image_format not in ACCEPTED_FORMATS:
        raise PhotoRejected(
            "unreadable", N_("The file is not a JPEG or PNG photo. Choose the photo file from the camera."),
        )
    return image.convert("RGB")


def _check_size(image: Image.Image) -> None:
    min_width, min_height = PHOTO_SIZE_PX
    if image.width < min_width or image.height < min_height:
        raise PhotoRejected(
            "too_small", N_("The photo is {width}x{height} pixels; at least {min_width}x{min_height} are needed. "
                            "Take the photo again at the camera's full resolution."),
            width=image.width, height=image.height, min_width=min_width, min_height=min_height,
        )


def _check_brightness(image: Image.Image) -> None:
    brightness = round(ImageStat.Stat(image.convert("L")).mean[0])
    if brightness < MIN_BRIGHTNESS:
        raise PhotoRejected(
            "too_dark", N_("The photo is too dark: mean brightness {brightness} of 255, at least {minimum} needed. "
                           "Add light in front of the resident and take the photo again."),
            brightness=brightness, minimum=MIN_BRIGHTNESS,
        )


def _single_face(image: Image.Image) -> FaceBox:
    faces = detect_faces(image)
    if not faces:
        raise PhotoRejected(
            "no_face", N_("No face was found in the photo. The resident must look straight at the camera, "
                          "without a hat, mask or sunglasses; take the photo again."),
        )
    others = [face for face in faces[1:] if face.area >= faces[0].area * SECOND_FACE_AREA_FRACTION]
    if others:
        raise PhotoRejected(
            "several_faces", N_("{count} faces were found in the photo. Only the resident may be in the picture; "
                                "take the photo again."),
            count=1 + len(others),
        )
    return faces[0]


def _portrait_box(face: FaceBox, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Return a 3:4 crop box framing face, moved or shrunk to stay inside the image."""
    aspect = PHOTO_SIZE_PX[1] / PHOTO_SIZE_PX[0]
    width = face.width / FACE_WIDTH_FRACTION
    height = width * aspect
    # A face close to the camera needs a crop larger than the image: shrink it to fit.
    shrink = min(1.0, image_size[0] / width, image_size[1] / height)
    width, height = width * shrink, height * shrink
    centre_x, centre_y = face.centre
    left = min(max(0.0, centre_x - width / 2), image_size[0] - width)
    top = min(max(0.0, centre_y - height * FACE_CENTRE_HEIGHT_FRACTION), image_size[1] - height)
    return (round(left), round(top), round(left + width), round(top + height))
