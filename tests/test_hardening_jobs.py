"""Jobs are never claimed while the daemon stops, and a `running` job with no live session is queued again."""
from __future__ import annotations

import asyncio

from helpers.engine_child import SqlShell
from helpers.live_engine import run_async, until

from engine.intents.requests import submit_job
from engine.config import load_settings
from engine.intents.jobs import JobRunner
from engine.process.runner import serve_forever
from engine.process.runtime import Engine
from engine.session.spec import RunSpec
from engine.store.database import Store


def small_job() -> dict:
    return RunSpec(types=["icons"], limit=1, latency_scale=0.0, speed="fast").to_dict()


def test_no_job_is_claimed_once_the_daemon_is_stopping(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)

    async def scenario():
        async with Engine(settings, serve_websockets=False) as engine:
            runner = JobRunner(engine)
            engine.ticker.add_handler(runner)
            await runner.cancel_all()  # SIGTERM: the daemon has begun to stop
            job_id = await asyncio.to_thread(submit_job, engine.store, small_job(), requested_by="t")
            await engine.flush()
            await engine.flush()  # two ticks: the one that would claim it, the one that would start it
            return job_id, runner.running, engine.store.query("SELECT status, session_id FROM jobs")

    job_id, running, rows = run_async(scenario())
    assert rows == [("queued", None)] and running == {}


def test_a_claim_that_raced_the_stop_goes_back_to_the_queue(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)

    async def scenario():
        async with Engine(settings, serve_websockets=False) as engine:
            runner = JobRunner(engine)
            job_id = await asyncio.to_thread(submit_job, engine.store, small_job(), requested_by="t")
            with engine.store.write() as con:
                runner.on_tick(con)  # claimed in the ticker thread; the start is posted to the loop ...
            await runner.cancel_all()  # ... which begins to stop first
            await asyncio.sleep(0)  # the posted start runs now
            engine.ticker.add_handler(runner)
            await engine.flush()
            return runner.running, engine.store.query("SELECT status, session_id, started_at FROM jobs")

    running, rows = run_async(scenario())
    assert rows == [("queued", None, None)] and running == {}


def test_a_running_job_whose_session_never_started_is_queued_again_at_start(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)
    store = Store(settings.db_path)
    store.migrate()
    job_id = submit_job(store, small_job(), requested_by="t")
    # what a daemon stopped mid-claim left behind: `running`, with a session id that never appeared
    store.execute("UPDATE jobs SET status = 'running', session_id = 's-never-started', started_at = now()")
    store.close()

    async def scenario():
        stop, ready = asyncio.Event(), asyncio.Event()
        served = asyncio.create_task(serve_forever(settings, stop=stop, ready=ready))
        try:
            await until(lambda: ready.is_set() or served.done(), timeout=20, message="the daemon to start")
            with SqlShell(settings.db_path) as shell:  # another process, as the console would be
                async def finished():
                    return (await shell.aexecute("SELECT status FROM jobs"))[0][0] in ("done", "failed")
                await until(finished, timeout=30, message="the job to finish")
                return await shell.aexecute("SELECT j.status, j.error, s.status FROM jobs j "
                                            "LEFT JOIN sessions s USING (session_id)")
        finally:
            stop.set()
            await served

    assert run_async(scenario(), timeout=60) == [["done", None, "completed"]]
