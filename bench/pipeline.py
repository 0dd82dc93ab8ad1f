"""Pipeline throughput against the latencies actually drawn, and what visibility costs.

A generated catalog of --items icons runs at --concurrency items in flight over the
stand-in with short latencies (--latency-scale) and small images (--image-px), approval
off. Two ways, alternating --repeats times, same session id so the stand-in draws the
very same latencies (it seeds each request from its body):

* visible: a real Engine - bus, ticker writing DuckDB every 0.25 s, websockets server -
  with --watchers `watch`-like clients (default 1), each in its own process, reading every frame;
* dark:    the same SessionRun with a bus that goes nowhere and no ticker: no event is
  encoded, broadcast or written. The baseline.

The bound comes from the stand-in's request log: per item, template (0) + the slowest
competitor + the image, scheduled in order on --concurrency slots. An item holds a slot
for prompt+model, lets go, and takes one again for the image; the limiter hands the slot
straight back to it (it asks before the woken waiters run), so in practice it keeps the
slot. Both schedules are computed ("requeued": the image waits behind every queued
prompt) and the check uses the smaller, the stricter. Best of --repeats for each way
(other work on the box only ever slows a run); medians are reported too.

Targets: visible elapsed <= 1.15 x bound; visible vs dark <= +5 %.

Content Credentials: --signing on (default, as shipped) or off runs both ways with signing
so; --signing compare runs the visible way with signing on and off instead of dark (same
draws, alternating) and checks on-vs-off bound ratios within 5 %. Every mode first times
saving one image with and without signing (at --image-px and at 1024 px): the cost per image.

    python bench/pipeline.py                          # 200 items, concurrency 16, ~1 min
    python bench/pipeline.py --items 100 --repeats 1
    python bench/pipeline.py --signing compare --items 100

Human figures first; the JSON summary is the last line.
"""
from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from _util import REPO, print_summary

sys.path.insert(0, str(REPO / "tests" / "helpers"))
from pipeline_kit import TEST_BASE_URL, write_catalog  # noqa: E402

import httpx  # noqa: E402
from engine.config import load_settings  # noqa: E402
from engine.live.projection import Projector  # noqa: E402
from engine.credentials import StudioCredentials  # noqa: E402
from engine.providers.standin.render import render_image  # noqa: E402
from engine.session.save import save_png  # noqa: E402
from engine.live.storage import StorageHealth  # noqa: E402
from engine.providers.openrouter import OpenRouterClient  # noqa: E402
from engine.providers.standin.transport import StandInTransport  # noqa: E402
from engine.process.runtime import Engine  # noqa: E402
from engine.session.resume import prepare_run  # noqa: E402
from engine.session.spec import ApprovalSettings, RunSpec  # noqa: E402
from engine.store.database import Store  # noqa: E402

SESSION_ID = "s-bench-pipeline"
TARGET_BOUND_RATIO = 1.15
TARGET_OVERHEAD = 0.05
TARGET_SIGNING_OVERHEAD = 0.05

