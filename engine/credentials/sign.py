"""Embedding a signed C2PA manifest into image bytes (PNG, WebP, JPEG), off the event loop.

Callers run this in a worker thread (the saver's ``asyncio.to_thread``): the native
library does the hashing and signing with the GIL released. A thumbnail is not embedded
(it would double a PNG's size and the signing time); remote manifests and OCSP are never
fetched, so signing works offline.
"""
from __future__ import annotations

import io
import threading
from typing import Any

import c2pa

from .authority import Authority

__all__ = ["sign_image", "reader_settings", "SigningFailed", "MIME_BY_FORMAT"]

MIME_BY_FORMAT = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_local = threading.local()  # one native Context per thread and authority: building one costs more than a signature


class SigningFailed(RuntimeError):
    """The native library refused to sign; the message carries its reason (never key material)."""


def reader_settings(anchors_pem: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem}
    return settings


def _context(authority: Authority) -> c2pa.Context:
    key = (authority.chain_pem, authority.anchors_pem)
    cached = getattr(_local, "contexts", None)
    if cached is None:
        cached = _local.contexts = {}
    if key not in cached:
        settings = reader_settings(authority.anchors_pem)
        settings["builder"] = {"thumbnail": {"enabled": False}}
        cached[key] = c2pa.Context.from_dict(settings)
    return cached[key]


def sign_image(data: bytes, manifest: dict[str, Any], authority: Authority, *, mime: str = "image/png",
               ingredient: tuple[dict[str, Any], str, bytes] | None = None) -> bytes:
    """``data`` with ``manifest`` embedded and signed; ``ingredient`` is (its JSON, its MIME type, its bytes)."""
    info = c2pa.C2paSignerInfo(authority.algorithm.encode(), authority.chain_pem.encode(),
                               authority.private_key_pem(), authority.tsa_url.encode() if authority.tsa_url else None)
    out = io.BytesIO()
    try:
        signer = c2pa.Signer.from_info(info)
        try:
            builder = c2pa.Builder(manifest, context=_context(authority))
            if ingredient is not None:
                ingredient_json, ingredient_mime, ingredient_bytes = ingredient
                builder.add_ingredient(ingredient_json, ingredient_mime, io.BytesIO(ingredient_bytes))
            builder.sign(signer, mime, io.BytesIO(data), out)
        finally:
            signer.close()
    except c2pa.C2paError as exc:
        raise SigningFailed(f"signing the {mime} image failed: {exc}") from None
    finally:
        del info  # the key's bytes: drop our reference at once
    return out.getvalue()
