"""Quality scoring speed: the deterministic checks per 1024x1024 image, OCR apart, and whether
scoring ever holds up a session (it must not block the event loop).

1. checks: --images stand-in renders of 1024x1024 catalog icons/cards/backgrounds (varied drawings),
   each scored --repeats times with OCR off (palette, contrast, form, sharpness, pHash vs a library
   of the images already scored). Target p95 <= 150 ms.
2. ocr: --ocr-images social cards with a real headline, read by rapidocr-onnxruntime (reported, no target).
3. pipeline (--pipeline-items > 0): a stand-in session of generated icons (1024², --latency-scale of
   the stand-in's real latencies) on a real Engine, alternately with scoring off and on (no judges:
   they are extra paid calls, not scoring work). The same session id draws the same latencies, so
   the bound of bench/pipeline.py is the same for both and the ratio of elapsed times is the ratio
   of bound ratios. Target: scoring on within 5 % of off — the checks run in worker threads while
   the event loop keeps serving the other items.

    python bench/quality.py                      # ~1 min on 2 shared cores
    python bench/quality.py --images 40 --pipeline-items 0

Human figures first; the JSON summary is the last line.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _util import REPO, percentile, print_summary

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "helpers"))

from engine.templates.catalog import load_catalog  # noqa: E402
from engine.quality.copy import ocr_available  # noqa: E402
from engine.quality.neardup import LibraryEntry, LibraryIndex  # noqa: E402
from engine.quality.scorecard import score_asset_image  # noqa: E402
from engine.providers.standin.render import render_image  # noqa: E402
from engine.templates.brief import build_brief, default_template  # noqa: E402

TARGET_P95_MS = 150.0
TARGET_OVERHEAD = 0.05


def _renders(count: int) -> list[tuple[object, bytes]]:
    catalog, template = load_catalog(None), default_template()
    square = [a for a in catalog.assets if a.aspect_ratio == "1:1"]
    out = []
    for i in range(count):
        asset = replace(square[i % len(square)], image_size="1K")
        out.append((asset, render_image(build_brief(asset, template).text, width=1024, height=1024, seed=i)))
    return out


def bench_checks(images: int, repeats: int) -> dict:
    body = default_template().body
    library = LibraryIndex()
    times = []
    for index, (asset, png) in enumerate(_renders(images)):
        for _ in range(repeats):
            started = time.perf_counter()
            card = score_asset_image(png, asset, body, library=library, ocr=False)
            times.append((time.perf_counter() - started) * 1000)
        library.add(LibraryEntry(asset.id, None, f"/bench/{index}.png", card.phash))
    times = times[1:] or times  # the first call pays the imports' lazy set-up
    return {"images": images, "scores": len(times), "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1), "max_ms": round(max(times), 1)}


def bench_ocr(count: int) -> dict:
    available, why = ocr_available()
    if not available or count <= 0:
        return {"available": available, "why": why, "images": 0}
    sys.path.insert(0, str(REPO))
    from tests.quality_images import card_with_text  # noqa: PLC0415

    catalog, body = load_catalog(None), default_template().body
    cards = [a for a in catalog.assets if a.type == "social_cards"]
    times, passed = [], 0
    for i in range(count):
        asset = replace(cards[i % len(cards)], aspect_ratio="4:5", image_size="1K")
        words = asset.title.split()
        png = card_with_text([" ".join(words[: len(words) // 2 + 1]), " ".join(words[len(words) // 2 + 1:])])
        started = time.perf_counter()
        card = score_asset_image(png, asset, body)
        times.append((time.perf_counter() - started) * 1000)
        passed += bool(card.get("copy").passed)
    return {"available": True, "images": count, "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1), "copy_passed": passed}


async def session_elapsed(data_dir: Path, *, items: int, concurrency: int, latency_scale: float,
                          scoring: bool) -> tuple[float, dict]:
    """One stand-in session of ``items`` icons (1024² images) on a real Engine; (elapsed s, item counts)."""
    from pipeline_kit import standin_client_factory, write_catalog  # noqa: PLC0415

    from engine.config import load_settings  # noqa: PLC0415
    from engine.process.runtime import Engine  # noqa: PLC0415
    from engine.session.spec import ApprovalSettings, RunSpec  # noqa: PLC0415

    catalog = write_catalog(data_dir / "catalog.toml", items)
    spec = RunSpec(catalog=str(catalog), latency_scale=latency_scale, concurrency=concurrency, scoring=scoring,
                   approval=ApprovalSettings(enabled=False), seed=1)
    settings = load_settings(data_dir=data_dir)
    async with Engine(settings, serve_websockets=False, client_factory=standin_client_factory()) as engine:
        started = time.perf_counter()
        run = await engine.run_session(spec, session_id="s-bench-quality")  # same id: the same latencies drawn
        return time.perf_counter() - started, run.counts()


def bench_pipeline(items: int, concurrency: int, repeats: int, latency_scale: float) -> dict:
    runs: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for mode in ("off", "on"):  # alternating: load on the box hits both alike
                elapsed, counts = asyncio.run(session_elapsed(
                    Path(tmp) / f"{mode}{repeat}", items=items, concurrency=concurrency,
                    latency_scale=latency_scale, scoring=mode == "on"))
                assert counts.get("saved") == items, counts
                runs[mode].append(elapsed)
    best_off, best_on = min(runs["off"]), min(runs["on"])
    return {"items": items, "concurrency": concurrency, "repeats": repeats, "latency_scale": latency_scale,
            "off_s": round(best_off, 3), "on_s": round(best_on, 3), "overhead": round(best_on / best_off - 1, 4),
            "runs": {k: [round(v, 3) for v in vs] for k, vs in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ocr-images", type=int, default=3)
    parser.add_argument("--pipeline-items", type=int, default=24)
    parser.add_argument("--pipeline-concurrency", type=int, default=8)
    parser.add_argument("--pipeline-repeats", type=int, default=2)
    parser.add_argument("--latency-scale", type=float, default=0.2)
    args = parser.parse_args()

    checks = bench_checks(args.images, args.repeats)
    print(f"checks (no OCR), 1024x1024: {checks['scores']} scores of {checks['images']} images: "
          f"p50 {checks['p50_ms']} ms, p95 {checks['p95_ms']} ms, max {checks['max_ms']} ms "
          f"(target p95 <= {TARGET_P95_MS:g} ms)")
    ocr = bench_ocr(args.ocr_images)
    if ocr["images"]:
        print(f"with OCR (social card 896x1152): p50 {ocr['p50_ms']} ms, p95 {ocr['p95_ms']} ms; "
              f"headline read right on {ocr['copy_passed']}/{ocr['images']}")
    else:
        print(f"OCR: {ocr.get('why') or 'skipped'}")
    pipeline = None
    if args.pipeline_items > 0:
        pipeline = bench_pipeline(args.pipeline_items, args.pipeline_concurrency, args.pipeline_repeats,
                                  args.latency_scale)
        print(f"pipeline, {pipeline['items']} items at concurrency {pipeline['concurrency']}: scoring off "
              f"{pipeline['off_s']} s, on {pipeline['on_s']} s (best of {pipeline['repeats']}) = "
              f"{pipeline['overhead']:+.1%} (target <= +{TARGET_OVERHEAD:.0%})")
    ok = checks["p95_ms"] <= TARGET_P95_MS and (pipeline is None or pipeline["overhead"] <= TARGET_OVERHEAD)
    print_summary({"bench": "quality", "checks": checks, "ocr": ocr, "pipeline": pipeline,
                   "target_p95_ms": TARGET_P95_MS, "target_overhead": TARGET_OVERHEAD, "ok": bool(ok)})


if __name__ == "__main__":
    main()
