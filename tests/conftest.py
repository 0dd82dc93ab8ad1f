"""Shared fixtures: small and generic. Real DuckDB files in tmp_path, never a mocked database."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.store.database import Store
from helpers.waiting import wait_until



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


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    return wait_until
