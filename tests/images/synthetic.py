"""Labelled test images made on the spot: rendered license plates warped into real photos, and
screenshots with personal data drawn as text. Every value is synthetic; the same seed gives the
same images. Used by the image tests and by ``benchmarks/image_redaction.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
Box = tuple[float, float, float, float]


@dataclass
class LabelledImage:
    """An image and the boxes (pixels, x0 y0 x1 y1) of what must be redacted in it."""

    name: str
    image: Image.Image
    faces: list[Box] = field(default_factory=list)
    plates: list[Box] = field(default_factory=list)
    pii_text: list[Box] = field(default_factory=list)
    planted: list[str] = field(default_factory=list)


def font(size: int, bold: bool = True, condensed: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans where the system has it, else Pillow's built-in scalable font."""
    name = "DejaVuSans" + ("Condensed" if condensed else "") + ("-Bold" if bold else "") + ".ttf"
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size=size)


# (text, style): US plates are 2:1 with a state name, EU plates are long with a blue band.
PLATES = (
    ("7ABC123", "us"), ("ABC 1234", "us"), ("8KRT274", "us"), ("4GHJ567", "us"), ("TXR 5821", "us"),
    ("B MW 1234", "eu"), ("M KR 4821", "eu"), ("HH AB 123", "eu"), ("K LN 907", "eu"),
    ("AB12 CDE", "uk"), ("LR69 XKT", "uk"), ("AB-123-CD", "eu"), ("1234 BCD", "eu"),
)
STATES = ("CALIFORNIA", "TEXAS", "OREGON", "NEVADA", "ARIZONA")


def render_plate(text: str, style: str, rng: random.Random) -> Image.Image:
    """A flat plate, about 520 pixels wide."""
    if style == "us":
        plate = Image.new("RGB", (440, 220), (245, 245, 240))
        draw = ImageDraw.Draw(plate)
        draw.rounded_rectangle((2, 2, 437, 217), radius=18, outline=(40, 40, 40), width=4)
        draw.text((220, 42), rng.choice(STATES), font=font(34), fill=(170, 20, 30), anchor="mm")
        draw.text((220, 130), text, font=font(104, condensed=True), fill=(20, 30, 110), anchor="mm")
        return plate
    background = (250, 205, 20) if style == "uk" else (245, 245, 240)
    plate = Image.new("RGB", (520, 112), background)
    draw = ImageDraw.Draw(plate)
    draw.rectangle((0, 0, 519, 111), outline=(20, 20, 20), width=4)
    draw.rectangle((4, 4, 52, 107), fill=(20, 60, 170))
    draw.text((28, 84), "D" if style == "eu" else "UK", font=font(26), fill=(255, 255, 255), anchor="mm")
    draw.text((288, 58), text, font=font(84, condensed=True), fill=(15, 15, 15), anchor="mm")
    return plate


def warp_onto(photo: Image.Image, plate: Image.Image, width: int, centre: tuple[float, float],
              rng: random.Random, blur: float) -> tuple[Image.Image, Box]:
    """``plate`` scaled to ``width`` pixels, tilted in perspective, blurred, pasted on ``photo``."""
    import cv2

    canvas = np.array(photo.convert("RGB"))
    pw, ph = plate.size
    height = width * ph / pw
    cx, cy = centre
    jitter = 0.08 * width
    corners = np.float32([[cx - width / 2, cy - height / 2], [cx + width / 2, cy - height / 2],
                          [cx + width / 2, cy + height / 2], [cx - width / 2, cy + height / 2]])
    corners += np.float32([[rng.uniform(-jitter, jitter), rng.uniform(-jitter / 2, jitter / 2)] for _ in range(4)])
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]), corners)
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpPerspective(np.array(plate), matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, size, flags=cv2.INTER_AREA)
    if blur > 0:
        warped = cv2.GaussianBlur(warped, (0, 0), blur)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    canvas = (canvas * (1 - alpha) + warped * alpha).astype(np.uint8)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return Image.fromarray(canvas), (float(x0), float(y0), float(x1), float(y1))


def plate_composites(backgrounds: list[tuple[str, Image.Image]], count: int, seed: int = 7) -> list[LabelledImage]:
    """``count`` photos, each with one rendered plate 110-260 px wide, perspective and blur."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        name, photo = backgrounds[index % len(backgrounds)]
        text, style = PLATES[index % len(PLATES)]
        plate = render_plate(text, style, rng)
        width = rng.randint(130 if style == "us" else 170, 260)
        w, h = photo.size
        centre = (rng.uniform(0.25, 0.75) * w, rng.uniform(0.55, 0.85) * h)
        composed, box = warp_onto(photo, plate, width, centre, rng, blur=rng.uniform(0.0, 1.0))
        out.append(LabelledImage(f"plate_{index:02d}_{name}", composed, plates=[box], planted=[text]))
    return out


FIRST = ("Jane", "Omar", "Lucia", "Peter", "Mei", "Carlos", "Anna", "David")
LAST = ("Roe", "Haddad", "Fernandez", "Novak", "Chen", "Okafor", "Lindqvist", "Moreau")
AREA_CODES = (212, 303, 312, 404, 415, 512, 617, 206)


def screenshots(count: int, seed: int = 11) -> list[LabelledImage]:
    """Screens of a support tool with a name, an email, a phone number and a card number drawn
    as text, among ordinary lines."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        first, last = FIRST[index % len(FIRST)], LAST[(index * 3 + 1) % len(LAST)]
        email = f"{first.lower()}.{last.lower()}{rng.randint(10, 99)}@example.com"
        phone = f"({rng.choice(AREA_CODES)}) 555-{rng.randint(1000, 9999)}"
        card = "4111 1111 1111 1111" if index % 2 else "5500 0000 0000 0004"
        lines = [
            ("Ticket #" + str(rng.randint(10000, 99999)) + " - billing question", None),
            ("Customer: " + f"{first} {last}", f"{first} {last}"),
            ("Contact email: " + email, email),
            ("Call back on " + phone + " after lunch", phone),
            ("Card on file: " + card, card),
            ("Status: waiting for the customer to confirm the refund.", None),
        ]
        size = rng.choice((20, 22, 26))
        face = font(size, bold=False)
        image = Image.new("RGB", (900, 80 + len(lines) * int(size * 2.2)), (252, 252, 250))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 899, 44), fill=(40, 70, 130))
        draw.text((16, 10), "Helpdesk", font=font(22), fill=(255, 255, 255))
        boxes: list[Box] = []
        planted: list[str] = []
        y = 70
        for line, value in lines:
            draw.text((24, y), line, font=face, fill=(25, 25, 25))
            if value is not None:
                start = line.index(value)
                x0 = 24 + draw.textlength(line[:start], font=face)
                left, top, right, bottom = draw.textbbox((x0, y), value, font=face)
                boxes.append((left, top, right, bottom))
                planted.append(value)
            y += int(size * 2.2)
        out.append(LabelledImage(f"screenshot_{index:02d}", image, pii_text=boxes, planted=planted))
    return out


def coverage(truth: Box, found: Box) -> float:
    """Share of ``truth``'s area that ``found`` covers."""
    width = min(truth[2], found[2]) - max(truth[0], found[0])
    height = min(truth[3], found[3]) - max(truth[1], found[1])
    area = (truth[2] - truth[0]) * (truth[3] - truth[1])
    return max(0.0, width) * max(0.0, height) / area if area > 0 else 0.0