# A `watch`-like client in its own process: hello, then read every frame until the session completes.
_WATCHER = r"""
import asyncio, json, sys
from websockets.asyncio.client import connect
async def main(url, token):
    frames = 0
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        print("ready", flush=True)
        async for raw in ws:
            frames += 1
            if '"event":"generation_complete"' in raw:
                break
    print(frames, flush=True)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class LoggingTransport(StandInTransport):
    """The stand-in, plus per request what the bound needs: kind, drawn latency, the brief, the answer."""

    def __init__(self, **options):
        super().__init__(**options)
        self.requests: list[dict] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(await request.aread())
        index = len(self.log)  # the stand-in appends its log entry before its first await
        response = await super().handle_async_request(request)
        entry = self.log[index]
        assert entry["model"] == body["model"], "request log out of step"
        user = "\n".join(str(m.get("content")) for m in body["messages"] if m.get("role") == "user")
        answer = None
        if entry["kind"] == "text" and response.status_code == 200:
            try:
                answer = json.loads(json.loads(response.content)["choices"][0]["message"]["content"])["prompt"].strip()
            except (ValueError, KeyError, TypeError):  # a malformed answer: that competitor was dropped
                answer = None
        self.requests.append({"kind": entry["kind"], "latency_s": entry["latency_s"] * self.standin.latency_scale,
                              "started": entry["started"], "user": user, "answer": answer})
        return response


def client_factory(image_px: int, transports: list):
    def factory(spec, price_book=None):
        transport = LoggingTransport(seed=spec.seed, latency_scale=spec.latency_scale, faults=spec.faults,
                                     price_book=price_book, image_size_px=image_px)
        transports.append(transport)
        return OpenRouterClient(base_url=TEST_BASE_URL, api_key="standin", transport=transport)
    return factory


# --- the bound --------------------------------------------------------------------------------
def item_phases(requests: list[dict]) -> list[tuple[float, float]]:
    """(slowest competitor, image) per item, in the order items started, from the request log."""
    groups: dict[str, dict] = {}
    for r in requests:
        if r["kind"] == "text":
            group = groups.setdefault(r["user"], {"first": r["started"], "prompt": 0.0, "image": 0.0, "answers": set()})
            group["first"] = min(group["first"], r["started"])
            group["prompt"] = max(group["prompt"], r["latency_s"])
            if r["answer"]:
                group["answers"].add(r["answer"])
    by_answer = {answer: group for group in groups.values() for answer in group["answers"]}
    for r in requests:
        if r["kind"] == "image":
            by_answer[r["user"]]["image"] += r["latency_s"]
    ordered = sorted(groups.values(), key=lambda g: g["first"])
    return [(g["prompt"], g["image"]) for g in ordered]


def schedule(phases: list[tuple[float, float]], slots: int, *, keep_slot: bool) -> float:
    """Makespan of the items on ``slots``: FIFO; the image phase keeps the slot or queues again at the back."""
    queue = deque((i, 0) for i in range(len(phases)))
    running: list[tuple[float, int, int]] = []
    now = 0.0
    while queue or running:
        while queue and len(running) < slots:
            i, phase = queue.popleft()
            duration = sum(phases[i]) if keep_slot else phases[i][phase]
            heapq.heappush(running, (now + duration, i, 1 if keep_slot else phase))
        now, i, phase = heapq.heappop(running)
        if phase == 0:
            queue.append((i, 1))
    return now


# --- the two ways of running ------------------------------------------------------------------
def spec_for(catalog: Path, args) -> RunSpec:
    return RunSpec(catalog=str(catalog), latency_scale=args.latency_scale, concurrency=args.concurrency,
                   approval=ApprovalSettings(enabled=False), seed=args.seed)


async def run_visible(data_dir: Path, spec: RunSpec, args, *, signing: bool) -> dict:
    transports: list = []
    settings = load_settings(data_dir=data_dir, content_credentials=signing)
    async with Engine(settings, ws_port=0, client_factory=client_factory(args.image_px, transports)) as engine:
        token = (data_dir / ".ws-token").read_text().strip()
        watchers = []
        for _ in range(args.watchers):
            watcher = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _WATCHER, f"ws://127.0.0.1:{engine.ws.port}", token, stdout=subprocess.PIPE)
            assert (await watcher.stdout.readline()).strip() == b"ready"
            watchers.append(watcher)
        started = time.perf_counter()
        run = await engine.run_session(spec, session_id=SESSION_ID)
        elapsed = time.perf_counter() - started
        frames = []
        for watcher in watchers:
            frames.append(int((await asyncio.wait_for(watcher.stdout.readline(), 30)).strip() or 0))
            await watcher.wait()
    persisted = Store(settings.db_path).query("SELECT count(*) FROM events WHERE session_id = ?", [SESSION_ID])[0][0]
    return {"elapsed_s": elapsed, "counts": run.counts(), "requests": transports[0].requests,
            "events": persisted, "frames": frames}


class _NullBus:
    """Takes every event and does nothing: no encoding, no journal, no subscribers, no ticker."""

    last_seq = assigned_seq = 0
    storage = StorageHealth()

    def emit(self, event) -> None:
        return None

    async def durable(self, seq: int) -> None:
        return None


class _DarkEngine:
    """What SessionRun and prepare_run need from an Engine, with visibility switched off."""

    def __init__(self, settings, factory):
        self.settings = settings
        self.store = Store(settings.db_path)
        self.store.migrate()
        self.bus = _NullBus()
        self.projector = Projector()
        self.client_factory = factory
        self.runs: dict = {}
        self.credentials = StudioCredentials.open(settings.data_dir, signing=settings.content_credentials)

    def register_run(self, run) -> None:
        self.runs[run.session_id] = run

    def unregister_run(self, run) -> None:
        self.runs.pop(run.session_id, None)

    async def wait_for_backlog(self) -> None:  # nothing is ever written, so nothing backs up
        return None


async def run_dark(data_dir: Path, spec: RunSpec, args, *, signing: bool) -> dict:
    transports: list = []
    engine = _DarkEngine(load_settings(data_dir=data_dir, content_credentials=signing),
                         client_factory(args.image_px, transports))
    started = time.perf_counter()  # like Engine.run_session: preparing is part of the run
    run = await prepare_run(engine, spec, session_id=SESSION_ID, resume=False)
    try:
        await run.run()
    finally:
        await run.client.aclose()
    elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "counts": run.counts(), "requests": transports[0].requests}


def signing_cost(root: Path, sizes: list[int], count: int) -> dict:
    """Milliseconds to save one stand-in image with and without signing, per image size (median of ``count``)."""
    credentials = StudioCredentials.open(root / "signing-cost")
    figures = {}
    for px in sizes:
        images = [render_image(f"a quiet lantern {n}", width=px, height=px, seed=n) for n in range(count)]
        timings = {"unsigned": [], "signed": []}
        for n, image in enumerate(images):
            provenance = {"session_id": "s-cost", "item_id": f"s-cost:{n}", "image_model": "m/x", "prompt": "p"}
            for way in ("unsigned", "signed"):
                seal = credentials.seal(provenance, title="x.png") if way == "signed" else None
                started = time.perf_counter()
                save_png(root / "signing-cost" / f"{way}-{n}.png", image, parameters="p", provenance=provenance,
                         xmp=credentials.xmp(provenance), seal=seal)
                timings[way].append((time.perf_counter() - started) * 1000)
        unsigned, signed = statistics.median(timings["unsigned"]), statistics.median(timings["signed"])
        figures[px] = {"save_ms": round(unsigned, 2), "save_and_sign_ms": round(signed, 2),
                       "signing_ms": round(signed - unsigned, 2)}
        print(f"saving a {px}x{px} image: {unsigned:.1f} ms unsigned, {signed:.1f} ms signed "
              f"= {signed - unsigned:.1f} ms signing (median of {count}, in the saver's thread)", flush=True)
    return figures


def compare_signing(root: Path, catalog: Path, args, cost: dict) -> None:
    """Visible runs with signing on and off, alternating; their ratios to the same bound."""
    runs = {True: [], False: []}
    for n in range(args.repeats):
        for signing in ((True, False) if n % 2 == 0 else (False, True)):
            runs[signing].append(asyncio.run(run_visible(root / f"sign-{signing}-{n}", spec_for(catalog, args), args,
                                                         signing=signing)))
        print(f"pair {n + 1}: signing on {runs[True][-1]['elapsed_s']:.2f}s, off {runs[False][-1]['elapsed_s']:.2f}s",
              flush=True)
    phases = item_phases(runs[False][0]["requests"])
    bound = min(schedule(phases, args.concurrency, keep_slot=True), schedule(phases, args.concurrency, keep_slot=False))
    same_draws = all(sorted(r["latency_s"] for r in x["requests"]) == sorted(r["latency_s"] for r in runs[False][0]["requests"])
                     for x in runs[True] + runs[False])
    best_on, best_off = min(r["elapsed_s"] for r in runs[True]), min(r["elapsed_s"] for r in runs[False])
    ratio_on, ratio_off = best_on / bound, best_off / bound
    overhead = ratio_on / ratio_off - 1
    saved = {x["counts"].get("saved", 0) for x in runs[True] + runs[False]}
    print(f"\n{args.items} items at concurrency {args.concurrency}, latency scale {args.latency_scale}, "
          f"images {args.image_px}px; same latencies drawn: {same_draws}; bound {bound:.2f}s")
    print(f"signing on   best {best_on:.2f}s  runs {[round(r['elapsed_s'], 2) for r in runs[True]]}  = {ratio_on:.3f} x bound")
    print(f"signing off  best {best_off:.2f}s  runs {[round(r['elapsed_s'], 2) for r in runs[False]]}  = {ratio_off:.3f} x bound")
    print(f"signing overhead on the bound ratio {overhead * 100:+.1f}% (target <= {TARGET_SIGNING_OVERHEAD * 100:.0f}%); "
          f"saved per run {sorted(saved)}")
    print_summary({
        "bench": "pipeline", "mode": "signing-compare", "items": args.items, "concurrency": args.concurrency,
        "latency_scale": args.latency_scale, "image_px": args.image_px, "repeats": args.repeats,
        "same_latencies_drawn": same_draws, "saved": sorted(saved), "bound_s": round(bound, 3),
        "signing_on_s": [round(r["elapsed_s"], 3) for r in runs[True]],
        "signing_off_s": [round(r["elapsed_s"], 3) for r in runs[False]],
        "signing_on_over_bound": round(ratio_on, 4), "signing_off_over_bound": round(ratio_off, 4),
        "signing_overhead": round(overhead, 4), "signing_cost_ms": cost,
        "ok": bool(overhead <= TARGET_SIGNING_OVERHEAD and same_draws),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-scale", type=float, default=0.05)
    parser.add_argument("--image-px", type=int, default=64, help="longest image side the stand-in draws")
    parser.add_argument("--repeats", type=int, default=2, help="visible/dark pairs, alternating")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--watchers", type=int, default=1, help="websockets clients (other processes) reading every frame")
    parser.add_argument("--signing", choices=["on", "off", "compare"], default="on",
                        help="Content Credentials on every saved image (on, as shipped), off, or compare on vs off")
    parser.add_argument("--signing-samples", type=int, default=10, help="images timed for the signing cost per size")
    args = parser.parse_args()
    signing = args.signing != "off"

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        root = Path(tmp)
        cost = signing_cost(root, sorted({args.image_px, 1024}), args.signing_samples)
        catalog = write_catalog(root / "catalog.toml", args.items)
        if args.signing == "compare":
            compare_signing(root, catalog, args, cost)
            return
        spec = spec_for(catalog, args)
        visible, dark = [], []
        for n in range(args.repeats):
            visible.append(asyncio.run(run_visible(root / f"visible{n}", spec_for(catalog, args), args, signing=signing)))
            dark.append(asyncio.run(run_dark(root / f"dark{n}", spec_for(catalog, args), args, signing=signing)))
            print(f"pair {n + 1}: visible {visible[-1]['elapsed_s']:.2f}s ({visible[-1]['events']} events, "
                  f"{visible[-1]['frames']} frames per watcher), dark {dark[-1]['elapsed_s']:.2f}s", flush=True)

    phases = item_phases(visible[0]["requests"])
    same_draws = all(sorted(r["latency_s"] for r in x["requests"]) == sorted(r["latency_s"] for r in visible[0]["requests"])
                     for x in visible + dark)
    bound_kept = schedule(phases, args.concurrency, keep_slot=True)
    bound_requeued = schedule(phases, args.concurrency, keep_slot=False)
    bound = min(bound_kept, bound_requeued)
    work = sum(a + b for a, b in phases)
    best_visible = min(v["elapsed_s"] for v in visible)
    best_dark = min(d["elapsed_s"] for d in dark)
    ratio = best_visible / bound
    overhead = best_visible / best_dark - 1
    median_overhead = statistics.median(v["elapsed_s"] for v in visible) / statistics.median(
        d["elapsed_s"] for d in dark) - 1
    saved = {x["counts"].get("saved", 0) for x in visible + dark}

    print(f"\n{args.items} items at concurrency {args.concurrency}, latency scale {args.latency_scale}, "
          f"images {args.image_px}px; every run drew the same latencies: {same_draws}")
    print(f"drawn work {work:.2f} slot-s; bound {bound_kept:.2f}s (slot kept), {bound_requeued:.2f}s (image requeued), "
          f"{work / args.concurrency:.2f}s (work / slots)")
    print(f"visible  best {best_visible:.2f}s  runs {[round(v['elapsed_s'], 2) for v in visible]}  "
          f"= {ratio:.3f} x bound (target <= {TARGET_BOUND_RATIO})")
    print(f"dark     best {best_dark:.2f}s  runs {[round(d['elapsed_s'], 2) for d in dark]}  "
          f"= {best_dark / bound:.3f} x bound")
    print(f"visibility overhead {overhead * 100:+.1f}% best vs best (target <= {TARGET_OVERHEAD * 100:.0f}%), "
          f"{median_overhead * 100:+.1f}% median vs median; "
          f"saved per run {sorted(saved)}")
    print_summary({
        "bench": "pipeline", "items": args.items, "concurrency": args.concurrency,
        "latency_scale": args.latency_scale, "image_px": args.image_px, "repeats": args.repeats,
        "same_latencies_drawn": same_draws, "saved": sorted(saved),
        "bound_s": round(bound, 3), "bound_kept_s": round(bound_kept, 3), "bound_requeued_s": round(bound_requeued, 3),
        "work_per_slot_s": round(work / args.concurrency, 3),
        "visible_s": [round(v["elapsed_s"], 3) for v in visible], "dark_s": [round(d["elapsed_s"], 3) for d in dark],
        "visible_over_bound": round(ratio, 4), "dark_over_bound": round(best_dark / bound, 4),
        "visibility_overhead": round(overhead, 4), "visibility_overhead_median": round(median_overhead, 4),
        "events": visible[0]["events"], "watchers": args.watchers, "watcher_frames": visible[0]["frames"],
        "signing": args.signing, "signing_cost_ms": cost,
        "ok": bool(ratio <= TARGET_BOUND_RATIO and overhead <= TARGET_OVERHEAD and same_draws),
    })


if __name__ == "__main__":
    main()
