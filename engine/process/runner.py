"""Process entry points: one session in the foreground (`assetgen run`) or the daemon (`assetgen serve`)."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys

from engine.config import Settings
from engine.live.progress import Printer, SessionProgress
from engine.process.runtime import Engine
from engine.session.resume import new_session_id
from engine.templates.catalog import load_catalog_aside

__all__ = ["run_in_process", "serve_forever", "EXIT_CODES"]

log = logging.getLogger(__name__)
# docs/operations.md (Exit codes); 2 is an error before or outside the session (bad options, a crash).
EXIT_CODES = {"completed": 0, "failed": 1, "aborted": 3, "completed_with_failures": 4, "interrupted": 130}


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass


async def _start_engine(settings: Settings, *, lock_timeout: float, ws_port: int | None, **kwargs) -> Engine:
    engine = Engine(settings, lock_timeout=lock_timeout, ws_port=ws_port, **kwargs)
    await engine.start()
    return engine


async def run_in_process(settings: Settings, spec, *, resume_id: str | None = None, lock_timeout: float = 10.0,
                         ws_port: int | None = None, out=None) -> int:
    out = out or sys.stdout
    # a large catalog is parsed in another process while this one starts the engine (first image sooner)
    catalog_parse = None if resume_id else load_catalog_aside(spec.catalog)
    engine = await _start_engine(settings, lock_timeout=lock_timeout, ws_port=ws_port)
    session_id = resume_id or new_session_id()
    print(f"session {session_id}" + (" (resumed)" if resume_id else ""), file=out, flush=True)
    progress = SessionProgress(session_id, simulated=spec.provider == "standin")
    printer = Printer()

    def on_record(record):
        if record.session_id == session_id:
            progress.apply(record.type, record.item_id, record.payload)
            if record.type in ("item_finished", "generation_complete", "approval_request",
                               "threshold_approval_request", "control_flag_change"):
                printer.show(progress, force=True)

    engine.bus.subscribe(on_record)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    task = asyncio.create_task(engine.run_session(spec, session_id=session_id, resume=bool(resume_id),
                                                  catalog_parse=catalog_parse))
    stopper = asyncio.create_task(stop.wait())
    try:
        while not task.done():
            await asyncio.wait({task, stopper}, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)
            printer.show(progress)
            if stop.is_set() and not task.done():
                print("\nstopping: writing every event before exit…", file=sys.stderr, flush=True)
                task.cancel()
                break
        try:
            run = await task
        except asyncio.CancelledError:
            print(f"\nsession {session_id} interrupted; continue it with `assetgen run --resume {session_id}`",
                  file=out, flush=True)
            return EXIT_CODES["interrupted"]
        except Exception as exc:
            print(f"\nerror: {exc}", file=sys.stderr, flush=True)
            return 2
    finally:
        stopper.cancel()
        engine.bus.unsubscribe(on_record)
        await engine.stop()
    printer.finish(progress)
    counts = ", ".join(f"{v} {k}" for k, v in sorted(run.counts().items()))
    outcome = run.outcome
    print(f"session {session_id} {outcome}: {counts}; cost ${run.budget.spent_usd:.4f}"
          + (" (simulated)" if run.simulated else ""), file=out, flush=True)
    if run.fatal:
        print(f"error: {run.fatal}", file=sys.stderr, flush=True)
    return EXIT_CODES[outcome]


async def serve_forever(settings: Settings, *, max_sessions: int = 1, lock_timeout: float = 10.0,
                        ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    from engine.intents.requests import submit_job
    from engine.intents.jobs import requeue_stopped_jobs
    from engine.process.wiring import job_handler

    engine = await _start_engine(settings, lock_timeout=lock_timeout, ws_port=None)
    def requeue():
        with engine.store.write() as con:
            return requeue_stopped_jobs(con)

    requeued = await asyncio.to_thread(requeue)
    for job_id, session_id in requeued:
        log.info("job %s queued again: %s", job_id,
                 f"it resumes interrupted session {session_id}" if session_id else "its session never started")
    has_job = {session_id for _, session_id in requeued}
    for session_id in [s for s in engine.interrupted_at_start if s not in has_job]:
        job_id = await asyncio.to_thread(submit_job, engine.store, {"resume": session_id},
                                         requested_by="engine (resume after restart)")
        log.info("resuming interrupted session %s as job %s", session_id, job_id)
    runner = job_handler(engine, max_sessions=max_sessions)
    stop = stop or asyncio.Event()
    _install_stop_signals(stop)
    ws = f"ws://{settings.ws_host}:{engine.ws.port}" if engine.ws else "off"
    log.info("engine serving %s (websockets %s); waiting for jobs", settings.db_path, ws)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("stopping: %d jobs running are left interrupted; writing every event", len(runner.running))
        await runner.cancel_all()
        await engine.stop()
