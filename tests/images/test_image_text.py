"""Personal data written in images: read by OCR, found by the text detectors, blacked out in
the pixels and replaced in the text, with word boxes mapped to pixels."""

from __future__ import annotations

import os

import pytest
from synthetic import coverage, screenshots

from docveil.stages.detect import ocr
from docveil.stages.redact.image import encode_image, redact_image
from docveil.stages.redact.pseudonyms import Pseudonymizer

SHOTS = screenshots(3)
# Width, length, bits, compression, photometric, strips, samples, rows, byte counts, planar,
# resolution, predictor, extra samples, sample format: no maker, artist, date, software, GPS.
TIFF_STRUCTURE = {256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 317, 338, 339}


@pytest.fixture(scope="module")
def redacted(image_context):
    return [redact_image(shot.image, image_context, pseudonymizer=None) for shot in SHOTS]


def test_every_value_drawn_in_a_screenshot_is_covered_by_a_region(redacted) -> None:
    for shot, result in zip(SHOTS, redacted, strict=True):
        text_regions = [r for r in result.regions if r.label not in ("FACE", "LICENSE_PLATE")]
        for value, box in zip(shot.planted, shot.pii_text, strict=True):
            assert any(coverage(box, tuple(r.box.as_list())) >= 0.9 for r in text_regions), value
        assert all(r.operator == "fill" for r in text_regions)


def test_the_redacted_ocr_text_holds_no_value_and_keeps_the_rest(redacted) -> None:
    for shot, result in zip(SHOTS, redacted, strict=True):
        for value in shot.planted:
            assert value not in result.text.text
        assert "billing question" in result.text.text and "<EMAIL_ADDRESS>" in result.text.text
        assert len(result.char_boxes) == len(result.text.text)
        assert result.pseudonyms == (), "without a pseudonymizer nothing goes to a vault"


def test_the_values_cannot_be_read_back_from_the_redacted_pixels(redacted, image_context) -> None:
    for shot, result in zip(SHOTS, redacted, strict=True):
        read_again, _ = ocr.page_text(ocr.ocr_image(result.pixels, image_context))
        assert "billing question" in read_again
        for value in shot.planted:
            assert value not in read_again
            assert value.split()[-1] not in read_again


def test_char_boxes_of_the_redacted_text_are_pixel_boxes_on_the_image(redacted) -> None:
    result = redacted[0]
    start = result.text.text.index("<EMAIL_ADDRESS>")
    token_box = result.char_boxes[start]
    email_box = SHOTS[0].pii_text[1]
    assert coverage(email_box, tuple(token_box.as_list())) >= 0.9, "a replacement carries the replaced words' box"
    assert all(0 <= b.x0 < b.x1 <= result.width and 0 <= b.y0 < b.y1 <= result.height
               for b in result.char_boxes if b is not None)


def test_with_the_tenants_pseudonymizer_values_become_tokens_with_vault_entries(image_context) -> None:
    pseudonymizer = Pseudonymizer(os.urandom(32))
    result = redact_image(SHOTS[0].image, image_context, pseudonymizer=pseudonymizer, page=4)
    email = SHOTS[0].planted[1]
    assert pseudonymizer.token(email, "EMAIL_ADDRESS") in result.text.text
    assert email in {entry.value for entry in result.pseudonyms}
    assert {r.page for r in result.regions} == {4} and {r.page for r in result.manifest} == {4}


def test_the_manifest_holds_boxes_and_labels_never_values(redacted) -> None:
    result = redacted[0]
    written = repr([r.as_dict() for r in result.regions]) + repr([r.as_dict() for r in result.manifest])
    for value in SHOTS[0].planted:
        assert value not in written and value.split()[0] not in written
    assert {"kind", "label", "page", "box", "detector", "score", "operator"} <= set(result.regions[0].as_dict())


def test_encoded_output_carries_no_metadata(redacted) -> None:
    import io

    from PIL import Image

    for fmt in ("png", "jpeg", "webp", "tiff", "bmp", "gif"):
        reopened = Image.open(io.BytesIO(encode_image(redacted[0], fmt)))
        # A TIFF's own structure (size, strips, compression) is in its tags: only that is allowed.
        assert set(reopened.getexif()) <= TIFF_STRUCTURE, fmt
        assert "icc_profile" not in reopened.info and "exif" not in reopened.info and "xmp" not in reopened.info
