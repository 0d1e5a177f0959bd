"""Face detection: CenterFace at several scales finds the faces of a crowd, once per engine."""

from __future__ import annotations

import numpy as np
from imagedata import labels, package_photo, photo
from synthetic import coverage

from docveil.stages.detect import faces
from docveil.types import PageImage


def found(truths, boxes) -> int:
    return sum(1 for t in truths if any(coverage(tuple(t), tuple(b[:4])) >= 0.5 for b in boxes))


def test_nearly_every_face_of_the_street_crossing_is_found(image_context) -> None:
    truths = labels("shared:street_crossing.jpg")["faces"]
    boxes = faces.detect_faces(faces.get_model(image_context), np.asarray(photo("street_crossing.jpg").convert("RGB")),
                               image_context.settings.face_threshold)
    assert found(truths, boxes) >= 19
    assert len(boxes) <= len(truths) + 2, "few false faces"


def test_the_six_faces_of_the_group_photo_are_found(image_context) -> None:
    truths = labels("insightface:t1.jpg")["faces"]
    boxes = faces.detect_faces(faces.get_model(image_context), np.asarray(package_photo("t1.jpg").convert("RGB")),
                               image_context.settings.face_threshold)
    assert found(truths, boxes) == 6


def test_the_second_look_finds_small_faces_one_plain_pass_misses(image_context) -> None:
    street = photo("street_crossing.jpg").convert("RGB")
    small = street.resize((480, 338))
    truths = [[v * 0.6 for v in box] for box in labels("shared:street_crossing.jpg")["faces"]]
    model = faces.get_model(image_context)
    rgb = np.asarray(small)
    plain = faces.nms(model.run(faces._padded(rgb), image_context.settings.face_threshold))
    ours = faces.detect_faces(model, rgb, image_context.settings.face_threshold)
    assert found(truths, ours) >= found(truths, plain) + 2
    assert found(truths, ours) >= 15


def test_a_close_up_face_larger_than_the_model_sees_is_found_by_the_overview(image_context) -> None:
    group = package_photo("t1.jpg").convert("RGB")
    x0, y0, x1, y1 = labels("insightface:t1.jpg")["faces"][2]
    close_up = group.crop((int(x0) - 60, int(y0) - 60, int(x1) + 60, int(y1) + 60)).resize((1800, 2200))
    boxes = faces.detect_faces(faces.get_model(image_context), np.asarray(close_up), image_context.settings.face_threshold)
    assert any(coverage((300, 300, 1500, 1900), tuple(b[:4])) >= 0.5 for b in boxes)


def test_the_plugin_reports_face_regions_and_loads_its_session_once(image_context) -> None:
    image = photo("street_crossing.jpg").convert("RGB")
    page = PageImage(image, image.width, image.height)
    first = faces.docveil_detect_image_regions([page, page], image_context)
    assert len(first) == 2 and first[0] == first[1]
    assert {r.label for r in first[0]} == {"FACE"} and {r.detector for r in first[0]} == {"centerface"}
    assert image_context.stash.peek(faces.MODEL) is faces.get_model(image_context)
    assert faces.get_model(image_context).provider in ("CPUExecutionProvider", "CUDAExecutionProvider")


def test_second_look_candidates_touching_a_sure_face_are_kept_and_its_own_parts_are_not() -> None:
    sure = np.array([[100, 100, 120, 124, 0.9]], np.float32)
    first = np.array([
        sure[0],
        [104, 106, 116, 120, 0.3],  # inside the sure face: that face again
        [116, 118, 128, 132, 0.25],  # overlapping its corner: a face behind it, in a crowd
        [300, 300, 312, 314, 0.2],  # alone
        [302, 304, 314, 318, 0.18],  # shown whole by the crop around the one above
        [500, 500, 540, 560, 0.3],  # too large for a second look
        [700, 700, 712, 714, 0.1],  # too unsure
    ], np.float32)
    chosen = faces._uncertain(first, sure, 0.35)
    assert chosen[:, :4].tolist() == [[116, 118, 128, 132], [300, 300, 312, 314]]
