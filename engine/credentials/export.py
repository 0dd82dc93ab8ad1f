"""Delivery renditions (PNG, WebP, JPEG at a width) that keep the chain of Content Credentials.

A rendition is re-encoded from the saved original by Pillow, keeps the original's XMP
(title, creator, credit, digital source type), and carries its own manifest naming the
original as ``parentOf`` ingredient with ``c2pa.opened`` plus ``c2pa.resized`` and/or
``c2pa.transcoded``: a verifier sees the rendition's signature, and through the
ingredient, the original's studio assertion and its validation.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

from engine.config import safe_name
from engine.credentials.manifest import ORIGINAL_INGREDIENT, rendition_manifest
from engine.credentials.sign import MIME_BY_FORMAT, sign_image
from engine.credentials.studio import SIGNED, SIGNING_OFF, StudioCredentials
from engine.credentials.xmp import XMP_PNG_KEYWORD

__all__ = ["FORMATS", "Rendition", "ExportError", "find_saved_item", "export_rendition", "rendition_path"]

FORMATS = tuple(MIME_BY_FORMAT)
_EXTENSION = {"png": "png", "webp": "webp", "jpeg": "jpg"}
_QUALITY = 90


class ExportError(ValueError):
    """A rendition cannot be made; the message says what to change."""


@dataclass(frozen=True)
class Rendition:
    path: Path
    width: int
    height: int
    format: str
    bytes: int
    credentials: str  # signed | off


def find_saved_item(store, ident: str) -> dict:
    """The saved item ``ident`` names: an item id (``<session>:<asset>``) or an asset id (its newest image)."""
    rows = store.query_dicts(
        "SELECT item_id, session_id, asset_id, image_path FROM items WHERE status = 'saved' "
        "AND image_path IS NOT NULL AND (item_id = ? OR asset_id = ?) "
        "ORDER BY item_id = ? DESC, finished_at DESC NULLS LAST LIMIT 1", [ident, ident, ident])
    if not rows:
        raise ExportError(f"no saved image for {ident!r}: give an asset id or an item id (<session>:<asset>), "
                          "e.g. from `assetgen sql \"select item_id from items where status = 'saved'\"`")
    return rows[0]


def rendition_path(out_dir: Path, item: dict, *, fmt: str, width: int) -> Path:
    name = f"{safe_name(item['asset_id'])}-w{width}.{_EXTENSION[fmt]}"
    return Path(out_dir) / safe_name(item["session_id"]) / name


def _encode(image: Image.Image, fmt: str, xmp: str | None) -> bytes:
    buffer = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if xmp:
            info.add_itxt(XMP_PNG_KEYWORD, xmp)
        image.save(buffer, "PNG", pnginfo=info, optimize=False)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=_QUALITY, method=4, **({"xmp": xmp.encode()} if xmp else {}))
    else:
        flat = image.convert("RGB") if image.mode != "RGB" else image  # JPEG has no alpha
        flat.save(buffer, "JPEG", quality=_QUALITY, **({"xmp": xmp.encode()} if xmp else {}))
    return buffer.getvalue()


def export_rendition(source: Path, dest: Path, *, fmt: str, width: int | None,
                     credentials: StudioCredentials) -> Rendition:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    original = Path(source).read_bytes()
    with Image.open(io.BytesIO(original)) as image:
        image.load()
        xmp = image.info.get(XMP_PNG_KEYWORD)
        source_format = (image.format or "png").lower()
        width = width or image.width
        if width > image.width:
            raise ExportError(f"--width {width} is wider than the original ({image.width} px): renditions never "
                              "upscale; give a smaller width or none for the original's")
        height = max(1, round(image.height * width / image.width))
        resized = (width, height) != image.size
        frame = image.resize((width, height), Image.Resampling.LANCZOS) if resized else image.copy()
    data = _encode(frame, fmt, xmp)
    status = SIGNING_OFF
    if credentials.authority is not None:
        manifest = rendition_manifest(title=dest.name, width=width, height=height, mime=MIME_BY_FORMAT[fmt],
                                      resized=resized, transcoded=fmt != source_format)
        ingredient = ({"title": Path(source).name, "relationship": "parentOf", "label": ORIGINAL_INGREDIENT},
                      MIME_BY_FORMAT.get(source_format, "image/png"), original)
        data = sign_image(data, manifest, credentials.authority, mime=MIME_BY_FORMAT[fmt], ingredient=ingredient)
        status = SIGNED
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return Rendition(path=dest, width=width, height=height, format=fmt, bytes=len(data), credentials=status)
