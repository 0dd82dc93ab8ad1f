"""Checking an image's Content Credentials: present, signed, trusted, unchanged, and matching the studio's record.

The reader validates against the studio's trust anchors (``authority.read_anchors``),
offline. Each check is ``True``/``False`` or ``None`` when it could not be made (no
manifest, no record). The studio's record is looked up by the item id the manifest's
studio assertion names (for a rendition: its original's), and compared with the
``items`` row and the decision behind it.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from engine.credentials.manifest import STUDIO_ASSERTION, prompt_sha256
from engine.credentials.sign import reader_settings

__all__ = ["Verdict", "badge", "CHECKS", "verify_file", "verify_bytes", "read_manifest_store", "active_manifest", "studio_assertion",
           "compare_with_record", "HASH_MISMATCH", "CONTENT_FAILURES"]

HASH_MISMATCH = "assertion.dataHash.mismatch"
_SIGNATURE_FAILURES = ("claimSignature.mismatch", "claimSignature.missing", "signingCredential.invalid",
                       "signingCredential.expired", "signingCredential.revoked", "claimSignature.outsideValidity")
CONTENT_FAILURES = (HASH_MISMATCH, "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch",
                     "assertion.hashedURI.mismatch", "assertion.dataHash.malformed")


@dataclass
class Verdict:
    path: str
    manifest_present: bool = False
    signature_valid: bool | None = None
    signer_trusted: bool | None = None
    content_unchanged: bool | None = None
    record_matches: bool | None = None
    state: str = "none"  # the reader's validation state: Trusted | Valid | Invalid, or none
    signer: str = ""
    failures: list[str] = field(default_factory=list)  # validation codes, e.g. assertion.dataHash.mismatch
    record_problems: list[str] = field(default_factory=list)
    studio: dict[str, Any] | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.manifest_present and self.signature_valid and self.signer_trusted
                    and self.content_unchanged and self.record_matches is not False)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "manifest_present": self.manifest_present,
                "signature_valid": self.signature_valid, "signer_trusted": self.signer_trusted,
                "content_unchanged": self.content_unchanged, "record_matches": self.record_matches,
                "state": self.state, "signer": self.signer, "failures": self.failures,
                "record_problems": self.record_problems, "studio": self.studio, "error": self.error}


# (attribute, what it checks) in the order a reader asks them; the gallery and `assetgen verify` show these.
CHECKS = (("manifest_present", "manifest present"), ("signature_valid", "signature valid"),
          ("signer_trusted", "signer trusted by the studio's anchors"), ("content_unchanged", "content unchanged"),
          ("record_matches", "matches the studio's record"))


def badge(verdict: Verdict) -> tuple[str, str]:
    """A one-line summary of a verdict and its colour (green, orange, red, grey), worst finding first."""
    if not verdict.manifest_present:
        return ("no Content Credentials", "grey")
    if verdict.content_unchanged is False:
        return ("altered since signing", "red")
    if not verdict.signature_valid:
        return ("invalid signature", "red")
    if not verdict.signer_trusted:
        return ("signed, signer not trusted", "orange")
    if verdict.record_matches is False:
        return ("differs from the studio's record", "orange")
    return ("Content Credentials verified", "green")


def read_manifest_store(data: bytes, mime: str, anchors_pem: str | None) -> tuple[dict, dict] | None:
    """(the manifest store, validation results) or None when the file carries no manifest."""
    context = c2pa.Context.from_dict(reader_settings(anchors_pem))
    reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=context)
    if reader is None:
        return None
    with reader:
        return json.loads(reader.json()), reader.get_validation_results() or {}


def active_manifest(store: dict) -> dict:
    return store.get("manifests", {}).get(store.get("active_manifest"), {})


def studio_assertion(store: dict) -> dict | None:
    """The studio's assertion in the active manifest or, for a rendition, in the manifest of its original."""
    manifests, label, seen = store.get("manifests", {}), store.get("active_manifest"), set()
    while label in manifests and label not in seen:
        seen.add(label)
        for assertion in manifests[label].get("assertions", []):
            if assertion.get("label") == STUDIO_ASSERTION:
                return assertion.get("data")
        parent = next((i for i in manifests[label].get("ingredients", []) if i.get("relationship") == "parentOf"),
                      {})
        label = parent.get("active_manifest")
    return None


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


def verify_bytes(data: bytes, *, path: str = "", anchors_pem: str | None, store=None) -> Verdict:
    verdict = Verdict(path=path)
    try:
        found = read_manifest_store(data, _sniff(data), anchors_pem)
    except c2pa.C2paError as exc:
        verdict.error = f"the manifest cannot be read: {exc}"
        verdict.failures.append("manifest.unreadable")
        return verdict
    if found is None:
        return verdict
    manifests, results = found
    manifest = active_manifest(manifests)
    verdict.manifest_present = True
    active = results.get("activeManifest", {})
    codes_ok = {entry["code"] for entry in active.get("success", [])}
    verdict.failures = [entry["code"] for entry in active.get("failure", [])]
    failed = set(verdict.failures)
    verdict.signature_valid = "claimSignature.validated" in codes_ok and not failed & set(_SIGNATURE_FAILURES)
    verdict.signer_trusted = "signingCredential.trusted" in codes_ok
    verdict.content_unchanged = not failed & set(CONTENT_FAILURES) and any(c.endswith("Hash.match") for c in codes_ok)
    info = manifest.get("signature_info") or {}
    verdict.signer = ", ".join(x for x in (info.get("common_name"), info.get("issuer")) if x)
    verdict.state = "Invalid" if verdict.failures else ("Trusted" if verdict.signer_trusted else "Valid")
    verdict.studio = studio_assertion(manifests)
    if store is not None and verdict.studio:
        verdict.record_problems = compare_with_record(verdict.studio, store)
        verdict.record_matches = not verdict.record_problems
    return verdict


def verify_file(path: Path, *, anchors_pem: str | None, store=None) -> Verdict:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Verdict(path=str(path), error=f"cannot read {path}: {exc.strerror}")
    return verify_bytes(data, path=str(path), anchors_pem=anchors_pem, store=store)


def compare_with_record(studio: dict, store) -> list[str]:
    """Where the manifest's studio assertion and the studio's own database disagree (empty: they agree)."""
    rows = store.query_dicts("SELECT session_id, final_prompt, cost_usd, status FROM items WHERE item_id = ?",
                             [studio.get("item_id")])
    if not rows:
        return [f"the studio has no record of item {studio.get('item_id')!r}"]
    row, problems = rows[0], []
    if row["session_id"] != studio.get("session_id"):
        problems.append(f"session: manifest {studio.get('session_id')}, studio {row['session_id']}")
    if prompt_sha256(row["final_prompt"]) != studio.get("prompt_sha256"):
        problems.append("prompt: the manifest's prompt hash is not the studio's final prompt")
    recorded, claimed = row["cost_usd"], studio.get("cost_usd")
    if claimed is None or recorded is None or not math.isclose(recorded, claimed, abs_tol=1e-6):
        problems.append(f"cost: manifest {claimed}, studio {recorded}")
    decision = studio.get("decision") or {}
    if decision.get("decision_id") is not None:
        found = store.query_dicts("SELECT decided_by, action FROM decisions WHERE decision_id = ?",
                                  [decision["decision_id"]])
        if not found:
            problems.append(f"decision: #{decision['decision_id']} is not in the studio's decisions")
        elif found[0]["decided_by"] != decision.get("decided_by"):
            problems.append(f"decision: manifest says {decision.get('decided_by')}, studio {found[0]['decided_by']}")
    return problems
