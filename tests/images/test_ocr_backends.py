"""tesseract in the process (tesserocr) and as a program (pytesseract): the same words and
boxes, one model per thread, clear errors."""

from __future__ import annotations

import threading

import pytest
from synthetic import screenshots

from docveil.errors import DocveilError
from docveil.stages.detect import ocr

pytest.importorskip("tesserocr")

SHOT = screenshots(1)[0]


def _words(rows: list) -> list[tuple[str, tuple[int, int, int, int]]]:
    return [(text.strip(), box) for text, _, box, _ in rows if text.strip()]


def test_the_api_and_the_program_read_the_same_words_in_the_same_places() -> None:
    in_process = _words(ocr._api_rows(SHOT.image, "eng", ocr.PSM_PAGE))
    program = _words(ocr._cli_rows(SHOT.image, "eng", ocr.PSM_PAGE))
    assert len(program) > 20
    # The wheel's tesseract and the system's may be different releases: a word more or less on
    # a line, but the same text at the same pixels.
    assert len(set(in_process) & set(program)) >= 0.9 * max(len(in_process), len(program))
    text = " ".join(t for t, _ in in_process)
    for value in SHOT.planted:
        assert value in text


def test_words_carry_line_and_block_numbers_in_reading_order() -> None:
    words = ocr.tesseract(SHOT.image)
    text, boxes = ocr.page_text(words)
    assert "billing question" in text
    assert len(boxes) == len(text)
    lines = [w.line for w in words]
    assert lines == sorted(lines), "line numbers grow in reading order"
    assert len(set(lines)) >= 5 and min(w.block for w in words) >= 1


def test_each_thread_reads_with_its_own_model_and_gets_the_same_words() -> None:
    expected = [w.text for w in ocr.tesseract(SHOT.image)]
    results: list[list[str]] = []
    apis: list[object] = []

    def read() -> None:
        results.append([w.text for w in ocr.tesseract(SHOT.image)])
        apis.append(ocr._READERS.apis["eng"])

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 3
    assert len({id(api) for api in apis}) == 3


def test_a_language_that_is_not_installed_is_a_clear_error() -> None:
    with pytest.raises(DocveilError, match=r"OCR language 'xyz' is not installed"):
        ocr.tesseract(SHOT.image, language="xyz")


def test_tessdata_prefix_from_the_environment_wins(monkeypatch, tmp_path) -> None:
    ocr.tessdata_path.cache_clear()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    try:
        assert ocr.tessdata_path() == str(tmp_path)
    finally:
        ocr.tessdata_path.cache_clear()


def test_an_empty_image_has_no_words() -> None:
    from PIL import Image

    assert ocr.tesseract(Image.new("RGB", (200, 80), "white")) == []


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "1", "P"])
def test_an_image_in_memory_reads_as_its_png_does_in_any_mode(mode: str) -> None:
    import io

    from PIL import Image

    image = SHOT.image.convert(mode).crop((3, 1, SHOT.image.width - 5, SHOT.image.height - 2))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    reloaded = Image.open(io.BytesIO(buffer.getvalue()))
    in_memory = [w.text for w in ocr.tesseract(image)]
    assert in_memory == [w.text for w in ocr.tesseract(reloaded)]
    assert "billing" in in_memory
