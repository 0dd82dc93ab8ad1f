"""`assetgen sql` is read-only for real, and failed websockets hellos are rate-limited per peer."""
from __future__ import annotations

import subprocess
import sys

import pytest

from engine.read.sessions import run_readonly_sql
from engine.store.database import Store


def assetgen(data_dir, *args, timeout=30):
    return subprocess.run([sys.executable, "-m", "engine", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=timeout)


ESCAPES = {
    "reattach read-write": "USE memory; DETACH db; ATTACH '{db}' AS rw; "
                           "INSERT INTO rw.controls (session_id, command) VALUES ('s', 'abort')",
    "insert": "INSERT INTO controls (session_id, command) VALUES ('s', 'abort')",
    "copy to a file": "COPY (SELECT 1) TO '{out}'",
    "copy into the data dir": "COPY (SELECT 1) TO '{inside}'",
    "read a file outside": "SELECT * FROM read_text('/etc/hostname')",
    "turn access back on": "SET enable_external_access = true",
    "export": "EXPORT DATABASE '{outdir}'",
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_sql_cannot_write_the_database_or_a_file_nor_read_outside_the_data_dir(tmp_path, name):
    data = tmp_path / "data"
    store = Store(data / "studio.duckdb")
    store.migrate()
    store.close()
    query = ESCAPES[name].format(db=data / "studio.duckdb", out=tmp_path / "out.csv", inside=data / "out.csv",
                                 outdir=tmp_path / "export")
    result = assetgen(data, "sql", query)
    assert result.returncode != 0, result.stdout
    error = result.stderr.strip()
    assert "read-only" in error or "reads only the studio database" in error, error
    check = Store(data / "studio.duckdb")
    assert check.query("SELECT count(*) FROM controls") == [(0,)]
    check.close()
    assert not (tmp_path / "out.csv").exists() and not (data / "out.csv").exists()
    assert not (tmp_path / "export").exists()


def test_a_file_inside_the_data_dir_can_still_be_read_and_the_tables_queried(tmp_path):
    data = tmp_path / "data"
    store = Store(data / "studio.duckdb")
    store.migrate()
    (data / "notes.csv").write_text("a,b\n1,2\n")
    frame = run_readonly_sql(store, f"SELECT b FROM read_csv('{data / 'notes.csv'}')", allowed_dir=data)
    assert frame["b"].tolist() == [2]
    assert run_readonly_sql(store, "SHOW TABLES", allowed_dir=data)["name"].str.contains("sessions").any()
    # the store's own connection is untouched: it still writes as before
    store.execute("INSERT INTO controls (session_id, command) VALUES ('s', 'pause')")
    assert store.query("SELECT count(*) FROM controls") == [(1,)]
    store.close()


# -- failed websockets hellos -------------------------------------------------------------------
def test_failed_hellos_are_rate_limited_per_peer(store):
    import asyncio
    import json

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    from engine.live.bus import Bus
    from engine.ws.server import WsServer
    from engine.ws.protocol import CLOSE_UNAUTHORIZED, hello_message

    async def scenario():
        server = WsServer(bus=Bus(), store=store, token="right-token", port=0)  # default limits
        await server.start()
        outcomes = []
        try:
            for attempt in range(40):  # a script guessing tokens as fast as it can
                try:
                    async with connect(f"ws://127.0.0.1:{server.port}") as ws:
                        await ws.send(hello_message(f"guess-{attempt}"))
                        assert json.loads(await ws.recv())["code"] == "unauthorized"
                        try:
                            await ws.recv()
                        except ConnectionClosed as closed:
                            outcomes.append(closed.rcvd.code)
                except InvalidStatus as refused:
                    outcomes.append((refused.response.status_code, refused.response.headers.get("Retry-After"),
                                     refused.response.body.decode()))
        finally:
            await server.close()
        return outcomes

    outcomes = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert outcomes[:10] == [CLOSE_UNAUTHORIZED] * 10  # ten guesses a minute, then the door shuts
    status, retry_after, body = outcomes[10]
    assert status == 429 and 0 < int(retry_after) <= 60 and "too many failed hellos" in body
    assert len(outcomes) == 40 and all(o[0] == 429 for o in outcomes[10:])
