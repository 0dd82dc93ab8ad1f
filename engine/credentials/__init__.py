"""Content Credentials (C2PA), AI disclosure and the metadata image tools read.

One module per concept: ``authority`` (who signs), ``manifest`` (what is asserted),
``sign`` (embedding a signed manifest), ``xmp`` (IPTC/XMP), ``a1111`` (the
``parameters`` chunk), ``verify`` (checking a file), ``export`` (delivery renditions)
and ``studio`` (what the saver uses). The names below load ``studio`` on first use, so
importing a light module (``a1111``, ``xmp``) does not load the native C2PA library.
"""
from __future__ import annotations

from typing import Any

__all__ = ["StudioCredentials", "Seal", "SIGNED", "SIGNING_FAILED", "SIGNING_OFF", "CREDENTIAL_STATUSES"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from engine.credentials import studio

        return getattr(studio, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
