"""Images for the quality tests: stand-in renders of catalog assets, and ways to spoil them."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from engine.templates.catalog import load_catalog
from engine.images import image_dimensions
from engine.providers.standin.render import render_image
from engine.templates.brief import build_brief, default_template

TEMPLATE = default_template()
CATALOG = load_catalog(None)


def standin_image(asset_id: str, *, seed: int = 0) -> bytes:
    asset = CATALOG.get(asset_id)
    width, height = image_dimensions({"aspect_ratio": asset.aspect_ratio, "image_size": "1K"})
    return render_image(build_brief(asset, TEMPLATE).text, width=width, height=height, seed=seed)


def png_of(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def hue_rotated(png: bytes, degrees: float = 120) -> bytes:
    hsv = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + round(degrees / 360 * 256)) % 256
    return png_of(Image.fromarray(hsv, "HSV").convert("RGB"))


def blurred(png: bytes, radius: float = 10) -> bytes:
    return png_of(Image.open(io.BytesIO(png)).convert("RGB").filter(ImageFilter.GaussianBlur(radius)))


def resized(png: bytes, width: int, height: int) -> bytes:
    return png_of(Image.open(io.BytesIO(png)).convert("RGB").resize((width, height)))


def card_with_text(lines: list[str], *, size: tuple[int, int] = (896, 1152)) -> bytes:
    """A brand social card whose headline is real lettering (navy on ivory)."""
    img = Image.new("RGB", size, "#F5EFE3")
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, size[0], size[1] * 0.3], fill="#1F2A44")
    font = ImageFont.load_default(size=64)
    top = size[1] * 0.4
    for line in lines:
        d.text((70, top), line, fill="#1F2A44", font=font)
        top += 90
    return png_of(img)
