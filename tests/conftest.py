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


# Whole files whose tests run real sessions, engines or Streamlit apps (seconds each): outside the fast
# inner loop (`pytest -m "not slow"`, which stays well under a minute), always in the full suite.
SESSION_FILES = {
    "test_approval.py", "test_controls.py", "test_console_apptest.py", "test_console_review.py",
    "test_console_budget.py", "test_credentials_save.py", "test_credentials_export.py", "test_credentials_gallery.py",
    "test_credentials_key_secrecy.py", "test_faults_session.py", "test_fault_drill.py", "test_hardening_jobs.py",
    "test_hardening_outcomes.py", "test_jobs.py", "test_journal.py", "test_key_secrecy.py", "test_pipeline.py",
    "test_openrouter_conformance.py", "test_quality_cli.py", "test_scale.py", "test_competition.py", "test_save.py",
    "test_doctor.py", "test_hardening_engine_lock.py", "test_forecast_gate.py",
    "test_live_apptest.py", "test_browser_live.py", "test_browser_gallery.py",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SESSION_FILES:
            item.add_marker(pytest.mark.slow)
