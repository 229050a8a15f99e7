"""Draw the GridFlex brand images into custom_components/gridflex/brand/.

The motif is a house outline whose roofline is a grid wave, with a lightning
bolt inside, in a teal-to-green gradient on a transparent background. The logo
adds the word "GridFlex" next to it.

Run from anywhere with the project's Python; it needs Pillow (installed in the venv):

    .venv/bin/python scripts/make_brand.py
"""

from __future__ import annotations

from itertools import pairwise
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND_DIR = Path(__file__).resolve().parent.parent / "custom_components/gridflex/brand"

# Everything is drawn SUPERSAMPLE times larger, then scaled down for smooth edges.
SUPERSAMPLE = 4

TEAL = (14, 150, 160)
GREEN = (67, 185, 127)
WORD_GRID = (16, 128, 138)
WORD_FLEX = (52, 170, 110)

FONT_CANDIDATES = (
    "DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "Arial Bold.ttf",
    "arialbd.ttf",
)

# Geometry of the mark in a 256 x 256 design space.
STROKE = 18
ROOF_LEFT, ROOF_RIGHT = 22.0, 234.0
ROOF_EAVE_Y, ROOF_APEX_Y = 128.0, 30.0
WALL_LEFT, WALL_RIGHT = 60.0, 196.0
FLOOR_Y = 224.0
CORNER = 22.0
BOLT = (
    (140.0, 92.0),
    (100.0, 160.0),
    (126.0, 160.0),
    (114.0, 210.0),
    (160.0, 136.0),
    (133.0, 136.0),
    (150.0, 92.0),
)


def roof_y(x: float) -> float:
    """Height of the roofline: one period of a cosine wave, crest in the middle."""
    middle = (ROOF_LEFT + ROOF_RIGHT) / 2
    half_span = (ROOF_RIGHT - ROOF_LEFT) / 2
    amplitude = (ROOF_EAVE_Y - ROOF_APEX_Y) / 2
    phase = math.pi * (x - middle) / half_span
    return ROOF_APEX_Y + amplitude * (1 - math.cos(phase))


def gradient(size: tuple[int, int]) -> Image.Image:
    """A diagonal teal-to-green gradient."""
    width, height = size
    ramp = Image.linear_gradient("L").resize((width + height, width + height))
    ramp = ramp.rotate(45, resample=Image.Resampling.BICUBIC).resize(size)
    return Image.composite(
        Image.new("RGB", size, GREEN), Image.new("RGB", size, TEAL), ramp
    )


def stroke(
    draw: ImageDraw.ImageDraw,
    points: list[tuple[float, float]],
    width: float,
    scale: float,
) -> None:
    """A polyline with round joins and round caps.

    Every segment is drawn on its own and every vertex gets a disc, which
    leaves no notches where segments meet at an angle.
    """
    scaled = [(x * scale, y * scale) for x, y in points]
    radius = width * scale / 2
    for start, end in pairwise(scaled):
        draw.line((start, end), fill=255, width=round(width * scale))
    for x, y in scaled:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)


def walls() -> list[tuple[float, float]]:
    """Left wall, floor and right wall with rounded bottom corners."""
    points: list[tuple[float, float]] = [(WALL_LEFT, roof_y(WALL_LEFT) + 6)]
    for x_centre, start in ((WALL_LEFT + CORNER, 180), (WALL_RIGHT - CORNER, 90)):
        for step in range(0, 91, 5):
            angle = math.radians(start - step)
            points.append(
                (
                    x_centre + CORNER * math.cos(angle),
                    FLOOR_Y - CORNER + CORNER * math.sin(angle),
                )
            )
    points.append((WALL_RIGHT, roof_y(WALL_RIGHT) + 6))
    return points


def mark_mask(size: int) -> Image.Image:
    """Alpha mask of the mark on a ``size`` x ``size`` canvas (supersampled)."""
    scale = size * SUPERSAMPLE / 256
    mask = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(mask)
    roof_xs = [ROOF_LEFT + i * (ROOF_RIGHT - ROOF_LEFT) / 120 for i in range(121)]
    stroke(draw, [(x, roof_y(x)) for x in roof_xs], STROKE, scale)
    stroke(draw, walls(), STROKE, scale)
    draw.polygon([(x * scale, y * scale) for x, y in BOLT], fill=255)
    return mask


def render_mark(size: int) -> Image.Image:
    """The mark alone, ``size`` x ``size``, transparent background."""
    mask = mark_mask(size)
    big = gradient(mask.size).convert("RGBA")
    big.putalpha(mask)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A bold sans-serif font, falling back to Pillow's built-in one."""
    for candidate in FONT_CANDIDATES:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def render_logo(height: int) -> Image.Image:
    """Mark plus the word "GridFlex", ``height`` pixels high, trimmed to content."""
    big_height = height * SUPERSAMPLE
    font = load_font(round(big_height * 0.46))
    mark = render_mark(big_height)
    words = (("Grid", WORD_GRID), ("Flex", WORD_FLEX))
    widths = [font.getlength(text) for text, _ in words]
    gap = big_height * 0.08
    canvas = Image.new(
        "RGBA", (round(big_height + gap + sum(widths) + big_height), big_height)
    )
    canvas.alpha_composite(mark)
    draw = ImageDraw.Draw(canvas)
    x = big_height + gap
    baseline = big_height * 0.68
    for (text, colour), width in zip(words, widths, strict=True):
        draw.text((x, baseline), text, font=font, fill=(*colour, 255), anchor="ls")
        x += width
    bbox = canvas.getbbox()
    assert bbox is not None
    canvas = canvas.crop((0, 0, bbox[2] + round(big_height * 0.02), big_height))
    return canvas.resize(
        (round(canvas.width / SUPERSAMPLE), height), Image.Resampling.LANCZOS
    )


def trim_to_square(image: Image.Image, size: int) -> Image.Image:
    """Centre the visible part of ``image`` on a ``size`` x ``size`` canvas."""
    box = image.getchannel("A").getbbox()
    assert box is not None
    content = image.crop(box)
    factor = size / max(content.size)
    content = content.resize(
        (round(content.width * factor), round(content.height * factor)),
        Image.Resampling.LANCZOS,
    )
    square = Image.new("RGBA", (size, size))
    square.alpha_composite(
        content, ((size - content.width) // 2, (size - content.height) // 2)
    )
    return square


def main() -> None:
    """Write icon.png, icon@2x.png, logo.png and logo@2x.png."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    outputs = {
        "icon.png": trim_to_square(render_mark(1024), 256),
        "icon@2x.png": trim_to_square(render_mark(1024), 512),
        "logo.png": render_logo(160),
        "logo@2x.png": render_logo(320),
    }
    for name, image in outputs.items():
        path = BRAND_DIR / name
        image.save(path, optimize=True)
        print(f"{path.relative_to(BRAND_DIR.parent.parent.parent)}: {image.size}")


if __name__ == "__main__":
    main()
