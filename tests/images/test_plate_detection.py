"""License plates: read by OCR, recognised by format or by the plate words around them."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import skimage.data
from imagedata import labels, photo
from PIL import Image
from synthetic import coverage, plate_composites

from docveil.stages.detect import ocr, plates


@pytest.mark.parametrize(("text", "formats"), [
    ("7ABC123", {"US"}), ("413-SUA", {"US"}), ("B MW 1234", {"DE"}), ("M:KR 4821", {"DE"}),
    ("AB12 CDE", {"UK"}), ("H 786 POJ", {"UK"}), ("AB-123-CD", {"FR_IT"}), ("1234 BCD", {"ES"}),
    # "ABC 1234" is a US plate and a German one ("A BC 1234"): either name will do
    ("ABC 1234", {"US", "DE"}), ("AZM9591", {"US", "DE"}), ("K8 XR 2Q7", {"GENERIC"}),
])
def test_plate_formats_of_several_countries_are_recognised(text, formats) -> None:
    assert plates.plate_format(text) in formats


@pytest.mark.parametrize("text", [
    "Hello World", "Route 66", "GTD", "Status: waiting for the customer", "ENTNR1", "2013", "Washington",
    "Ticket number 12345 is open",
])
def test_words_and_numbers_that_are_not_plates_are_not(text) -> None:
    assert plates.plate_format(text) is None


def test_plate_words_survive_ocr_slips() -> None:
    assert plates.is_plate_word("WASHINGTON") and plates.is_plate_word('"/ASHINGTON')
    assert plates.is_plate_word("California") and not plates.is_plate_word("Customer")


@pytest.mark.parametrize("name", [
    "car_eu_golf.jpg", "car_wa_boxster.png", "car_wa_classic.jpg", "car_wa_leaf.jpg",
    "composite_eu_plate_front.jpg", "composite_us_plate_rear.jpg",
])
def test_the_plate_of_each_real_car_photo_is_found(name, image_context) -> None:
    image = photo(name).convert("RGB")
    truth = tuple(labels(f"shared:{name}")["plates"][0])
    regions = plates.detect_plates(np.asarray(image), ocr.ocr_image(image, image_context))
    assert any(coverage(truth, tuple(r.box.as_list())) >= 0.5 for r in regions)
    assert len(regions) <= 2


def test_rendered_plates_warped_into_photos_are_found_nine_times_in_ten(image_context) -> None:
    backgrounds = [(name, Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
                   for name in ("coffee", "rocket", "chelsea")]
    composed = plate_composites(backgrounds, 10, seed=3)
    hits = 0
    for item in composed:
        regions = plates.detect_plates(np.asarray(item.image), ())
        hits += any(coverage(item.plates[0], tuple(r.box.as_list())) >= 0.5 for r in regions)
    assert hits >= 9


def test_a_crop_that_would_read_like_one_already_read_is_not_read_again() -> None:
    crop = np.full((48, 200), 255, np.uint8)
    crop[10:38, 20:180:12] = 0
    speck = crop.copy()
    speck[0, :10] = 0  # 10 of 9,600 pixels
    other = crop.copy()
    other[10:38, 26:186:12] = 0  # every stroke doubled
    assert plates._same_reading(speck, [crop])
    assert not plates._same_reading(other, [crop])
    assert not plates._same_reading(crop[:, :199], [crop])


def test_plates_are_found_alike_when_images_are_read_from_several_threads(image_context) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = ["car_eu_golf.jpg", "car_wa_classic.jpg", "composite_us_plate_rear.jpg"]
    images = [np.asarray(photo(name).convert("RGB")) for name in names]
    alone = [plates.detect_plates(image, ()) for image in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda image: plates.detect_plates(image, ()), images * 2))
    assert together == alone * 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reads_plates_after_its_parent_did() -> None:
    image = np.asarray(photo("car_eu_golf.jpg").convert("RGB"))
    expected = plates.detect_plates(image, ())  # the parent's side reader thread now exists
    pid = os.fork()
    if pid == 0:  # the child: its own reader thread, or it would wait forever
        code = 1
        try:
            signal.alarm(60)
            code = 0 if plates.detect_plates(image, ()) == expected else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
