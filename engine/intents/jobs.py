"""The job queue behind `assetgen serve`: queued runs start in order, one session at a time by default.

``assetgen submit`` and the console's "new run" append ``jobs`` rows; the
daemon's tick handler claims the oldest queued job when a session slot is free
and keeps the row's status in step (queued → running → done | failed | cancelled; a
job whose session was aborted is cancelled, one the daemon stopped is interrupted, and
queued again by the next daemon to start, which resumes its session).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import TYPE_CHECKING

import duckdb

from engine.session.resume import new_session_id
from engine.session.spec import RunSpec, SpecError
from engine.limits import row_problem
from engine.vocabulary import JOB_LEFT_MIDWAY, SESSION_TERMINAL, sql_list

if TYPE_CHECKING:
    from engine.intents.handler import IntentHost

__all__ = ["JobRunner", "requeue_stopped_jobs"]

log = logging.getLogger(__name__)


class JobRunner:
    """Tick handler plus the tasks running claimed jobs."""

    def __init__(self, engine: "IntentHost", *, max_sessions: int = 1):
        self.engine = engine
        self.max_sessions = max_sessions
        self.running: dict[int, asyncio.Task] = {}
        self._outbox: deque[tuple[int, str, str | None]] = deque()  # (job_id, status, error)
        # Set when the daemon starts shutting down: no job is claimed after it (one claimed then
        # would stay `running` with a session that never starts).
        self.closing = False

    def on_tick(self, con: duckdb.DuckDBPyConnection) -> None:
        while self._outbox:
            job_id, status, error = self._outbox.popleft()
            if status == "queued":  # claimed in the tick the daemon began to stop: never started
                con.execute("UPDATE jobs SET status = 'queued', started_at = NULL, session_id = CASE WHEN "
                            "session_id IN (SELECT session_id FROM sessions) THEN session_id END WHERE job_id = ?",
                            [job_id])
                continue
            con.execute("UPDATE jobs SET status = ?, error = ?, finished_at = now() WHERE job_id = ?",
                        [status, error, job_id])
        free = self.max_sessions - len(self.running)
        if free <= 0 or self.closing:
            return
        rows = con.execute("SELECT job_id, CAST(spec AS VARCHAR), session_id FROM jobs WHERE status = 'queued' "
                           "ORDER BY job_id LIMIT ?", [free]).fetchall()
        for job_id, raw, started_session in rows:
            try:
                if raw is None:
                    raise SpecError('the job has no spec; write a JSON object, e.g. {"test": true}')
                too_big = row_problem({"spec": raw})
                if too_big:
                    raise SpecError(too_big)
                data = json.loads(raw)
                resume_id = data.pop("resume", None) if isinstance(data, dict) else None
                spec = RunSpec.from_dict(data)
            except (SpecError, json.JSONDecodeError) as exc:
                con.execute("UPDATE jobs SET status = 'failed', error = ?, finished_at = now() WHERE job_id = ?",
                            [f"invalid spec: {exc}", job_id])
                continue
            resume_id = resume_id or started_session  # a job requeued after a stop continues its session
            session_id = resume_id or new_session_id()
            resume = bool(resume_id)
            con.execute("UPDATE jobs SET status = 'running', session_id = ?, started_at = now() WHERE job_id = ?",
                        [session_id, job_id])
            self.running[job_id] = None  # reserve the slot before the loop starts the task
            self.engine.loop.call_soon_threadsafe(self._start, job_id, spec, session_id, resume)

    def _start(self, job_id: int, spec: RunSpec, session_id: str, resume: bool) -> None:
        if self.closing:  # the claim raced the shutdown: give the job back to the queue
            self.running.pop(job_id, None)
            self._outbox.append((job_id, "queued", None))
            return
        self.running[job_id] = asyncio.create_task(self._run(job_id, spec, session_id, resume), name=f"job-{job_id}")

    async def _run(self, job_id: int, spec: RunSpec, session_id: str, resume: bool) -> None:
        try:
            run = await self.engine.run_session(spec, session_id=session_id, resume=resume)
            if run.fatal:
                self._outbox.append((job_id, "failed", run.fatal))
            elif run.aborted:  # an operator stopped it: the job did not do what it asked
                self._outbox.append((job_id, "cancelled", "the session was aborted"))
            elif run.outcome == "failed":
                self._outbox.append((job_id, "failed", "every item failed"))
            elif run.outcome == "completed_with_failures":
                failed = run.counts().get("failed", 0) + run.counts().get("aborted", 0)
                self._outbox.append((job_id, "done", f"{failed} of {len(run.items)} items did not finish"))
            else:
                self._outbox.append((job_id, "done", None))
        except asyncio.CancelledError:
            self._outbox.append((job_id, "interrupted", "the daemon stopped"))
            raise
        except Exception as exc:  # a bad job must not stop the daemon
            log.exception("job %s failed", job_id)
            self._outbox.append((job_id, "failed", str(exc)))
        finally:
            self.running.pop(job_id, None)

    async def cancel_all(self) -> None:
        self.closing = True
        tasks = [t for t in self.running.values() if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def requeue_stopped_jobs(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None]]:
    """Queue again the jobs a stopped or dead daemon left mid-session; returns (job_id, session_id) pairs.

    Run at daemon start, after sessions a dead engine left open were marked interrupted, so no
    session is live: a `running` or `interrupted` job keeps its row and its session id, and the
    runner resumes that session when it takes it. A job whose session never started (claimed as
    the daemon stopped) is queued with no session, so it starts afresh; one whose session has
    already ended takes that session's outcome instead of running twice.
    """
    con.execute(f"""
        UPDATE jobs SET status = CASE s.status WHEN 'aborted' THEN 'cancelled' WHEN 'failed' THEN 'failed'
                                               ELSE 'done' END,
                        error = CASE s.status WHEN 'aborted' THEN 'the session was aborted'
                                              WHEN 'failed' THEN 'the session failed' END,
                        finished_at = coalesce(jobs.finished_at, now())
        FROM sessions s
        WHERE jobs.session_id = s.session_id AND jobs.status IN {sql_list(JOB_LEFT_MIDWAY)}
          AND s.status IN {sql_list(SESSION_TERMINAL)}""")
    return [tuple(row) for row in con.execute(f"""
        UPDATE jobs SET status = 'queued', error = NULL, finished_at = NULL, started_at = NULL,
                        session_id = CASE WHEN session_id IN (SELECT session_id FROM sessions) THEN session_id END
        WHERE status IN {sql_list(JOB_LEFT_MIDWAY)} AND (session_id IS NULL OR session_id NOT IN (
            SELECT session_id FROM sessions WHERE status <> 'interrupted'))
        RETURNING job_id, session_id""").fetchall()]
