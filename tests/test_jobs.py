"""The job queue: `assetgen submit` writes a row, the daemon (serve_forever) runs jobs in order.

The daemon runs in this test's event loop with a stop event; the test watches the jobs
table from another process (helpers.engine_child.SqlShell), as the console would.
"""
from __future__ import annotations

import asyncio
import contextlib
import json

from click.testing import CliRunner
from helpers.engine_child import SqlShell
from helpers.live_engine import run_async, until

from engine.cli import cli
from engine.intents.requests import submit_job
from engine.config import load_settings
from engine.process.runner import serve_forever
from engine.session.spec import RunSpec
from engine.store.database import Store


@contextlib.asynccontextmanager
async def daemon(settings):
    stop, ready = asyncio.Event(), asyncio.Event()
    served = asyncio.create_task(serve_forever(settings, stop=stop, ready=ready))
    try:
        await until(lambda: ready.is_set() or served.done(), timeout=20, message="the daemon to start")
        yield
    finally:
        stop.set()
        await served


async def jobs(shell: SqlShell) -> list[list]:
    return await shell.aexecute("SELECT job_id, status, error, session_id FROM jobs ORDER BY job_id")


def small_job(latency_scale: float = 0.05, limit: int = 2) -> dict:
    return RunSpec(types=["icons"], limit=limit, latency_scale=latency_scale).to_dict()


def test_submit_writes_a_queued_job_row(tmp_path):
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "submit", "--type", "icons", "--limit", "2",
                                      "--speed", "fast", "--requested-by", "ana"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "job 1 queued"
    store = Store(data / "studio.duckdb")
    row = store.query_dicts("SELECT status, requested_by, CAST(spec AS VARCHAR) AS spec, session_id FROM jobs")[0]
    store.close()
    assert (row["status"], row["requested_by"], row["session_id"]) == ("queued", "ana", None)
    spec = RunSpec.from_dict(json.loads(row["spec"]))
    assert (spec.types, spec.limit, spec.speed, spec.provider) == (["icons"], 2, "fast", "standin")


def test_the_daemon_runs_queued_jobs_in_order_one_session_at_a_time(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)
    store = Store(settings.db_path)
    ids = [submit_job(store, small_job(), requested_by="tester") for _ in range(3)]
    store.close()

    async def scenario():
        seen: list[tuple] = []  # every distinct state of the queue the console could have shown
        with SqlShell(settings.db_path) as shell:
            async with daemon(settings):
                async def all_done():
                    state = tuple((job_id, status) for job_id, status, *_ in await jobs(shell))
                    if not seen or seen[-1] != state:
                        seen.append(state)
                    return all(status == "done" for _, status in state)
                await until(all_done, timeout=60, interval=0.05, message="three jobs done")
                sessions = await shell.aexecute(
                    "SELECT j.job_id, s.status, epoch_us(j.started_at), epoch_us(j.finished_at), "
                    "epoch_us(s.started_at), epoch_us(s.finished_at) FROM jobs j JOIN sessions s USING (session_id) "
                    "ORDER BY j.job_id")
        return seen, sessions

    seen, sessions = run_async(scenario(), timeout=90)
    assert [s[0] for s in sessions] == ids and {s[1] for s in sessions} == {"completed"}
    for earlier, later in zip(sessions, sessions[1:]):  # in order, never overlapping
        assert earlier[3] <= later[2] and earlier[5] <= later[4]
    for state in seen:
        statuses = [status for _, status in state]
        assert statuses.count("running") <= 1, state
        assert statuses == sorted(statuses, key=["done", "running", "queued"].index), state  # FIFO
    for job_id in ids:  # each job went queued -> running -> done, as the table showed it
        path = [dict(state)[job_id] for state in seen]
        assert [s for i, s in enumerate(path) if i == 0 or path[i - 1] != s] in (
            ["queued", "running", "done"], ["running", "done"], ["queued", "done"]), path


# Each bad job: (spec as JSON text or None, what its error must say).
BAD_JOBS = [
    ('{"speed": "warp"}', "invalid spec: Speed must be one of slow, normal, fast, got 'warp'"),
    ('{"colour": "red"}', "invalid spec: unknown run option(s): colour"),
    ('[1, 2]', "invalid spec: a run spec must be a JSON object"),
    ('"icons"', "invalid spec: a run spec must be a JSON object"),
    (None, "invalid spec: the job has no spec"),
    ('{"types": ["spaceships"]}', "spaceships"),
    ('{"provider": "openrouter", "limit": 1}', "OPENROUTER_API_KEY is not set"),
    ('{"resume": "s-nope"}', "unknown session 's-nope'"),
]


def test_invalid_jobs_fail_with_a_message_and_the_queue_goes_on(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)

    async def scenario():
        with SqlShell(settings.db_path) as shell:
            async with daemon(settings):
                for spec, _ in BAD_JOBS:
                    await shell.aexecute("INSERT INTO jobs (spec, requested_by) VALUES (?, 'sql')", [spec])
                await shell.aexecute("INSERT INTO jobs (spec) VALUES (?)", [json.dumps(small_job())])

                async def settled():
                    rows = await jobs(shell)
                    return rows if all(r[1] in ("done", "failed") for r in rows) else None
                return await until(settled, timeout=60, interval=0.05, message="every job to settle")

    rows = run_async(scenario(), timeout=90)
    for (job_id, status, error, _), (spec, why) in zip(rows, BAD_JOBS):
        assert status == "failed" and why in (error or ""), (spec, error)
    assert rows[-1][1:3] == ["done", None]  # the valid job after them still ran


def test_a_job_whose_session_is_aborted_ends_cancelled(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)
    store = Store(settings.db_path)
    # 12 items: the abort lands while the session runs, even when the file shows 'running' late (a busy machine)
    submit_job(store, small_job(latency_scale=1.0, limit=12))
    store.close()

    async def scenario():
        with SqlShell(settings.db_path) as shell:
            async with daemon(settings):
                running = await until(lambda: _running_session(shell), timeout=20, interval=0.05,
                                      message="the job to start")
                await shell.aexecute("INSERT INTO controls (session_id, command) VALUES (?, 'abort')", [running])

                async def finished():
                    rows = await jobs(shell)
                    return rows if rows[0][1] not in ("queued", "running") else None
                return await until(finished, timeout=20, interval=0.05, message="the job to end")

    (job,) = run_async(scenario(), timeout=60)
    assert job[1:3] == ["cancelled", "the session was aborted"]


async def _running_session(shell):
    rows = await shell.aexecute("SELECT session_id FROM jobs WHERE status = 'running'")
    return rows[0][0] if rows else None
