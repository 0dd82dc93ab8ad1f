"""Scale: does an item cost the same at 1,000, 10,000 and 50,000 items?

For each size a generated catalog of that many icons runs through the real CLI, one engine
process per size (`assetgen run --latency-scale 0 --no-approval --concurrency 32`) over the
offline stand-in drawing small images (ASSETGEN_STANDIN_IMAGE_PX, default here 32 px), and
the bench reads:

* wall           launch to exit of `assetgen run`
* per_item_ms    the session's own duration (generation_start to generation_complete) / items
* peak_rss_mb    the engine process's peak resident set (its rusage, from wait4)
* first_image_s  launch to the first ``image_saved`` event (what a person waits to see anything)

and, on the largest size, each console page's first-content time in headless chromium:
from navigation until the page's title is shown and its first script run has finished
(every element of the first screen drawn).

The engine is the real `assetgen run` (`python -m engine`): catalogs of up to 100,000 assets and
32 MiB are within its limits (engine/templates/catalog.py). `--run-args` passes more flags to
`assetgen run` (e.g. `--run-args=--no-scoring` to leave image scoring out).

Targets (issue 14): per item at the largest size <= 1.2 x per item at the smallest; peak RSS
<= 300 MB at every size; first image at 10,000 <= 2 x first image at 1,000; every page <= 2 s.

    python bench/scale.py                          # 1,000, 10,000 and 50,000 items (minutes)
    python bench/scale.py --sizes 1000,5000        # while iterating
    python bench/scale.py --sizes 1000 --no-console
    python bench/scale.py --run-args=--no-scoring  # any more `assetgen run` flags

Human figures first; the JSON summary is the last line.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import REPO, print_summary

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "helpers"))

from engine.process.runner import EXIT_CODES  # noqa: E402
from engine.store.database import Store  # noqa: E402
from pipeline_kit import write_catalog  # noqa: E402  (ids gen-0000…: valid catalog ids at any count)

# Every page of app.py's navigation: its name here, its URL path, its heading. Templates lives at
# /edit-master-prompt: asked for at /templates, Streamlit shows the default page (Live), whose heading never
# says "Templates" (the 60 s timeout this bench once reported for it).
PAGES = ("live", "enhanced", "competition", "costs", "approvals", "templates", "gallery", "review", "history",
         "events")
PAGE_PATHS = {p: p for p in PAGES} | {"live": "", "templates": "edit-master-prompt"}
PAGE_TITLES = {p: p.title() for p in PAGES} | {"enhanced": "Live in detail"}
TARGET_PER_ITEM_RATIO = 1.2
TARGET_RSS_MB = 300.0
TARGET_FIRST_IMAGE_RATIO = 2.0
TARGET_PAGE_S = 2.0



def run_size(size: int, root: Path, *, concurrency: int, image_px: int, run_args: list[str]) -> dict:
    data_dir = root / f"n{size}"
    data_dir.mkdir(parents=True, exist_ok=True)
    catalog = write_catalog(root / f"catalog-{size}.toml", size)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETGEN_")}
    env.update(ASSETGEN_STANDIN_IMAGE_PX=str(image_px), PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-m", "engine", "--data-dir", str(data_dir), "run", "--catalog", str(catalog),
            "--latency-scale", "0", "--no-approval", "--concurrency", str(concurrency), "--ws-port", "0", *run_args]
    log_path = root / f"run-{size}.log"
    launched = time.time()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    rss_trace = []  # (seconds since launch, resident MB) every half second: a climb or a spike?
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss_trace.append((round(time.time() - launched, 1), _resident_mb(proc.pid)))
        time.sleep(0.5)
    wall = time.time() - launched
    proc.returncode = os.waitstatus_to_exitcode(status)
    # the stand-in answers some prompts with broken JSON, as real models do: an item whose three competitors all
    # did is failed, and the session ends completed_with_failures; it is measured all the same
    if proc.returncode not in (EXIT_CODES["completed"], EXIT_CODES["completed_with_failures"]):
        raise SystemExit(f"assetgen run ({size} items) exited {proc.returncode}:\n"
                         + log_path.read_text(errors="replace")[-3000:])
    store = Store(data_dir / "studio.duckdb")
    (start, end, first_image, saved, events) = store.query(
        "SELECT min(ts) FILTER (WHERE type = 'generation_start'), max(ts) FILTER (WHERE type = 'generation_complete'), "
        "min(ts) FILTER (WHERE type = 'image_saved'), count(*) FILTER (WHERE type = 'image_saved'), count(*) "
        "FROM events")[0]
    session_s = (end - start).total_seconds()
    # per-item time in each tenth of the session: flat when no step costs more as items get done
    tenths = store.query(
        "WITH f AS (SELECT epoch_ms(ts) AS t, (row_number() OVER (ORDER BY seq) - 1) * 10 // ? AS tenth "
        "FROM events WHERE type = 'item_finished') SELECT (max(t) - min(t)) / greatest(count(*) - 1, 1) FROM f "
        "GROUP BY tenth ORDER BY tenth", [size])
    samples = [mb for _, mb in rss_trace if mb is not None]
    return {
        "items": size, "saved": int(saved), "events": int(events), "wall_s": round(wall, 2),
        "session_s": round(session_s, 2), "per_item_ms": round(session_s / size * 1000, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "rss_mb_at_quarters": [samples[int(len(samples) * q)] for q in (0.25, 0.5, 0.75)] if samples else [],
        "per_item_ms_by_tenth": [round(float(t), 1) for (t,) in tenths],
        "first_image_s": round(first_image.timestamp() - launched, 2),
        "first_image_after_start_s": round((first_image - start).total_seconds(), 2),
        "db_mb": round((data_dir / "studio.duckdb").stat().st_size / 2**20, 1),
        "data_dir": str(data_dir),
    }


def _resident_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def console_first_content(data_dir: Path, log_dir: Path, *, repeats: int) -> dict[str, float]:
    """Each page's first-content time (best of ``repeats`` fresh loads) with a console over ``data_dir``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, sync_playwright

    from browser_support import free_port, launch_chromium, wait_http_ok, _spawn

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETGEN_")}
    env.update(ASSETGEN_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    console = _spawn("console", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false"], env=env, log_dir=log_dir, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    times: dict[str, float] = {}
    try:
        wait_http_ok(f"{url}/_stcore/health", timeout=60, proc=console)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                _load(page, url, "live")  # warm-up: the first run imports the page modules
                for name in PAGES:
                    try:
                        times[name] = round(min(_load(page, url, name) for _ in range(repeats)), 3)
                    except PlaywrightTimeout:  # one page that never shows must not lose the other figures
                        times[name] = None
                        print(f"console page {name}: no first content within 60 s", flush=True)
            finally:
                browser.close()
    finally:
        console.stop()
    return times


def _load(page, url: str, name: str) -> float:
    started = time.monotonic()
    page.goto(f"{url}/{PAGE_PATHS[name]}")
    page.get_by_role("heading", name=PAGE_TITLES[name], level=1).wait_for(timeout=60_000)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000", help="comma-separated item counts, smallest first")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--image-px", type=int, default=32, help="longest side of the stand-in's images")
    parser.add_argument("--no-console", action="store_true", help="skip the browser timing of the console")
    parser.add_argument("--page-repeats", type=int, default=2, help="fresh loads per page (best is kept)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories (printed)")
    parser.add_argument("--run-args", default="", help="more `assetgen run` flags, one string (e.g. --run-args=--no-scoring)")
    args = parser.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())

    root = Path(tempfile.mkdtemp(prefix="assetgen-scale-"))
    results = []
    for size in sizes:
        result = run_size(size, root, concurrency=args.concurrency, image_px=args.image_px,
                          run_args=shlex.split(args.run_args))
        results.append(result)
        print(f"{size:>7} items: wall {result['wall_s']:8.2f} s  per item {result['per_item_ms']:7.3f} ms  "
              f"peak RSS {result['peak_rss_mb']:6.1f} MB (at quarters {result['rss_mb_at_quarters']})  first image {result['first_image_s']:6.2f} s "
              f"({result['first_image_after_start_s']:.2f} s after generation_start)  "
              f"{result['saved']} saved, {result['events']} events; ms per item by tenth "
              f"{result['per_item_ms_by_tenth']}", flush=True)
    pages = {}
    if not args.no_console:
        pages = console_first_content(Path(results[-1]["data_dir"]), root, repeats=args.page_repeats)
        print(f"console at {sizes[-1]} items, first content per page (s): "
              + "  ".join(f"{k} {'timeout' if v is None else f'{v:.2f}'}" for k, v in pages.items()), flush=True)

    small, large = results[0], results[-1]
    per_item_ratio = large["per_item_ms"] / small["per_item_ms"]
    by_size = {r["items"]: r for r in results}
    first_image_ratio = (by_size[10_000]["first_image_s"] / by_size[1_000]["first_image_s"]
                         if 10_000 in by_size and 1_000 in by_size else
                         large["first_image_s"] / small["first_image_s"])
    checks = {
        "per_item_ratio": round(per_item_ratio, 3),
        "per_item_ok": per_item_ratio <= TARGET_PER_ITEM_RATIO,
        "peak_rss_ok": all(r["peak_rss_mb"] <= TARGET_RSS_MB for r in results),
        "first_image_ratio": round(first_image_ratio, 3),
        "first_image_ok": first_image_ratio <= TARGET_FIRST_IMAGE_RATIO,
        "pages_ok": all(v is not None and v <= TARGET_PAGE_S for v in pages.values()) if pages else None,
    }
    print("targets: " + "  ".join(f"{k} {v}" for k, v in checks.items()))
    if not args.keep:
        import shutil
        shutil.rmtree(root, ignore_errors=True)
    print_summary({"bench": "scale", "sizes": results, "pages_s": pages, "checks": checks,
                   "concurrency": args.concurrency, "image_px": args.image_px, "run_args": args.run_args})


if __name__ == "__main__":
    main()
