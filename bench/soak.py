"""Soak: a 40-item session with faults on, killed with SIGKILL at random moments and resumed each time.

`assetgen run` runs in a subprocess over the stand-in with `--faults 429=0.1,502=0.05,timeout=0.02`;
it is killed with SIGKILL --kills times at random moments (at least two of them while another
process holds the database file read-write through a plain `duckdb.connect`) and resumed each time
with `assetgen run --resume <sid>`, the last resume running to the end. A websockets client
(token + hello as in docs/protocol.md) records every (seq, type) it is sent, reconnecting with
since_seq across engines. Afterwards it checks:

* every asset saved once; files = saved items; no call id twice; no item with two paid images;
* sessions.cost_usd = Σ api_calls.cost_usd = Σ items.cost_usd = Σ the PNGs' provenance costs (1e-9);
* every (seq, type) the client saw is in the file with the same type; seq gap-free.

    python bench/soak.py                       # 40 items, 8 kills, ~2-4 min
    python bench/soak.py --items 12 --kills 3  # quicker

Human figures first; the JSON summary is the last line.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from _util import REPO, print_summary

sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from engine.session.save import read_provenance  # noqa: E402
from engine.ws.protocol import hello_message  # noqa: E402

FAULTS = "429=0.1,502=0.05,timeout=0.02"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Watcher:
    """A websockets client in its own thread: records (seq, type) of every event frame it gets."""

    def __init__(self, port: int, token_path: Path):
        self.port, self.token_path = port, token_path
        self.seen: dict[int, str] = {}
        self.conflicts: list[tuple[int, str, str]] = []  # one seq sent with two types
        self.connections = 0
        self.engine_pids: set[int] = set()  # the engines it was connected to (from each snapshot)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                token = self.token_path.read_text().strip()
                async with connect(f"ws://127.0.0.1:{self.port}", max_size=2**24, open_timeout=3) as ws:
                    await ws.send(hello_message(token, max(self.seen, default=0)))
                    snapshot = json.loads(await ws.recv())
                    self.engine_pids.add((snapshot.get("engine") or {}).get("pid"))
                    self.connections += 1
                    while not self._stop.is_set():
                        try:
                            message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        except asyncio.TimeoutError:
                            continue
                        if message.get("type") == "event":
                            seq, kind = message["seq"], message["event"]
                            known = self.seen.setdefault(seq, kind)
                            if known != kind:
                                self.conflicts.append((seq, known, kind))
            except Exception:  # the engine is down (killed) or restarting: try again soon
                await asyncio.sleep(0.1)


def _engine(data: Path, port: int, *args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "engine", "--data-dir", str(data), "run", "--ws-port", str(port), *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _first_line(proc: subprocess.Popen, timeout: float = 60) -> str:
    got: list[str] = []
    threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True).start()
    end = time.monotonic() + timeout
    while not got and time.monotonic() < end:
        time.sleep(0.02)
    return got[0] if got else ""


def _drain(proc: subprocess.Popen, sink: list[str]) -> None:
    threading.Thread(target=lambda: sink.append(proc.stderr.read()), daemon=True).start()
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()


_HOLDER = """
import duckdb, sys, time
end = time.monotonic() + 30
while True:
    try:
        con = duckdb.connect(sys.argv[1]); break
    except Exception:
        if time.monotonic() > end: raise
        time.sleep(0.01)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(db: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert _first_line(proc, 40).strip() == "held", "the holder could not open the database"
    return proc


def soak(data: Path, args) -> dict:
    rng = random.Random(args.seed)
    port = _free_port()
    db = data / "studio.duckdb"
    watcher = Watcher(port, data / ".ws-token")
    held_kills = set(rng.sample(range(args.kills), min(args.kills, max(2, args.held))))
    base = ["--limit", args.items, "--no-approval",
            "--latency-scale", args.latency_scale, "--faults", FAULTS, "--seed", args.seed]
    proc = _engine(data, port, *base)
    line = _first_line(proc)
    session_id = line.split()[1] if line.startswith("session") else None
    assert session_id, f"no session id from the first run: {line!r}"
    watcher.start()
    kills, held_done, exits, stderr = [], 0, [], []
    _drain(proc, stderr)
    for n in range(args.kills):
        # the random moment counts from when this engine serves (the client is connected to it)
        end = time.monotonic() + 60
        while proc.pid not in watcher.engine_pids and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        wait = rng.uniform(*args.kill_after)
        holder = None
        if n in held_kills:
            time.sleep(wait * 0.4)
            holder = _hold(db, args.hold_seconds)
            time.sleep(rng.uniform(0.5, max(0.6, args.hold_seconds * 0.6)))
        else:
            time.sleep(wait)
        if proc.poll() is not None:  # it finished before this kill
            exits.append(proc.returncode)
            if holder:
                holder.wait(60)
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        kills.append({"at_run": n + 1, "while_held": holder is not None})
        if holder is not None:
            held_done += 1
            holder.wait(60)
        proc = _engine(data, port, "--resume", session_id)
        _drain(proc, stderr)
    try:
        exits.append(proc.wait(args.final_timeout))
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        exits.append("timeout")
    time.sleep(1.0)  # the client's last frames
    watcher.stop()
    return {"session_id": session_id, "kills": kills, "held_kills": held_done, "exits": exits,
            "watcher": watcher, "stderr_tail": (stderr[-1] if stderr else "")[-600:]}


def check(data: Path, session_id: str, watcher: Watcher) -> dict:
    con = duckdb.connect(str(data / "studio.duckdb"), read_only=True)
    q = lambda sql, *p: con.execute(sql, list(p)).fetchall()  # noqa: E731
    items = q("SELECT item_id, asset_id, status, cost_usd, image_path FROM items WHERE session_id = ?", session_id)
    session_cost, session_status = q("SELECT cost_usd, status FROM sessions WHERE session_id = ?", session_id)[0]
    calls_sum = q("SELECT coalesce(sum(cost_usd), 0) FROM api_calls WHERE session_id = ?", session_id)[0][0]
    call_starts = [r[0] for r in q("SELECT payload->>'call_id' FROM events WHERE type = 'openrouter_api_call' "
                                   "AND session_id = ?", session_id)]
    paid_images = q("SELECT item_id, count(*) FROM api_calls WHERE session_id = ? AND purpose = 'image' "
                    "AND cost_usd > 0 GROUP BY 1 HAVING count(*) > 1", session_id)
    saved_finishes = Counter(r[0] for r in q("SELECT item_id FROM events WHERE type = 'item_finished' AND "
                                             "payload->>'outcome' = 'saved' AND session_id = ?", session_id))
    events = dict(q("SELECT seq, type FROM events"))
    count, distinct, low, high = q("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events")[0]
    con.close()
    saved = [i for i in items if i[2] == "saved"]
    folder = data / "assets" / session_id
    files = sorted(folder.glob("*.png")) if folder.exists() else []
    provenance = [read_provenance(f) for f in files]
    png_sum = sum(((p or {}).get("costs") or {}).get("total_usd") or 0.0 for p in provenance)
    items_sum = sum(i[3] or 0.0 for i in items)
    unseen = [s for s in watcher.seen if s not in events]
    mistyped = [s for s, t in watcher.seen.items() if s in events and events[s] != t]
    result = {
        "session_status": session_status, "items": len(items), "saved": len(saved),
        "every_asset_saved_once": len(saved) == len(items) and all(saved_finishes[i[0]] == 1 for i in saved)
        and len({i[1] for i in saved}) == len(saved),
        "files": len(files), "files_equal_saved": len(files) == len(saved),
        "part_files": len(list(data.rglob("*.part"))),
        "call_starts": len(call_starts), "call_ids_unique": len(call_starts) == len(set(call_starts)),
        "items_with_two_paid_images": len(paid_images),
        "cost": {"sessions": session_cost, "api_calls": calls_sum, "items": items_sum, "png_provenance": png_sum},
        "seen_by_client": len(watcher.seen), "client_connections": watcher.connections,
        "seen_not_in_file": len(unseen), "seen_with_other_type": len(mistyped) + len(watcher.conflicts),
        "events": count, "seq_gap_free": count == distinct == high and low == 1,
    }
    costs = [session_cost, calls_sum, items_sum, png_sum]
    result["costs_agree"] = max(costs) - min(costs) <= 1e-9
    result["ok"] = (result["every_asset_saved_once"] and result["files_equal_saved"] and result["call_ids_unique"]
                    and not paid_images and result["costs_agree"] and not unseen and not mistyped
                    and not watcher.conflicts and result["seq_gap_free"] and result["part_files"] == 0)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--held", type=int, default=2, help="kills while another process holds the file (>= 2)")
    parser.add_argument("--hold-seconds", type=float, default=4.0)
    parser.add_argument("--kill-after", type=float, nargs=2, default=(2.0, 7.0), metavar=("MIN", "MAX"),
                        help="seconds after a (re)start before the kill, drawn uniformly")
    parser.add_argument("--latency-scale", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--final-timeout", type=float, default=600)
    parser.add_argument("--keep", help="use this data dir (kept) instead of a temporary one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        data = Path(args.keep or tmp) / "data"
        started = time.monotonic()
        run = soak(data, args)
        result = check(data, run["session_id"], run["watcher"])
    elapsed = time.monotonic() - started
    print(f"session {run['session_id']}: {len(run['kills'])} kills ({run['held_kills']} while the file was held "
          f"by another process), exits {run['exits']}, {elapsed:.0f}s")
    print(f"items {result['items']}, saved {result['saved']} (each once: {result['every_asset_saved_once']}), "
          f"files {result['files']}, .part {result['part_files']}")
    print(f"calls {result['call_starts']} (ids unique: {result['call_ids_unique']}), items with two paid images "
          f"{result['items_with_two_paid_images']}")
    costs = ", ".join(f"{k} ${v:.9f}" for k, v in result["cost"].items())
    print(f"cost: {costs} -> agree {result['costs_agree']}")
    print(f"client saw {result['seen_by_client']} events over {result['client_connections']} connections: "
          f"{result['seen_not_in_file']} not in the file, {result['seen_with_other_type']} with another type; "
          f"{result['events']} events, seq gap-free {result['seq_gap_free']}")
    if not result["ok"] and run["stderr_tail"]:
        print("last engine stderr:", run["stderr_tail"])
    print_summary({"benchmark": "soak", "items": args.items, "kills": run["kills"], "held_kills": run["held_kills"],
                   "exits": run["exits"], "elapsed_s": round(elapsed, 1), **result})
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
