"""`assetgen sql` answers while an engine writes the same file, and refuses to change anything."""
import json
import subprocess
import sys
import time

import pytest

from helpers.backbone_procs import follow, spawn

from conftest import wait_until


def assetgen(db_path, *args, timeout=30):
    return subprocess.run([sys.executable, "-m", "engine", "--db", str(db_path), *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_sql_answers_while_an_engine_writes_continuously(db_path):
    writer = spawn("engine", db_path, "--batch", "2000")
    try:
        lines = follow(writer)
        wait_until(lambda: any("persisted" in line for line in lines), timeout=20, message="first commit")
        started = time.monotonic()
        result = assetgen(db_path, "sql", "select type, count(*) AS n from events group by 1", "--format", "json")
        elapsed = time.monotonic() - started
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 0, result.stderr
    counts = {row["type"]: row["n"] for row in json.loads(result.stdout)}
    assert sum(counts.values()) >= 2000
    print(f"assetgen sql answered in {elapsed:.2f}s (process start included) while the writer committed back to back")


def test_sql_is_read_only(db_path):
    assetgen(db_path, "status")  # creates the schema
    result = assetgen(db_path, "sql", "delete from events")
    assert result.returncode != 0
    assert "read-only" in (result.stderr + result.stdout).lower()
