"""Shared fixtures: small and generic. Real DuckDB files in tmp_path, never a mocked database."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, TypeVar

import pytest

from engine.store.database import Store

T = TypeVar("T")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "studio.duckdb"


@pytest.fixture
def store(db_path: Path):
    """A migrated Store on a fresh file in tmp_path."""
    s = Store(db_path)
    s.migrate()
    yield s
    s.close()


def wait_until(condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    return wait_until
