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


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values)
    return np.unpackbits(values.view(np.uint8)).reshape(-1, 64).sum(axis=1)


def _hash_bits(phash: str) -> int:
    if len(phash) != 16:
        raise ValueError(f"pHash {phash!r} is not 64 bits (16 hex digits)")
    return int(phash, 16)


class LibraryIndex:
    """The pHashes of saved images; thread-safe (scoring may run in worker threads).

    Hashes sit in one uint64 array, so the nearest image is an XOR and a popcount over the whole
    library in numpy: a few microseconds per thousand images, where a Python loop over imagehash
    objects made every new image cost more than the last (issue 14: flat time per item at 50,000).
    """

    def __init__(self, entries: list[LibraryEntry] | None = None):
        self._lock = threading.Lock()
        self._slot_of_path: dict[str, int] = {}  # a re-scored file replaces its entry, in place
        self._entries: list[LibraryEntry] = []
        self._hashes = np.zeros(64, dtype=np.uint64)
        self._asset_codes = np.zeros(64, dtype=np.int64)
        self._code_of_asset: dict[str, int] = {}
        for entry in entries or []:
            self.add(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: LibraryEntry) -> None:
        bits = _hash_bits(entry.phash)
        with self._lock:
            code = self._code_of_asset.setdefault(entry.asset_id, len(self._code_of_asset))
            slot = self._slot_of_path.get(entry.path)
            if slot is None:
                slot = self._slot_of_path[entry.path] = len(self._entries)
                self._entries.append(entry)
                if slot == len(self._hashes):
                    self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
                    self._asset_codes = np.concatenate([self._asset_codes, np.zeros_like(self._asset_codes)])
            else:
                self._entries[slot] = entry
            self._hashes[slot] = bits
            self._asset_codes[slot] = code

    def nearest(self, phash: str, *, exclude_asset: str | None, exclude_path: str | None = None
                ) -> tuple[LibraryEntry | None, int | None]:
        """The closest image of another asset (the first added, among equals) and its distance."""
        probe = np.uint64(_hash_bits(phash))
        with self._lock:
            count = len(self._entries)
            if not count:
                return None, None
            distances = _popcount(self._hashes[:count] ^ probe).astype(np.int64)
            excluded = self._code_of_asset.get(exclude_asset) if exclude_asset is not None else None
            if excluded is not None:
                distances[self._asset_codes[:count] == excluded] = _NOT_A_CANDIDATE
            slot = self._slot_of_path.get(exclude_path) if exclude_path is not None else None
            if slot is not None:
                distances[slot] = _NOT_A_CANDIDATE
            best = int(np.argmin(distances))
            if distances[best] == _NOT_A_CANDIDATE:
                return None, None
            return self._entries[best], int(distances[best])


_NOT_A_CANDIDATE = 65  # farther than any two 64-bit hashes can be


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
