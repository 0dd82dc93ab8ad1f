"""The API key goes into one request header and nowhere else: no table, no event, no log line, no file."""
from __future__ import annotations

import asyncio
import logging

import duckdb
import pytest
from helpers.pipeline_kit import forwarding_handler, mock_client_factory, openrouter_error

from engine.config import load_settings
from engine.process.runtime import Engine
from engine.session.spec import RunSpec

pytestmark = pytest.mark.timeout(60)
KEY = "sk-or-v1-TESTKEY-d0c7f1e5a9b34c2e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c"


def test_the_api_key_appears_in_no_table_event_log_line_or_file(tmp_path, caplog):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)
    sent: list[str] = []
    calls = {"n": 0}

    def intercept(request, body):
        sent.append(request.headers.get("authorization", ""))
        calls["n"] += 1
        if calls["n"] % 4 == 1:  # a proxy that echoes the key in its error message
            return openrouter_error(502, f"upstream rejected Bearer {KEY}", error_type="provider_error")
        return None

    async def main():
        async with Engine(settings, serve_websockets=False,
                          client_factory=mock_client_factory(forwarding_handler(intercept), api_key=KEY)) as engine:
            return await engine.run_session(RunSpec(test=True, test_type="icons", latency_scale=0),
                                            session_id="s-secret")

    with caplog.at_level(logging.DEBUG):
        run = asyncio.run(main())

    assert run.counts() == {"saved": 3}
    assert sent and all(h == f"Bearer {KEY}" for h in sent)  # the key did go where it belongs
    con = duckdb.connect(str(settings.db_path), read_only=True)  # a user's own look at the file
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert {"events", "sessions", "items", "api_calls", "proposals"} <= set(tables)
        errors = con.execute("SELECT count(*) FROM api_calls WHERE http_status = 502").fetchone()[0]
        assert errors > 0  # the echoing answers were recorded ...
        for table in tables:
            dump = con.execute(f'SELECT * FROM "{table}"').df().to_csv()
            assert KEY not in dump, f"the key is in table {table}"  # ... but without the key
            assert "TESTKEY" not in dump, f"part of the key is in table {table}"
    finally:
        con.close()
    lines = [record.getMessage() for record in caplog.records]
    assert lines, "nothing was logged: the log check would prove nothing"
    assert not [line for line in lines if "TESTKEY" in line]
    for path in settings.data_dir.rglob("*"):
        if path.is_file() and path.name != "studio.duckdb":
            assert b"TESTKEY" not in path.read_bytes(), path
