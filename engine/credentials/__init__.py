"""Content Credentials (C2PA), AI disclosure and the metadata image tools read.

One module per concept: ``authority`` (who signs), ``manifest`` (what is asserted),
``sign`` (embedding a signed manifest), ``xmp`` (IPTC/XMP), ``a1111`` (the
``parameters`` chunk), ``verify`` (checking a file), ``export`` (delivery renditions)
and ``studio`` (what the saver uses).
"""
from .studio import CREDENTIAL_STATUSES, SIGNED, SIGNING_FAILED, SIGNING_OFF, Seal, StudioCredentials

__all__ = ["StudioCredentials", "Seal", "SIGNED", "SIGNING_FAILED", "SIGNING_OFF", "CREDENTIAL_STATUSES"]
