"""The row-handler base: a row is handed to the engine's loop once, and a tick never waits on the loop."""
import concurrent.futures
import time

from engine.intents.handler import LATER, RowHandler
from engine.store.database import Store


class FakeLoopHost:
    """Stands in for the engine's loop: calls are kept, and finish when the test says so."""

    def __init__(self):
        self.handed: list[concurrent.futures.Future] = []

    def submit_to_loop(self, fn, *args):
        future = concurrent.futures.Future()
        future.call = lambda: future.set_result(fn(*args))
        self.handed.append(future)
        return future


class PauseHandler(RowHandler):
    table, key = "controls", "control_id"
    columns = ("control_id", "command")

    def __init__(self, host):
        super().__init__(host)
        self.applied: list[int] = []

    def check(self, con, row):
        if row["command"] == "later":
            return LATER
        if row["command"] != "pause":
            return f"refused: {row['command']}"
        return self.apply, (row["control_id"],)

    def apply(self, control_id):
        self.applied.append(control_id)
        return f"paused by #{control_id}"


def tick(store, handler):
    started = time.monotonic()
    with store.write() as con:
        handler.on_tick(con)
    return time.monotonic() - started


def test_a_row_on_a_blocked_loop_is_handed_over_once_and_stamped_when_it_finishes(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    store.execute("INSERT INTO controls (command) VALUES ('pause'), ('warp'), ('later')")
    host = FakeLoopHost()
    handler = PauseHandler(host)
    for _ in range(3):  # the loop is stuck: ticks go on, without waiting and without handing the row again
        assert tick(store, handler) < 1.0
    assert len(host.handed) == 1 and handler.handed == 1
    assert store.query("SELECT command, result FROM controls ORDER BY control_id") == [
        ("pause", None), ("warp", "refused: warp"), ("later", None)]
    host.handed[0].call()
    assert handler.settle(timeout=1.0)
    tick(store, handler)
    assert handler.applied == [1] and handler.handed == 0
    assert store.query("SELECT result FROM controls WHERE control_id = 1") == [("paused by #1",)]
    tick(store, handler)
    assert len(host.handed) == 1  # stamped rows are not read again


def test_a_failing_application_is_stamped_with_its_error(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    store.execute("INSERT INTO controls (command) VALUES ('pause')")
    host = FakeLoopHost()
    handler = PauseHandler(host)
    tick(store, handler)
    host.handed[0].set_exception(RuntimeError("the run vanished"))
    tick(store, handler)
    assert store.query("SELECT result FROM controls") == [("failed: the run vanished",)]
