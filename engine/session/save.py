"""Saving a PNG with its provenance.

Text chunks go into the file: ``parameters`` in AUTOMATIC1111's format
(engine/credentials/a1111.py), which many tools read, ``provenance``, a JSON
record of how the image came to be, and an XMP packet when given. Chunks are
inserted into the provider's PNG byte stream as-is (no re-encoding); a ``seal``
(engine/credentials) then embeds the signed Content Credentials over the whole
file, and the file is written atomically so a crash never leaves half an image.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.config import safe_name
from engine.credentials.a1111 import parameters_text
from engine.credentials.xmp import XMP_PNG_KEYWORD

__all__ = ["SavedImage", "asset_path", "save_png", "read_provenance", "png_size", "parameters_text",
           "remove_partial_files"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class SavedImage:
    path: Path
    width: int
    height: int
    bytes: int
    sha256: str


def asset_path(assets_dir: Path, session_id: str, asset_id: str) -> Path:
    return Path(assets_dir) / safe_name(session_id) / f"{safe_name(asset_id)}.png"


def png_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", data[16:24])


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _itxt(keyword: str, text: str) -> bytes:
    # iTXt: keyword, NUL, compression flag, method, language tag NUL, translated keyword NUL, UTF-8 text
    return _chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


_TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt")
_OUR_KEYWORDS = (b"parameters", b"provenance", XMP_PNG_KEYWORD.encode())


def _without_our_keywords(image: bytes, start: int) -> bytes:
    """The chunks from ``start`` on (text may also follow the image data), minus text chunks named like ours.

    Providers (and the stand-in's renderer) may write their own ``parameters``: a
    reader would find two and could pick theirs, so theirs go; pixels are untouched.
    """
    kept, pos = [], start
    while pos + 8 <= len(image):
        length, kind = struct.unpack(">I4s", image[pos:pos + 8])
        end = pos + 12 + length
        keyword = image[pos + 8:pos + 8 + min(length, 80)].partition(b"\x00")[0]
        if not (kind in _TEXT_CHUNKS and keyword in _OUR_KEYWORDS):
            kept.append(image[pos:end])
        pos = end
    return b"".join(kept)


def save_png(path: Path, image: bytes, *, parameters: str, provenance: dict[str, Any], xmp: str | None = None,
             seal: Callable[[bytes], bytes] | None = None) -> SavedImage:
    width, height = png_size(image)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR header, IHDR body, CRC
    chunks = _itxt("parameters", parameters) + _itxt("provenance", json.dumps(provenance, default=str))
    if xmp is not None:
        chunks += _itxt(XMP_PNG_KEYWORD, xmp)
    data = image[:ihdr_end] + chunks + _without_our_keywords(image, ihdr_end)
    if seal is not None:  # last: the signature covers every byte written before it
        data = seal(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Each call writes its own temporary file (never a name another writer could share), then
    # renames it over the target atomically: two writers never interleave bytes in one file.
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{secrets.token_hex(6)}.png.part")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not keep a half image (or its space)
        raise
    return SavedImage(path=path, width=width, height=height, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def read_text_chunks(path: Path) -> dict[str, str]:
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{path} is not a PNG")
    out, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"iTXt":
            keyword, _, rest = body.partition(b"\x00")
            # skip compression flag, method, language tag and translated keyword
            rest = rest[2:]
            _, _, rest = rest.partition(b"\x00")
            _, _, text = rest.partition(b"\x00")
            out[keyword.decode("latin-1")] = text.decode("utf-8")
        elif kind == b"tEXt":
            keyword, _, text = body.partition(b"\x00")
            out[keyword.decode("latin-1")] = text.decode("latin-1")
        elif kind == b"IDAT" or kind == b"IEND":
            break
        pos += 12 + length
    return out


def remove_partial_files(folder: Path) -> int:
    """Delete the temporary ``*.png.part`` files a crash cut short in ``folder``; returns how many."""
    removed = 0
    for partial in Path(folder).glob("*.png.part"):
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


def read_provenance(path: Path) -> dict[str, Any] | None:
    try:
        text = read_text_chunks(path).get("provenance")
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None
