"""Builds the documents the picture, Word, email and redacted-PDF tests read, on the spot:
PDFs with photos (reportlab), scans (a rendered page drawn back as a picture), .docx files
(plain zipfile + WordprocessingML), emails (stdlib ``email``). Nothing binary is committed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LoadError
from docveil.plugins import make_plugin_manager
from docveil.stages.load.source import load_document, source_from_bytes
from docveil.types import Document

FONT_SIZE = 12
LEFT = 72.0
TOP = 760.0
LEADING = 16.0
PAGE_WIDTH, PAGE_HEIGHT = A4
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def face_photo(size: int = 256) -> Image.Image:
    """A real photo with one face (skimage's astronaut), cropped to the head and shoulders."""
    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut())
    return photo.crop((120, 0, 376, 256)).resize((size, size))


def text_picture(lines: Sequence[str], *, width: int = 900, size: int = 36) -> Image.Image:
    """A picture of typed text (a photographed note, a screenshot), black on white."""
    font = _font(size)
    height = int(size * 1.6 * len(lines) + size)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((size // 2, size // 2 + int(number * size * 1.6)), line, fill="black", font=font)
    return image


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype(DEJAVU, size)
    except OSError:
        return ImageFont.load_default(size)


def pdf_with_pictures(lines: Sequence[str], pictures: Sequence[tuple[Image.Image, tuple[float, float, float, float]]],
                      *, title: str | None = None, author: str | None = None, rotate: int = 0,
                      extra_pages: Sequence[Sequence[str]] = ()) -> bytes:
    """A page of Helvetica lines from the top plus pictures at (x, y, width, height) points."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    if title:
        pdf.setTitle(title)
    if author:
        pdf.setAuthor(author)
    if rotate:
        pdf.setPageRotation(rotate)
    pdf.setFont("Helvetica", FONT_SIZE)
    for number, line in enumerate(lines):
        pdf.drawString(LEFT, TOP - LEADING * number, line)
    for picture, (x, y, w, h) in pictures:
        pdf.drawImage(ImageReader(picture), x, y, width=w, height=h)
    pdf.showPage()
    for page_lines in extra_pages:
        pdf.setFont("Helvetica", FONT_SIZE)
        for number, line in enumerate(page_lines):
            pdf.drawString(LEFT, TOP - LEADING * number, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf(pages: Sequence[Sequence[str]], *, dpi: int = 200,
                photo: tuple[Image.Image, tuple[int, int]] | None = None) -> bytes:
    """A PDF whose pages are pictures only, like a scanner makes: each page is typed text
    rendered to pixels (and, on the first page, ``photo`` pasted at a pixel position)."""
    import pypdfium2 as pdfium

    from docveil.stages.load.pdf import PDFIUM_LOCK

    buffer = io.BytesIO()
    out = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for index, lines in enumerate(pages):
        with PDFIUM_LOCK:
            source = pdfium.PdfDocument(pdf_with_pictures(lines, []))
            image = source[0].render(scale=dpi / 72).to_pil().convert("RGB")
            source.close()
        if photo is not None and index == 0:
            image.paste(photo[0], photo[1])
        out.drawImage(ImageReader(image), 0, 0, width=PAGE_WIDTH, height=PAGE_HEIGHT)
        out.showPage()
    out.save()
    return buffer.getvalue()


def line_baseline(number: int) -> float:
    return TOP - LEADING * number


# Word


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _paragraph(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'


def docx(paragraphs: Sequence[str], *, table: Sequence[Sequence[str]] = (), header: str | None = None,
         footer: str | None = None, title: str | None = None, author: str | None = None,
         pictures: Sequence[Image.Image] = ()) -> bytes:
    """A minimal but valid .docx: body paragraphs, a table, a header and footer, core
    properties and inline pictures (each in its own paragraph after the text)."""
    body = [_paragraph(text) for text in paragraphs]
    if table:
        rows = "".join("<w:tr>" + "".join(f"<w:tc>{_paragraph(cell)}</w:tc>" for cell in row) + "</w:tr>"
                       for row in table)
        body.append(f"<w:tbl>{rows}</w:tbl>")
    rels = []
    files: dict[str, bytes] = {}
    for number, picture in enumerate(pictures, 1):
        rid = f"rIdImg{number}"
        name = f"media/image{number}.png"
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        files[f"word/{name}"] = buffer.getvalue()
        rels.append(f'<Relationship Id="{rid}" Type="{_R}/image" Target="{name}"/>')
        body.append(
            '<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/'
            f'wordprocessingDrawing"><wp:docPr id="{number}" name="Picture {number}"/><a:graphic xmlns:a="http://'
            'schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/'
            'drawingml/2006/picture"><pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/'
            f'picture"><pic:blipFill><a:blip r:embed="{rid}"/></pic:blipFill></pic:pic></a:graphicData>'
            '</a:graphic></wp:inline></w:drawing></w:r></w:p>')
    section = []
    for kind, text in (("header", header), ("footer", footer)):
        if text is not None:
            rels.append(f'<Relationship Id="rId{kind}" Type="{_R}/{kind}" Target="{kind}1.xml"/>')
            files[f"word/{kind}1.xml"] = (f'<w:{"hdr" if kind == "header" else "ftr"} xmlns:w="{_W}">'
                                          f'{_paragraph(text)}</w:{"hdr" if kind == "header" else "ftr"}>').encode()
            section.append(f'<w:{kind}Reference w:type="default" r:id="rId{kind}"/>')
    body.append(f"<w:sectPr>{''.join(section)}</w:sectPr>")
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{_W}" '
                f'xmlns:r="{_R}"><w:body>{"".join(body)}</w:body></w:document>')
    core = ('<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.'
            'org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'{f"<dc:title>{escape(title)}</dc:title>" if title else ""}'
            f'{f"<dc:creator>{escape(author)}</dc:creator>" if author else ""}</cp:coreProperties>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml",
                         '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                         '<Default Extension="png" ContentType="image/png"/></Types>')
        archive.writestr("_rels/.rels",
                         '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                         'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
                         f'Type="{_R}/officeDocument" Target="word/document.xml"/></Relationships>')
        archive.writestr("word/document.xml", document)
        archive.writestr("word/_rels/document.xml.rels",
                         '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                         f'openxmlformats.org/package/2006/relationships">{"".join(rels)}</Relationships>')
        archive.writestr("docProps/core.xml", core)
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb_docx(unpacked_bytes: int) -> bytes:
    """A ZIP that looks like a .docx and inflates ``word/document.xml`` to ``unpacked_bytes``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b" " * (1 << 20)
            for _ in range(unpacked_bytes // len(block)):
                member.write(block)
    return buffer.getvalue()


# Email


def email_message(*, subject: str, sender: str, to: str, body: str, html: str | None = None,
                  attachments: Sequence[tuple[str, bytes, str]] = (), date: str = "Tue, 04 Mar 2025 10:15:00 +0100"
                  ) -> bytes:
    """An RFC 822 message; ``attachments`` are (file name, bytes, media type)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = date
    message["Message-ID"] = "<test-1@example.org>"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, data, media_type in attachments:
        maintype, subtype = media_type.split("/")
        if media_type == "message/rfc822":
            message.add_attachment(message_from_bytes(data, policy=policy.default), filename=name)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


def region_variance(image: Image.Image, box: tuple[int, int, int, int],
                    outside: Sequence[tuple[int, int, int, int]] = ()) -> float:
    """How much detail a region holds: the variance of its grey levels, leaving out the pixels
    of the ``outside`` boxes (same coordinates as ``box``)."""
    grey = np.asarray(image.convert("L").crop(box), dtype=np.float64)
    keep = np.ones(grey.shape, dtype=bool)
    for x0, y0, x1, y1 in outside:
        keep[max(0, y0 - box[1]):max(0, y1 - box[1]), max(0, x0 - box[0]):max(0, x1 - box[0])] = False
    return float(grey[keep].var())


# Loading


def full_context(home: Path, **limits: int) -> StageContext:
    """A context with every default plugin (loaders, OCR), as an engine has, without a database."""
    settings = Settings(home=home, load_entry_points=False, **limits)
    return StageContext(settings, make_plugin_manager(settings).hook)


def load_bytes(context: StageContext, data: bytes, name: str) -> Document:
    return load_document(source_from_bytes(name, data, context.settings), context)


def expect_load_error(context: StageContext, data: bytes, name: str) -> LoadError:
    """The error loading ``data`` as ``name`` raises; it must name the source."""
    with pytest.raises(LoadError) as caught:
        load_bytes(context, data, name)
    assert caught.value.source == name
    assert str(caught.value).startswith(f"{name}: ")
    return caught.value
