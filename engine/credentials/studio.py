"""The studio's credentials as the saver uses them: XMP for every image, a signature when signing is on."""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from engine.credentials.authority import Authority, CredentialOptions, CredentialsError, open_authority
from engine.credentials.manifest import creation_manifest
from engine.credentials.sign import SigningFailed, sign_image
from engine.credentials.xmp import xmp_for_provenance

__all__ = ["StudioCredentials", "Seal", "SIGNED", "SIGNING_FAILED", "SIGNING_OFF", "CREDENTIAL_STATUSES"]

log = logging.getLogger(__name__)

# What ``image_saved.credentials`` says about a saved file.
SIGNED, SIGNING_FAILED, SIGNING_OFF = "signed", "signing_failed", "off"
CREDENTIAL_STATUSES = (SIGNED, SIGNING_FAILED, SIGNING_OFF)


@dataclass
class Seal:
    """Signs one image's bytes (called in the saver's thread); ``status`` tells what happened."""

    authority: Authority
    manifest: dict
    status: str = field(default=SIGNING_OFF)

    def __call__(self, data: bytes) -> bytes:
        try:
            signed = sign_image(data, self.manifest, self.authority)
        except SigningFailed as exc:  # an unsigned image beats a lost paid one; the event says so
            log.warning("%s: saved without Content Credentials", exc)
            self.status = SIGNING_FAILED
            return data
        self.status = SIGNED
        return signed


def _probe(authority: Authority) -> None:
    """Sign a 1-pixel image at start, so a chain the signer refuses stops the engine, not each image."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    try:
        sign_image(buffer.getvalue(), {"claim_generator_info": [{"name": "assetgen"}], "title": "probe.png"}, authority)
    except SigningFailed as exc:
        raise CredentialsError(f"the organisation's signing chain was refused ({exc}): the signing certificate "
                               "needs the digitalSignature key usage, an extended key usage C2PA accepts "
                               "(emailProtection, documentSigning or c2pa-kp-claimSigning), subject and "
                               "authority key identifiers, and must not be self-signed") from None


class StudioCredentials:
    def __init__(self, *, authority: Authority | None, organisation: str):
        self.authority = authority
        self.organisation = organisation

    @property
    def signing(self) -> bool:
        return self.authority is not None

    @classmethod
    def open(cls, data_dir: Path, *, signing: bool = True, options: CredentialOptions | None = None
             ) -> "StudioCredentials":
        """The studio's credentials; with ``signing`` the signing identity is created on first use."""
        options = options or CredentialOptions.from_env()
        authority = open_authority(data_dir, options) if signing else None
        if authority is not None and authority.source == "organisation":
            _probe(authority)
        return cls(authority=authority, organisation=options.organisation)

    def xmp(self, provenance: dict) -> str:
        return xmp_for_provenance(provenance, organisation=self.organisation)

    def seal(self, provenance: dict, *, title: str) -> Seal | None:
        if self.authority is None:
            return None
        return Seal(self.authority, creation_manifest(provenance, title=title))
