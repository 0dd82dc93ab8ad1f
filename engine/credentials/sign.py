"""Embedding a signed C2PA manifest into image bytes (PNG, WebP, JPEG), off the event loop.

Callers run this in a worker thread (the saver's ``asyncio.to_thread``): the native
library does the hashing and signing with the GIL released. A thumbnail is not embedded
(it would double a PNG's size and the signing time) and the signed image is not re-read
(``verify_after_sign``); remote manifests and OCSP are never fetched, so signing works offline.
"""
from __future__ import annotations

import io
import struct
import threading
from typing import Any

import c2pa

from engine.credentials.authority import Authority

__all__ = ["sign_image", "png_has_manifest", "reader_settings", "SigningFailed", "MIME_BY_FORMAT"]

MIME_BY_FORMAT = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_local = threading.local()  # per thread: native objects are not shared between threads


class SigningFailed(RuntimeError):
    """The native library refused to sign; the message carries its reason (never key material)."""


def png_has_manifest(data: bytes) -> bool:
    """Whether a PNG carries an embedded C2PA manifest (its ``caBX`` chunk), without reading or validating it."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"caBX":
            return True
        if kind == b"IEND":
            break
        pos += 12 + length
    return False


def reader_settings(anchors_pem: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
    return settings


def _tools(authority: Authority) -> tuple[c2pa.Context, c2pa.Signer]:
    """This thread's native Context and Signer for ``authority``: making them costs more than a signature."""
    key = (authority.chain_pem, authority.anchors_pem, str(authority.key_path), authority.tsa_url)
    cached = getattr(_local, "tools", None)
    if cached is None:
        cached = _local.tools = {}
    if key not in cached:
        settings = reader_settings(authority.anchors_pem)
        # verify_after_sign re-reads every image just written: half the signing time on the saver's thread.
        # The suite reads signed images with the reader instead, and `assetgen verify` does so on demand.
        settings["verify"]["verify_after_sign"] = False
        settings["builder"] = {"thumbnail": {"enabled": False}}
        info = c2pa.C2paSignerInfo(authority.algorithm.encode(), authority.chain_pem.encode(),
                                   authority.private_key_pem(),
                                   authority.tsa_url.encode() if authority.tsa_url else None)
        cached[key] = (c2pa.Context.from_dict(settings), c2pa.Signer.from_info(info))
        del info  # the key's bytes now live only inside the native signer
    return cached[key]


def sign_image(data: bytes, manifest: dict[str, Any], authority: Authority, *, mime: str = "image/png",
               ingredient: tuple[dict[str, Any], str, bytes] | None = None) -> bytes:
    """``data`` with ``manifest`` embedded and signed; ``ingredient`` is (its JSON, its MIME type, its bytes)."""
    out = io.BytesIO()
    try:
        context, signer = _tools(authority)
        builder = c2pa.Builder(manifest, context=context)
        if ingredient is not None:
            ingredient_json, ingredient_mime, ingredient_bytes = ingredient
            builder.add_ingredient(ingredient_json, ingredient_mime, io.BytesIO(ingredient_bytes))
        builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise SigningFailed(f"signing the {mime} image failed: {exc}") from None
    except OSError as exc:  # the key file went missing or unreadable since start
        raise SigningFailed(f"the signing key {authority.key_path} cannot be read ({exc.strerror})") from None
    return out.getvalue()
