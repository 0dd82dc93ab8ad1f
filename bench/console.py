"""Console benchmark: every page's reads on a big database, and the shared feed's staleness.

    python bench/console.py [--db /tmp/assetgen-bench/console.duckdb] [--rebuild] [--repeat 30]

1. Builds (once, cached) a database holding 1,000,000 events and 10,000 items
   (100 sessions x 100 items x 100 events, plus calls, proposals, approvals and
   operator rows) with Arrow inserts, then times each page's query functions:
   target p95 <= 150 ms each.
2. Copies it, runs a real fast session on it in another process (`assetgen run
   --type icons --speed fast`, default stand-in latency) and polls the shared
   Feed every 0.25 s as the console does: staleness = for each event, the time
   from its emission (ts) until the feed held it; target p50 <= 0.5 s.

The last line printed is JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.read import sessions as q  # noqa: E402
from engine.read import approvals as qa  # noqa: E402
from engine.read import archive as qh  # noqa: E402
from engine.read import competition as qm  # noqa: E402
from engine.read import console as qo  # noqa: E402
from engine.read import gallery as qg  # noqa: E402
from engine.read import costs as qc  # noqa: E402
from engine.read import live_rows as ql  # noqa: E402
from engine.read import alerts as qn  # noqa: E402
from engine.live.feed import Feed  # noqa: E402
from engine.store.database import Store  # noqa: E402
from _util import REPO, percentile  # noqa: E402

SESSIONS, ITEMS_PER_SESSION, EVENTS_PER_ITEM = 100, 100, 100
MODELS = ("anthropic/claude-sonnet-4.5", "openai/gpt-5-mini", "google/gemini-2.5-flash")
STAGES = ("discovery", "prompt", "model", "image", "save")
TYPES = ("item_started", *["pipeline_stage_update"] * 5, "prompt_template_start", "prompt_tier_selected",
         "adding_emotional_layer", "template_building", "style_elements_applied", "luxury_indicators_applied",
         "prompt_template_complete", "model_competition_start", "openrouter_api_call", "api_call_finished",
         "openrouter_cost", "prompt_generated", "model_decision", "model_winner_selected", "image_saved",
         "item_finished", "progress_update", "cost_update")
P95_TARGET_MS = 150.0
STALENESS_P50_TARGET_S = 0.5
BUILD_MARK = "bench-console-v3"  # v3: quality scores of every saved image


# -- building the database ---------------------------------------------------------------------
def _events_table(t0: datetime) -> pa.Table:
    n = SESSIONS * ITEMS_PER_SESSION * EVENTS_PER_ITEM
    seq = np.arange(1, n + 1, dtype=np.int64)
    idx = seq - 1
    session = idx // (ITEMS_PER_SESSION * EVENTS_PER_ITEM)
    within = idx % (ITEMS_PER_SESSION * EVENTS_PER_ITEM)
    item = within % ITEMS_PER_SESSION          # items interleave, as concurrent items do
    step = within // ITEMS_PER_SESSION         # the item's k-th event
    type_idx = np.minimum(step, len(TYPES) - 1)
    type_idx = np.where(step >= len(TYPES), (step % 7) + 13, type_idx)  # the tail: more competition traffic
    types = np.array(TYPES, dtype=object)[type_idx]
    stage_of_step = {1 + k: s for k, s in enumerate(STAGES)}
    payloads = np.array([
        json.dumps({"stage": stage_of_step[s], "previous": stage_of_step.get(s - 1)}) if t == "pipeline_stage_update"
        else '{"model":"anthropic/claude-sonnet-4.5","cost_usd":0.0012,"note":"bench"}'
        for s, t in zip(step[:EVENTS_PER_ITEM * ITEMS_PER_SESSION], types[:EVENTS_PER_ITEM * ITEMS_PER_SESSION])
    ], dtype=object)
    payload = payloads[within]  # every session repeats the same shape of traffic
    session_ids = np.char.add("s-bench-", session.astype(str)).astype(object)
    item_ids = (session_ids + ":asset-" + item.astype(str).astype(object))
    ts_us = int(t0.timestamp() * 1e6) + seq * 20_000  # 50 events/s over ~5.5 hours
    return pa.table({
        "seq": pa.array(seq), "ts": pa.array(ts_us, pa.timestamp("us", tz="UTC")),
        "session_id": pa.array(session_ids, pa.string()), "item_id": pa.array(item_ids, pa.string()),
        "type": pa.array(types, pa.string()), "payload": pa.array(payload, pa.string()),
    })


def _item_rows(t0: datetime) -> dict[str, pa.Table]:
    s = np.repeat(np.arange(SESSIONS), ITEMS_PER_SESSION)
    i = np.tile(np.arange(ITEMS_PER_SESSION), SESSIONS)
    session_ids = np.char.add("s-bench-", s.astype(str)).astype(object)
    item_ids = session_ids + ":asset-" + i.astype(str).astype(object)
    span_us = ITEMS_PER_SESSION * EVENTS_PER_ITEM * 20_000
    start_us = int(t0.timestamp() * 1e6) + s * span_us + i * 20_000
    running = s == SESSIONS - 1
    status = np.where(running & (i >= 90), "in_progress", np.where(running & (i >= 80), "pending", "saved"))
    types = np.array(["icons", "illustrations", "heroes", "backgrounds", "social_cards"], dtype=object)[i % 5]
    tiers = np.array(["essential", "signature", "heritage"], dtype=object)[i % 3]
    ts = lambda us: pa.array(us, pa.timestamp("us", tz="UTC"))  # noqa: E731
    items = pa.table({
        "session_id": session_ids, "item_id": item_ids, "asset_id": ("asset-" + i.astype(str).astype(object)),
        "asset_type": types, "tier": tiers, "status": status.astype(object),
        "stage": np.where(status == "saved", "done", np.where(status == "pending", None, "model")).astype(object),
        "winner_model": np.array(MODELS, dtype=object)[i % 2], "final_prompt": np.full(len(s), "a calm heirloom key, warm light", dtype=object),
        "image_path": np.where(status == "saved", "assets/bench/none.png", None).astype(object),
        "cost_usd": np.full(len(s), 0.0412), "outcome": np.where(status == "saved", "saved", None).astype(object),
        "started_at": ts(start_us), "finished_at": ts(start_us + span_us // 2), "updated_at": ts(start_us + span_us // 2),
    })
    calls_item = np.repeat(item_ids, 3)
    calls_session = np.repeat(session_ids, 3)
    k = np.tile(np.arange(3), len(item_ids))
    call_start = np.repeat(start_us, 3) + k * 1_000_000
    api_calls = pa.table({
        "call_id": calls_item + "-c" + k.astype(str).astype(object), "session_id": calls_session, "item_id": calls_item,
        "purpose": np.where(k == 2, "image", "prompt").astype(object),
        "model": np.where(k == 2, "google/gemini-2.5-flash-image", np.array(MODELS, dtype=object)[k % 2]).astype(object),
        "started_at": ts(call_start), "finished_at": ts(call_start + 900_000), "latency_ms": np.full(len(k), 900.0),
        "cost_usd": np.where(k == 2, 0.039, 0.0011), "status": np.full(len(k), "ok", dtype=object),
        "simulated": np.full(len(k), True),
    })
    p = np.tile(np.arange(2), len(item_ids))
    proposals = pa.table({
        "session_id": np.repeat(session_ids, 2), "item_id": np.repeat(item_ids, 2),
        "model": np.array(MODELS, dtype=object)[p], "prompt": np.full(len(p), "a calm heirloom key", dtype=object),
        "confidence": 0.8 - 0.1 * p, "score": 0.85 - 0.1 * p, "is_winner": p == 0,
        "reasoning": np.full(len(p), "highest score", dtype=object), "cost_usd": np.full(len(p), 0.0011),
        "latency_ms": np.full(len(p), 900.0),
    })
    # every saved image scored once: seven checks and the gate's verdict (one in ten fails palette)
    saved_ids = item_ids[status == "saved"]
    names = ("palette", "contrast", "copy", "size", "aspect", "sharpness", "near_duplicate", "verdict")
    n = np.repeat(np.arange(len(saved_ids)), len(names))
    name = np.tile(np.array(names, dtype=object), len(saved_ids))
    fails = (n % 10 == 0) & ((name == "palette") | (name == "verdict"))
    scores = pa.table({
        "score_id": np.repeat(saved_ids, len(names)) + "#1/" + name, "session_id": np.repeat(session_ids[status == "saved"], len(names)),
        "item_id": np.repeat(saved_ids, len(names)), "attempt": np.ones(len(n), dtype=np.int32),
        "kind": np.where(name == "verdict", "gate", "check").astype(object), "name": name,
        "value": np.full(len(n), 0.8), "passed": np.where(name == "copy", None, ~fails).astype(object),
        "note": np.where(fails & (name == "verdict"), "palette", None).astype(object), "simulated": np.full(len(n), True),
    })
    return {"items": items, "api_calls": api_calls, "proposals": proposals, "scores": scores}


def build(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_suffix(path.suffix + ".wal")):
        stale.unlink(missing_ok=True)
    store = Store(path)
    store.migrate()
    t0 = datetime.now(timezone.utc) - timedelta(hours=6)
    started = time.perf_counter()
    event_batch = _events_table(t0)  # noqa: F841 (read by DuckDB's replacement scan)
    tables = _item_rows(t0)
    now = datetime.now(timezone.utc)
    with store.write() as con:
        con.execute("INSERT INTO events SELECT seq, ts, session_id, item_id, type, payload::JSON FROM event_batch")
        for name, table in tables.items():
            cols = ", ".join(table.column_names)
            con.register("batch", table)
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM batch")
            con.unregister("batch")
        con.execute(
            "INSERT INTO sessions (session_id, status, provider, created_at, started_at, finished_at, items_total, "
            "items_done, cost_usd, budget_usd, speed, outcome, simulated, updated_at) "
            "SELECT 's-bench-' || s, CASE WHEN s = ? THEN 'running' ELSE 'completed' END, 'standin', "
            "?::TIMESTAMPTZ + to_microseconds(s * ?), ?::TIMESTAMPTZ + to_microseconds(s * ?), "
            "CASE WHEN s = ? THEN NULL ELSE ?::TIMESTAMPTZ + to_microseconds(s * ? + ?) END, ?, "
            "CASE WHEN s = ? THEN 80 ELSE ? END, 4.12, 10.0, 'fast', CASE WHEN s = ? THEN NULL ELSE 'completed' END, "
            "true, CASE WHEN s = ? THEN ?::TIMESTAMPTZ ELSE ?::TIMESTAMPTZ + to_microseconds(s * ? + ?) END "
            "FROM range(?) t(s)",
            [SESSIONS - 1, t0, ITEMS_PER_SESSION * EVENTS_PER_ITEM * 20_000, t0,
             ITEMS_PER_SESSION * EVENTS_PER_ITEM * 20_000, SESSIONS - 1, t0,
             ITEMS_PER_SESSION * EVENTS_PER_ITEM * 20_000, 100_000_000, ITEMS_PER_SESSION, SESSIONS - 1,
             ITEMS_PER_SESSION, SESSIONS - 1, SESSIONS - 1, now, t0, ITEMS_PER_SESSION * EVENTS_PER_ITEM * 20_000,
             100_000_000, SESSIONS])
        con.execute(
            "INSERT INTO approvals (batch_id, session_id, kind, status, requested_at, expires_at, item_ids, "
            "estimated_cost_usd) SELECT 'b-' || b, 's-bench-' || (b % ?), 'approval_request', "
            "CASE WHEN b < 3 THEN 'pending' ELSE 'approved' END, now(), now() + INTERVAL 5 MINUTE, "
            "to_json(['s-bench-' || (b % ?) || ':asset-' || (b % 100), 's-bench-' || (b % ?) || ':asset-' || ((b + 1) % 100)]), "
            "0.08 FROM range(200) t(b)", [SESSIONS, SESSIONS, SESSIONS])
        con.execute("INSERT INTO decisions (batch_id, action, decided_by, applied_at, result) "
                    "SELECT 'b-' || d, 'approve_batch', 'bench', now(), 'applied' FROM range(3, 200) t(d)")
        con.execute("INSERT INTO controls (session_id, command, requested_by, source, applied_at, result) "
                    "SELECT 's-bench-' || (c % ?), 'pause', 'bench', 'console', now(), 'applied' FROM range(500) t(c)",
                    [SESSIONS])
        con.execute("INSERT INTO jobs (spec, requested_by, status) SELECT '{\"provider\":\"standin\"}', 'bench', 'done' "
                    "FROM range(100)")
        con.execute("CREATE TABLE bench_mark (mark VARCHAR)")
        con.execute("INSERT INTO bench_mark VALUES (?)", [BUILD_MARK])
    store.close()
    print(f"built {path} in {time.perf_counter() - started:.1f}s", flush=True)


def is_built(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        store = Store(path)
        rows = store.query("SELECT mark FROM bench_mark")
        store.close()
        return rows == [(BUILD_MARK,)]
    except Exception:
        return False


# -- timing the page queries -------------------------------------------------------------------
def page_queries(store: Store, lock_path: Path) -> dict[str, callable]:
    running = f"s-bench-{SESSIONS - 1}"
    item = f"{running}:asset-5"
    batch = "b-0"
    saved = qg.GalleryFilter(statuses=qg.DEFAULT_STATUSES)
    by_models = qg.GalleryFilter(statuses=qg.DEFAULT_STATUSES, prompt_models=[MODELS[1]],
                                 image_models=["google/gemini-2.5-flash-image"])
    return {
        "live.live_sessions": lambda: q.live_sessions(store),
        "live.session_overview": lambda: q.session_overview(store, running),
        "live.stage_counts": lambda: q.stage_counts(store, running),
        "live.items_in_flight": lambda: q.items_in_flight(store, running),
        "live.recent_events": lambda: q.recent_events(store, session_id=running),
        "live.stage_timeline": lambda: q.stage_timeline(store, running),
        "live.controls_for_session": lambda: q.controls_for_session(store, running),
        "live.engine_status": lambda: q.engine_status(store, lock_path),
        "competition.competed_items": lambda: qm.competed_items(store, running),
        "competition.competition_for_item": lambda: qm.competition_for_item(store, item),
        "competition.model_leaderboard": lambda: qm.model_leaderboard(store),
        "costs.cost_totals": lambda: qc.cost_totals(store),
        "costs.cost_timeseries_all": lambda: qc.cost_timeseries(store),
        "costs.cost_timeseries_session": lambda: qc.cost_timeseries(store, session_id=running),
        "costs.cost_breakdown_stage": lambda: qc.cost_breakdown(store, by="stage"),
        "costs.cost_breakdown_asset_type": lambda: qc.cost_breakdown(store, by="asset_type"),
        "costs.cost_breakdown_model": lambda: qc.cost_breakdown(store, by="model"),
        "costs.per_call_table": lambda: qc.per_call_table(store),
        "approvals.pending_approvals": lambda: qa.pending_approvals(store),
        "approvals.approval_items": lambda: qa.approval_items(store, batch),
        "approvals.decision_history": lambda: qa.decision_history(store),
        "approvals.approval_review": lambda: qo.approval_review(store, batch),
        "every_page.approval_inbox": lambda: qo.approval_inbox(store),
        "live.outcome_counts": lambda: qo.outcome_counts(store, running),
        "live.live_items": lambda: qo.live_items(store, running),
        "live.live_rows": lambda: ql.live_rows(store, running),
        "live.live_rows_last_window": lambda: ql.live_rows(store, running, offset=80, limit=20),
        "live.live_rows_open": lambda: ql.live_rows(store, running, states=ql.SKIPPABLE_STATES),
        "live.live_rows_finished_session": lambda: ql.live_rows(store, "s-bench-42"),
        "competition.winner_scores": lambda: qm.winner_scores(store, "s-bench-42:asset-7"),
        "every_page.approval_alerts": lambda: qn.approval_alerts(store),
        "history.session_outcomes": lambda: qo.session_outcomes(store),
        "gallery.gallery_filters": lambda: qh.gallery_filters(store),
        "gallery.gallery_items": lambda: qh.gallery_items(store, asset_types=["icons"]),
        "gallery.gallery_choices": lambda: qg.gallery_choices(store),
        "gallery.gallery_page": lambda: qg.gallery_page(store, saved),
        "gallery.gallery_page_by_models_deep": lambda: qg.gallery_page(store, by_models, page=20, page_size=40),
        "gallery.gallery_item": lambda: qg.gallery_item(store, item),
        "gallery.gallery_neighbours": lambda: qg.gallery_neighbours(store, saved, "s-bench-42:asset-7"),
        "gallery.gallery_neighbours_by_models": lambda: qg.gallery_neighbours(store, by_models, "s-bench-42:asset-7"),
        "history.session_history": lambda: qh.session_history(store),
        "history.session_items": lambda: qh.session_items(store, running),
        "history.jobs_queue": lambda: qh.jobs_queue(store),
        "events.event_types": lambda: qh.event_types(store),
        "events.explorer_newest": lambda: qh.events_explorer(store),
        "events.explorer_type_session": lambda: qh.events_explorer(store, types=["item_finished"], session_id=running),
        "events.explorer_item": lambda: qh.events_explorer(store, item_id="s-bench-42:asset-7"),
        "events.explorer_seq_range": lambda: qh.events_explorer(store, seq_from=500_000, seq_to=500_999),
    }


def time_queries(store: Store, lock_path: Path, repeat: int) -> dict[str, dict]:
    results = {}
    for name, fn in page_queries(store, lock_path).items():
        fn()  # warm: the first attach of a process pays for loading the catalog
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        results[name] = {"p50_ms": round(statistics.median(samples), 2),
                         "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2)}
        print(f"{name:40s} p50 {results[name]['p50_ms']:7.2f} ms   p95 {results[name]['p95_ms']:7.2f} ms", flush=True)
    return results


# -- the feed during a real fast session ----------------------------------------------------------
def _start_session(data_dir: Path, db: Path) -> subprocess.Popen:
    """A real engine in another process: ``assetgen run`` of every icon, --speed fast, default stand-in latency."""
    cmd = [sys.executable, "-m", "engine", "--data-dir", str(data_dir), "--db", str(db), "run", "--type", "icons",
           "--speed", "fast", "--no-approval", "--latency-scale", "1"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def feed_staleness(path: Path, *, seconds: float, poll_every: float = 0.25) -> dict:
    """Poll the shared Feed the way the console does while a fast session writes; per event, how long
    from its emission (``ts``) until the feed held it."""
    store = Store(path)
    feed = Feed(store, min_interval=0)
    feed.poll(force=True)
    start_seq = feed.last_seq
    engine = _start_session(path.parent, path)
    lags, poll_ms, now_minus_newest = [], [], []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end and engine.poll() is None:
            before = feed.last_seq
            started = time.perf_counter()
            feed.poll(force=True)
            seen_at = datetime.now(timezone.utc)
            poll_ms.append((time.perf_counter() - started) * 1000)
            fresh = [e for e in feed.events(limit=feed.capacity) if e.seq > before]
            lags.extend((seen_at - e.ts).total_seconds() for e in fresh)
            if feed.last_seq > start_seq:
                now_minus_newest.append(feed.staleness_s(now=seen_at))
            time.sleep(max(0.0, poll_every - (time.perf_counter() - started)))
    finally:
        if engine.poll() is None:
            engine.send_signal(signal.SIGINT)  # the run flushes and stops; its session shows interrupted
        _, stderr = engine.communicate(timeout=60)
    store.close()
    if engine.returncode not in (0, 130, -signal.SIGINT, 3) and not lags:
        raise RuntimeError(f"the engine failed (exit {engine.returncode}): {stderr[-2000:]}")
    return {
        "session": "assetgen run --type icons --speed fast (16 in flight), stand-in latency x1",
        "poll_every_s": poll_every, "polls": len(poll_ms), "events_seen": feed.last_seq - start_seq,
        "staleness_p50_s": round(percentile(lags, 50), 3) if lags else None,
        "staleness_p95_s": round(percentile(lags, 95), 3) if lags else None,
        "now_minus_newest_p50_s": round(percentile(now_minus_newest, 50), 3) if now_minus_newest else None,
        "poll_p50_ms": round(percentile(poll_ms, 50), 2) if poll_ms else None,
        "poll_p95_ms": round(percentile(poll_ms, 95), 2) if poll_ms else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/assetgen-bench/console.duckdb"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--feed-seconds", type=float, default=15.0, help="how long to follow the fast session")
    args = parser.parse_args(argv)

    if args.rebuild or not is_built(args.db):
        build(args.db)
    store = Store(args.db)
    counts = dict(zip(("events", "items"), store.query("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM items)")[0]))
    print(f"database {args.db}: {counts['events']:,} events, {counts['items']:,} items", flush=True)
    queries = time_queries(store, args.db.parent / "engine.lock", args.repeat)
    store.close()

    work = args.db.with_name("console-feed.duckdb")  # the writer appends: keep the cached build pristine
    shutil.copyfile(args.db, work)
    feed = feed_staleness(work, seconds=args.feed_seconds)
    work.unlink(missing_ok=True)
    print(f"feed staleness p50 {feed['staleness_p50_s']} s, p95 {feed['staleness_p95_s']} s "
          f"from emission to the feed ({feed['polls']} polls, {feed['events_seen']} events of a real fast "
          f"session)", flush=True)

    worst = max(queries.items(), key=lambda kv: kv[1]["p95_ms"])
    ok = worst[1]["p95_ms"] <= P95_TARGET_MS and (feed["staleness_p50_s"] or 99) <= STALENESS_P50_TARGET_S
    print(json.dumps({"bench": "console", "database": counts, "queries": queries,
                      "worst_query": {"name": worst[0], **worst[1]}, "p95_target_ms": P95_TARGET_MS,
                      "feed": feed, "staleness_p50_target_s": STALENESS_P50_TARGET_S, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
