"""Other processes for the control, approval, resume and job tests (and bench/controls.py).

Run as a script, each subcommand is "someone else" touching the studio file the way a user's
own tool would: a plain ``duckdb.connect(path)`` per statement, closed at once, retried while
the engine holds the lock. Nothing here goes through engine.store, so the tests prove the
engine picks up rows it did not write itself.

    python tests/helpers/engine_child.py sql-shell DB          # JSON requests on stdin, replies on stdout
    python tests/helpers/engine_child.py insert-controls DB SESSION --count 40 --interval 0.25

Imported, it offers :class:`SqlShell` (a long-lived sql-shell child) and ``engine_cli`` (the
``python -m engine`` command line for subprocess runs).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["SqlShell", "engine_cli", "plain_execute", "CONTROL_CYCLE"]

THIS = Path(__file__).resolve()
REPO = THIS.parents[2]
# The bench's control rows: they keep the session moving (every pause is followed by a resume).
CONTROL_CYCLE = (("pause", None), ("resume", None), ("speed", "normal"), ("speed", "fast"))


def _say(**fields) -> None:
    print(json.dumps(fields, default=str), flush=True)


def plain_execute(path: str | os.PathLike, sql: str, params: list | None = None, *,
                  deadline_s: float = 10.0) -> tuple[list[tuple], int]:
    """One statement on a fresh plain connection, as a user's own query; returns (rows, lock retries)."""
    end = time.monotonic() + deadline_s
    retries = 0
    while True:
        try:
            con = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > end:
                raise
            retries += 1
            time.sleep(random.uniform(0.002, 0.012))
            continue
        try:
            cur = con.execute(sql, params or [])
            try:
                rows = cur.fetchall()
            except duckdb.InvalidInputException:  # a statement without a result
                rows = []
            return rows, retries
        finally:
            con.close()


# -- the roles ------------------------------------------------------------------------------------
def _sql_shell(db: str) -> None:
    """One JSON request per stdin line: {"sql": ..., "params": [...]}; one JSON reply per line."""
    _say(ready=True, pid=os.getpid())
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            rows, retries = plain_execute(db, request["sql"], request.get("params"))
            _say(rows=rows, retries=retries, done_at=time.time())
        except Exception as exc:  # the parent asserts on it
            _say(error=f"{type(exc).__name__}: {exc}")


def _insert_controls(db: str, session_id: str, count: int, interval: float) -> None:
    """``count`` control rows, one every ``interval`` s, cycling through CONTROL_CYCLE."""
    next_at = time.monotonic()
    for n in range(count):
        command, arg = CONTROL_CYCLE[n % len(CONTROL_CYCLE)]
        rows, retries = plain_execute(
            db, "INSERT INTO controls (session_id, command, arg, requested_by, source) "
                "VALUES (?, ?, ?, 'bench', 'sql') RETURNING control_id", [session_id, command, arg])
        _say(control_id=rows[0][0], command=command, retries=retries)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    _say(done=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    shell = roles.add_parser("sql-shell")
    shell.add_argument("db")
    inserter = roles.add_parser("insert-controls")
    inserter.add_argument("db")
    inserter.add_argument("session_id")
    inserter.add_argument("--count", type=int, default=40)
    inserter.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args(argv)
    if args.role == "sql-shell":
        _sql_shell(args.db)
    else:
        _insert_controls(args.db, args.session_id, args.count, args.interval)


# -- the parent's side ----------------------------------------------------------------------------
class SqlShell:
    """A child process that runs SQL on the studio file through its own plain connections.

    ``execute`` blocks until the child replies: from a coroutine, use ``aexecute`` so the
    engine's loop keeps running (the engine's ticker needs it to apply what we insert).
    """

    def __init__(self, db_path: str | os.PathLike, *, timeout: float = 20.0):
        self.timeout = timeout
        self.proc = subprocess.Popen([sys.executable, str(THIS), "sql-shell", str(db_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        self._lock = threading.Lock()
        hello = self._reply()
        assert hello.get("ready"), hello

    def _reply(self) -> dict:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        if not box or not box[0]:
            raise AssertionError(f"sql-shell child gave no answer within {self.timeout}s "
                                 f"(exit code {self.proc.poll()})")
        return json.loads(box[0])

    def execute(self, sql: str, params: list | None = None) -> list[list[Any]]:
        """Run one statement in the child; returns its rows, raises AssertionError on a database error."""
        with self._lock:
            self.proc.stdin.write(json.dumps({"sql": sql, "params": params or []}) + "\n")
            self.proc.stdin.flush()
            reply = self._reply()
        if "error" in reply:
            raise AssertionError(f"the child's statement failed: {reply['error']}\n{sql}")
        return reply["rows"]

    async def aexecute(self, sql: str, params: list | None = None) -> list[list[Any]]:
        import asyncio

        return await asyncio.to_thread(self.execute, sql, params)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "SqlShell":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def engine_cli(data_dir: str | os.PathLike, *args: str) -> list[str]:
    """The argv of ``python -m engine --data-dir D <args>`` (the installed `assetgen`)."""
    return [sys.executable, "-m", "engine", "--data-dir", str(data_dir), *map(str, args)]


if __name__ == "__main__":
    main()
