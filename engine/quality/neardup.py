"""Near-duplicates: perceptual-hash distance to every saved image of the library.

imagehash's pHash (DCT of a 32² greyscale) survives resizing and re-encoding:
measured here, a resized copy is at distance 0 and a noisy one at 2, while
different brand images of the same palette sit at 20 and more. An image within
``max_distance`` of an image of *another* asset is flagged with that asset's id
(a new attempt at the same asset is expected to look like the last one).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

from engine.quality.check import AT_LEAST, Check, measured
from engine.quality.pixels import Pixels

__all__ = ["LibraryIndex", "LibraryEntry", "near_duplicate_check", "phash_of", "VERSION"]

VERSION = "near_duplicate/1 (imagehash pHash 64-bit, Hamming distance)"


def phash_of(pixels: Pixels) -> str:
    """pHash of the ~256 px luminance the sharpness check already made (hashing 1024² costs 10x more;
    pHash reduces to 32² anyway)."""
    grey = Image.fromarray(np.round(pixels.grey_small * 255).astype(np.uint8), "L")
    return str(imagehash.phash(grey))


@dataclass(frozen=True)
class LibraryEntry:
    asset_id: str
    item_id: str | None
    path: str
    phash: str


class LibraryIndex:
    """The pHashes of saved images; thread-safe (scoring runs in worker threads)."""

    def __init__(self, entries: list[LibraryEntry] | None = None):
        self._lock = threading.Lock()
        self._entries: dict[str, LibraryEntry] = {}  # by path: a re-scored file replaces its entry
        self._hashes: dict[str, imagehash.ImageHash] = {}
        for entry in entries or []:
            self.add(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: LibraryEntry) -> None:
        with self._lock:
            self._entries[entry.path] = entry
            self._hashes[entry.path] = imagehash.hex_to_hash(entry.phash)

    def nearest(self, phash: str, *, exclude_asset: str | None, exclude_path: str | None = None
                ) -> tuple[LibraryEntry | None, int | None]:
        probe = imagehash.hex_to_hash(phash)
        with self._lock:
            best, best_distance = None, None
            for path, entry in self._entries.items():
                if entry.asset_id == exclude_asset or path == exclude_path:
                    continue
                distance = int(probe - self._hashes[path])  # numpy int64: not JSON
                if best_distance is None or distance < best_distance:
                    best, best_distance = entry, distance
        return best, best_distance


def near_duplicate_check(phash: str, library: LibraryIndex | None, *, asset_id: str | None, path: str | None,
                         max_distance: int) -> Check:
    """Passes when the nearest image of another asset is farther than ``max_distance`` (value: that distance)."""
    nearest, distance = (library.nearest(phash, exclude_asset=asset_id, exclude_path=path)
                         if library is not None else (None, None))
    if nearest is None:
        return Check(name="near_duplicate", value=None, threshold=float(max_distance + 1), op=AT_LEAST, passed=True,
                     version=VERSION, note="no other asset's image in the library to compare with",
                     detail={"phash": phash, "compared": 0})
    detail = {"phash": phash, "compared": len(library), "nearest_asset_id": nearest.asset_id,
              "nearest_item_id": nearest.item_id, "nearest_path": nearest.path, "distance": distance}
    duplicate = distance <= max_distance
    note = (f"near-duplicate of {nearest.asset_id} (pHash distance {distance} ≤ {max_distance})" if duplicate
            else f"nearest other asset {nearest.asset_id} at pHash distance {distance}")
    if duplicate:
        detail["duplicate_of"] = nearest.asset_id
    return measured("near_duplicate", distance, max_distance + 1, AT_LEAST, version=VERSION, note=note, detail=detail)
