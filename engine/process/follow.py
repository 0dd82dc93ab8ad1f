"""Follow a job the daemon runs, from the database: what `assetgen run` does when an engine is already up."""
from __future__ import annotations

import sys
import time

from engine.live.progress import Printer, SessionProgress
from engine.store.database import Store, StoreBusy
from engine.vocabulary import JOB_TERMINAL, SESSION_TERMINAL

__all__ = ["follow_job"]



def follow_job(store: Store, job_id: int, *, out=None, poll_s: float = 0.5, printer: Printer | None = None) -> str:
    """Show the job's session progress until the job ends; returns the session's outcome, or the job's status.

    The job decides: a session row may be terminal before the job is (``run --resume`` of a
    session that already ended shows that session's old status while the job fails).
    """
    out = out or sys.stdout
    printer = printer or Printer()
    progress: SessionProgress | None = None
    while True:
        try:
            job = store.query_dicts("SELECT status, session_id, error FROM jobs WHERE job_id = ?", [job_id])
            session = (store.query_dicts(
                "SELECT status, items_done, items_total, cost_usd, budget_usd, simulated, pause_reason, message "
                "FROM sessions WHERE session_id = ?", [job[0]["session_id"]]) if job and job[0]["session_id"] else [])
        except StoreBusy:
            time.sleep(poll_s)
            continue
        if not job:
            raise ValueError(f"unknown job {job_id}")
        job = job[0]
        if session:
            row = session[0]
            if progress is None:
                progress = SessionProgress(job["session_id"])
                print(f"session {job['session_id']}", file=out, flush=True)
            progress.load_row(row)
            printer.show(progress)
            if job["status"] == "done" and row["status"] in SESSION_TERMINAL:
                printer.finish(progress)
                if row["message"]:
                    print(row["message"], file=sys.stderr, flush=True)
                return row["status"]
        if job["status"] in JOB_TERMINAL:
            print(f"job {job_id} {job['status']}" + (f": {job['error']}" if job["error"] else ""), file=out, flush=True)
            return job["status"]
        time.sleep(poll_s)
