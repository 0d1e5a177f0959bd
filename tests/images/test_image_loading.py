"""Loading images: formats, frames, orientation, metadata, limits and damaged files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from imagedata import encoded
from PIL import Image, ImageDraw
from synthetic import font

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError, UnsupportedFormatError
from docveil.plugins import make_plugin_manager
from docveil.stages.load.source import load_document, read_source, source_from_bytes


@pytest.fixture(scope="module")
def no_ocr(settings: Settings) -> StageContext:
    """Loading without OCR: these tests are about pixels and errors."""
    plain = settings.with_overrides(image_ocr=False)
    return StageContext(plain, make_plugin_manager(plain).hook)


def picture(width: int = 48, height: int = 32) -> Image.Image:
    image = Image.new("RGB", (width, height), (200, 40, 40))
    ImageDraw.Draw(image).rectangle((0, 0, width // 4, height // 4), fill=(10, 10, 250))  # marks the top left
    return image


def load(name: str, data: bytes, context: StageContext):
    return load_document(source_from_bytes(name, data, context.settings), context)


@pytest.mark.parametrize(("fmt", "name", "media_type"), [
    ("PNG", "a.png", "image/png"), ("JPEG", "a.jpg", "image/jpeg"), ("WEBP", "a.webp", "image/webp"),
    ("BMP", "a.bmp", "image/bmp"), ("TIFF", "a.tiff", "image/tiff"), ("GIF", "a.gif", "image/gif"),
])
def test_each_format_loads_as_one_page_carrying_its_pixels(fmt, name, media_type, no_ocr) -> None:
    document = load(name, encoded(picture(), fmt), no_ocr)
    assert document.media_type == media_type and document.page_count == 1
    page = document.pages[0]
    assert (page.width, page.height) == (48, 32)
    assert page.image is not None and page.image.pixels.mode == "RGB"
    assert page.image.pixels.getpixel((2, 2))[2] > 200  # blue corner where it was drawn
    assert page.text == "" and page.image.words is None


def test_a_multi_page_tiff_gives_one_page_per_frame(no_ocr) -> None:
    frames = [picture(40 + 10 * i, 30) for i in range(3)]
    data = encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    document = load("scan.tiff", data, no_ocr)
    assert [p.number for p in document.pages] == [1, 2, 3]
    assert [p.image.width for p in document.pages] == [40, 50, 60]


def test_a_tiff_with_more_frames_than_max_pages_is_refused(settings) -> None:
    limited = settings.with_overrides(image_ocr=False, max_pages=2)
    context = StageContext(limited, make_plugin_manager(limited).hook)
    frames = [picture() for _ in range(3)]
    with pytest.raises(LimitExceededError, match=r"scan.tif: TIFF has 3 frames, over the 2 page limit"):
        load("scan.tif", encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]), context)


def test_a_tiff_whose_frames_together_pass_the_document_pixel_limit_is_refused_before_decoding(
        settings, monkeypatch) -> None:
    # Each frame is within max_pixels; all of them are not.
    limited = settings.with_overrides(image_ocr=False, max_pixels=2000, max_document_pixels=5000)
    context = StageContext(limited, make_plugin_manager(limited).hook)
    frames = [picture(40, 40) for _ in range(4)]  # 1,600 pixels each, 6,400 in all
    data = encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    decoded = []
    monkeypatch.setattr(Image.Image, "copy", lambda image: decoded.append(image) or image)
    with pytest.raises(LimitExceededError, match=r"scan.tif: frames hold more than 5,000 pixels in all, over the "
                                                 r"document pixel limit \(max_document_pixels\)"):
        load("scan.tif", data, context)
    assert decoded == []


def test_a_webp_canvas_its_reader_refuses_is_a_limit_error(no_ocr) -> None:
    frame = encoded(Image.new("RGB", (16, 16), "white"), "WEBP", lossless=True)[12:]  # its VP8L chunk
    canvas = (16383).to_bytes(3, "little") * 2  # 16,384 x 16,384
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + canvas + frame
    with pytest.raises(LimitExceededError, match=r"big.webp: WebP image declares more than [\d,]+ pixels, which its "
                                                 r"reader refuses to decode \(max_pixels\)"):
        load("big.webp", b"RIFF" + struct.pack("<I", len(body)) + body, no_ocr)


def test_image_metadata_never_reaches_a_debug_log(no_ocr, caplog) -> None:
    import logging

    from PIL import TiffImagePlugin

    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[315] = "Jane Roe"  # Artist
    info[270] = "Patient SSN 078-05-1120"  # ImageDescription
    caplog.set_level(logging.DEBUG)
    load("scan.tiff", encoded(picture(), "TIFF", tiffinfo=info), no_ocr)
    assert "Jane Roe" not in caplog.text and "078-05-1120" not in caplog.text


def test_exif_orientation_is_applied_and_every_piece_of_metadata_dropped(no_ocr) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    exif[0x010F] = "Maker"
    exif[0x8825] = {1: "N", 2: (37.0, 46.0, 30.0), 3: "W", 4: (122.0, 25.0, 10.0)}
    data = encoded(picture(48, 32), "JPEG", exif=exif.tobytes(), comment=b"holiday at home")
    page = load("photo.jpg", data, no_ocr).pages[0]
    pixels = page.image.pixels
    assert pixels.size == (32, 48), "orientation 6 turns a landscape picture upright"
    assert pixels.getpixel((29, 2))[2] > 150, "the top-left mark is now at the top right"
    assert not pixels.info and not pixels.getexif()


def test_png_text_and_icc_metadata_do_not_survive_loading(no_ocr) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Roe")
    page = load("shot.png", encoded(picture(), "PNG", pnginfo=info, icc_profile=b"\0" * 128), no_ocr).pages[0]
    assert not page.image.pixels.info


def test_the_page_text_of_an_image_is_its_ocr_text_with_pixel_boxes(image_context) -> None:
    image = Image.new("RGB", (700, 120), "white")
    ImageDraw.Draw(image).text((20, 30), "Quarterly invoice approved", font=font(40), fill="black")
    page = load("note.png", encoded(image, "PNG"), image_context).pages[0]
    assert page.text == "Quarterly invoice approved"
    assert len(page.char_boxes) == len(page.text) and page.char_boxes[page.text.index(" ")] is None
    first = page.char_boxes[0]
    assert 10 <= first.x0 < first.x1 < 700 and 20 <= first.y0 < first.y1 < 100


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` with a tiny compressed IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def test_a_50000_by_50000_png_fails_on_its_header_without_decoding(no_ocr, monkeypatch) -> None:
    from PIL import ImageFile

    decoded: list[object] = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or original(self))
    with pytest.raises(LimitExceededError) as caught:
        load("bomb.png", huge_png(), no_ocr)
    assert decoded == [], "the pixel limit must be checked before any pixel is decoded"
    assert str(caught.value) == ("bomb.png: image is 50,000 x 50,000 pixels (2,500,000,000), over the "
                                 "100,000,000 pixel limit (max_pixels)")


def test_max_pixels_decides_whatever_pils_own_limit_is(settings) -> None:
    small = settings.with_overrides(image_ocr=False, max_pixels=1000)
    context = StageContext(small, make_plugin_manager(small).hook)
    with pytest.raises(LimitExceededError, match="over the 1,000 pixel limit"):
        load("a.png", encoded(picture(40, 30), "PNG"), context)
    exact = settings.with_overrides(image_ocr=False, max_pixels=40 * 30)
    assert load("a.png", encoded(picture(40, 30), "PNG"), StageContext(exact, make_plugin_manager(exact).hook))


def _flip_idat_crc(data: bytes) -> bytes:
    at = data.index(b"IDAT")
    length = struct.unpack(">I", data[at - 4:at])[0]
    crc_at = at + 4 + length
    return data[:crc_at] + bytes([data[crc_at] ^ 0xFF]) + data[crc_at + 1:]


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("cut.jpg", lambda: encoded(Image.effect_noise((256, 256), 60).convert("RGB"), "JPEG")[:3000],
     "corrupt JPEG image: truncated data"),
    ("crc.png", lambda: _flip_idat_crc(encoded(picture(), "PNG")),
     "corrupt PNG image: bad checksum in chunk IDAT (damaged data)"),
    ("cut.png", lambda: encoded(picture(), "PNG")[:60], "corrupt PNG image: truncated data"),
    ("scan.pdf", lambda: encoded(picture(), "PNG"),
     "the content is a PNG image but the name says .pdf; rename it to load it as an image"),
])
def test_damaged_or_misnamed_images_get_a_clear_error(name, make, reason, no_ocr) -> None:
    with pytest.raises(LoadError) as caught:
        load(name, make(), no_ocr)
    assert str(caught.value) == f"{name}: {reason}"


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_rows(image: Image.Image, *, interlaced: bool) -> bytes:
    """The filtered rows of an RGB image as a PNG stores them (filter 0), Adam7 passes when interlaced."""
    width, height = image.size
    pixels = image.tobytes()
    rows = []
    for x0, y0, dx, dy in ADAM7 if interlaced else ((0, 0, 1, 1),):
        for y in range(y0, height, dy):
            row = b"".join(pixels[(y * width + x) * 3:(y * width + x + 1) * 3] for x in range(x0, width, dx))
            if row:
                rows.append(b"\0" + row)
    return b"".join(rows)


def raw_png(image: Image.Image, rows: bytes, *, interlaced: bool) -> bytes:
    header = struct.pack(">IIBBBBB", *image.size, 8, 2, 0, 0, int(interlaced))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("interlaced", [False, True], ids=["plain", "adam7"])
def test_a_png_whose_pixel_data_ends_early_is_refused_not_padded_with_black(interlaced, no_ocr) -> None:
    image = picture(37, 23)
    rows = png_rows(image, interlaced=interlaced)
    whole = raw_png(image, rows, interlaced=interlaced)
    assert Image.open(io.BytesIO(whole)).convert("RGB").tobytes() == image.tobytes()  # PIL reads it as drawn
    assert load("whole.png", whole, no_ocr).pages[0].image.pixels.tobytes() == image.tobytes()
    # Every CRC intact and the compressed stream properly ended: only rows are missing.
    with pytest.raises(LoadError, match=r"short.png: corrupt PNG image: truncated data \(the pixel data ends"):
        load("short.png", raw_png(image, rows[:len(rows) * 2 // 3], interlaced=interlaced), no_ocr)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16"])  # 1 to 32 bits a pixel
def test_pngs_of_every_pixel_layout_pass_the_row_check(mode, no_ocr) -> None:
    via = {"LA": "L", "I;16": "I"}.get(mode, mode)
    data = encoded(picture(37, 23).convert(via).convert(mode), "PNG")
    assert load("layout.png", data, no_ocr).pages[0].image.pixels.size == (37, 23)


def test_an_empty_image_file_is_refused_before_any_loader(tmp_path: Path, settings) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(LoadError, match=r"empty.png: empty file"):
        read_source(tmp_path / "empty.png", settings)


def test_an_image_behind_a_text_name_stays_binary_content_not_text(no_ocr) -> None:
    with pytest.raises(UnsupportedFormatError, match=r"binary content \(looks like a PNG image\), not text"):
        load("photo.txt", encoded(picture(), "PNG"), no_ocr)
