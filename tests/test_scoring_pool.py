"""Scoring in worker processes gives the scorecard in-process scoring gives, and survives a killed worker."""
from __future__ import annotations

import asyncio
import os
import signal

from engine.quality.neardup import LibraryEntry, LibraryIndex, phash_of
from engine.quality.pixels import load_pixels
from engine.quality.scorecard import score_asset_image
from engine.session import scoring_pool
from engine.session.scoring_pool import score_in_pool
from tests.quality_images import CATALOG, TEMPLATE, resized, standin_image


def _asset(asset_id: str):
    return next(a for a in CATALOG.assets if a.id == asset_id)


def _in_pool(png: bytes, asset_id: str, library: LibraryIndex) -> object:
    return asyncio.run(score_in_pool(png, _asset(asset_id), TEMPLATE.body, path=f"/lib/{asset_id}-new.png",
                                     library=library, duplicate_max_distance=6))


def _values(card) -> dict:
    return {c.name: (c.value, c.passed) for c in card.checks}


def test_a_worker_scores_as_the_engine_would_and_the_library_check_is_the_engines():
    original = standin_image("icon-will")
    library = LibraryIndex([LibraryEntry("icon-will", "s1:icon-will", "/lib/icon-will.png",
                                         phash_of(load_pixels(original)))])
    copy = resized(original, 640, 640)
    pooled = _in_pool(copy, "icon-living-trust", library)
    local = score_asset_image(copy, _asset("icon-living-trust"), TEMPLATE.body, library=library,
                              path="/lib/icon-living-trust-new.png")
    assert _values(pooled) == _values(local)
    assert pooled.get("near_duplicate").detail["duplicate_of"] == "icon-will"


def test_scoring_goes_on_after_its_workers_are_killed():
    png = standin_image("icon-probate")
    assert _in_pool(png, "icon-probate", LibraryIndex()).phash
    pool = scoring_pool._the_pool()
    for process in list(pool._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
    again = _in_pool(png, "icon-probate", LibraryIndex())
    assert again.phash and again.get("palette") is not None
