"""Region operators: blur, pixelate and fill leave nothing recoverable, padding, settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from imagedata import package_photo, photo

from docveil.context import StageContext
from docveil.errors import ConfigError
from docveil.plugins import make_plugin_manager
from docveil.stages.detect import faces
from docveil.stages.redact.image import redact_pixels
from docveil.stages.redact.image_operators import blur, fill, padded_box, pixelate
from docveil.types import BBox, Region


def high_frequency_energy(rgb: np.ndarray) -> float:
    """Mean squared Laplacian of the grey image: what edges and texture there are."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(gray, cv2.CV_64F) ** 2))


def sharpened(rgb: np.ndarray) -> np.ndarray:
    """An unsharp mask, as someone trying to undo a blur would apply it."""
    soft = cv2.GaussianBlur(rgb, (0, 0), 2.0)
    return cv2.addWeighted(rgb, 3.0, soft, -2.0, 0)


def _overlaps(a: BBox, b: BBox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.fixture(scope="module")
def face_photo() -> np.ndarray:
    return np.asarray(package_photo("t1.jpg").convert("RGB")).copy()


def test_blurred_faces_are_no_longer_faces_even_after_sharpening(face_photo, image_context) -> None:
    model = faces.get_model(image_context)
    found = faces.detect_faces(model, face_photo, 0.35)
    assert len(found) == 6
    pixels = face_photo.copy()
    for box in found:
        blur(pixels, padded_box(BBox(*box[:4]), 0.15, pixels.shape[1], pixels.shape[0]))
    for attempt in (pixels, sharpened(pixels)):
        again = [BBox(*box[:4]) for box in faces.detect_faces(model, attempt, 0.35)]
        assert not [b for b in again if any(_overlaps(b, BBox(*box[:4])) for box in found)]
    for box in found:
        x0, y0, x1, y1 = (int(v) for v in box[:4])
        before = high_frequency_energy(face_photo[y0:y1, x0:x1])
        after = high_frequency_energy(pixels[y0 + 2:y1 - 2, x0 + 2:x1 - 2])
        assert after < 0.02 * before, "a blurred face keeps under 2% of its detail (integer rounding)"


def test_blur_strength_grows_with_the_region(face_photo) -> None:
    x, y = 470, 280  # inside a face, down to the table for the largest box
    for side in (24, 96, 300):
        pixels = face_photo.copy()
        blur(pixels, (x, y, x + side, y + side))
        before = high_frequency_energy(face_photo[y + 2:y + side - 2, x + 2:x + side - 2])
        after = high_frequency_energy(pixels[y + 2:y + side - 2, x + 2:x + side - 2])
        assert after < 0.05 * before, f"a {side} px box is smooth inside"


def test_pixelate_keeps_only_a_coarse_mosaic(face_photo) -> None:
    pixels = face_photo.copy()
    pixelate(pixels, (400, 200, 640, 440))
    block = pixels[200:440, 400:640].reshape(-1, 3)
    assert len(np.unique(block, axis=0)) <= 36, "at most 6 x 6 cells"


def test_fill_paints_the_box_black_and_touches_nothing_else(face_photo) -> None:
    pixels = face_photo.copy()
    fill(pixels, (10, 20, 60, 90))
    assert not pixels[20:90, 10:60].any()
    assert np.array_equal(pixels[90:], face_photo[90:]) and np.array_equal(pixels[:, 60:], face_photo[:, 60:])


def test_padding_grows_the_box_and_stays_inside_the_image() -> None:
    assert padded_box(BBox(100, 100, 200, 150), 0.1, 1000, 1000) == (90, 95, 210, 155)
    assert padded_box(BBox(0, 0, 50, 50), 0.5, 60, 60) == (0, 0, 60, 60)
    assert padded_box(BBox(10, 10, 12, 12), 0.0, 100, 100) == (9, 9, 13, 13), "at least one pixel"


def test_each_label_gets_the_operator_the_settings_name(settings, face_photo) -> None:
    custom = settings.with_overrides(image_operators={"FACE": "pixelate"}, image_default_operator="blur")
    context = StageContext(custom, make_plugin_manager(custom).hook)
    from PIL import Image

    regions = [Region("FACE", BBox(10, 10, 60, 60), 0.9, "test"), Region("EMAIL_ADDRESS", BBox(100, 10, 300, 40),
                                                                         0.8, "test")]
    image, records = redact_pixels(Image.fromarray(face_photo), regions, context, page=3)
    assert [(r.label, r.operator, r.page) for r in records] == [("FACE", "pixelate", 3), ("EMAIL_ADDRESS", "blur", 3)]
    assert not image.info and image.size == (face_photo.shape[1], face_photo.shape[0])


def test_an_unknown_image_operator_names_the_known_ones(settings, face_photo) -> None:
    custom = settings.with_overrides(image_operators={"FACE": "swirl"})
    context = StageContext(custom, make_plugin_manager(custom).hook)
    from PIL import Image

    with pytest.raises(ConfigError, match=r"unknown image redaction operator 'swirl' .*blur, fill, pixelate"):
        redact_pixels(Image.fromarray(face_photo), [Region("FACE", BBox(1, 1, 9, 9), 0.9, "t")], context)


def test_the_street_photo_loses_every_face_it_had(image_context) -> None:
    from docveil.stages.redact.image import redact_image

    street = photo("street_crossing.jpg")
    redacted = redact_image(street, image_context, pseudonymizer=None)
    assert sum(r.label == "FACE" for r in redacted.regions) >= 19
    model = faces.get_model(image_context)
    # A blurred head can still read as "a head" by its outline (hair); not as a face with features.
    assert len(faces.detect_faces(model, np.asarray(redacted.pixels), 0.35)) <= 1
