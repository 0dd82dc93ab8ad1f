"""A full disk is a state, not a crash: the session pauses (reason ``storage``), spends nothing, loses
nothing, and completes by itself once space is freed.

Run as root, the data directory is a real small tmpfs that the test fills; otherwise ENOSPC is
injected where the journal and the image writer write.
"""
from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers.live_engine import icons_spec, live_engine, query, run_async, until

from engine.live import journal as journal_module
from engine.session import run as run_module
from engine.session.resume import make_client
from engine.vocabulary import PAUSE_STORAGE

SID = "s-20261201-disk"
ITEMS = 8


class TmpfsDisk:
    """A small tmpfs at ``path``; ``fill`` takes every free byte, ``free`` gives them back."""

    def __init__(self, path: Path, size: str = "96m"):  # room for the session once freed (files grow without vacuum)
        self.path = path
        path.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
        self.filler = path / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (1 << 20, 65536, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


class InjectedDisk:
    """Without root: the journal's and the image writer's writes fail with ENOSPC while 'full'."""

    def __init__(self, path: Path, monkeypatch):
        self.path, self.full = path, False
        write_group, save_png = journal_module.Journal._write_group, run_module.save_png

        def failing_write_group(journal, *args):
            if self.full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return write_group(journal, *args)

        def failing_save_png(*args, **kw):
            if self.full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return save_png(*args, **kw)
        monkeypatch.setattr(journal_module.Journal, "_write_group", failing_write_group)
        monkeypatch.setattr(run_module, "save_png", failing_save_png)

    def fill(self) -> None:
        self.full = True

    def free(self) -> None:
        self.full = False

    def close(self) -> None:
        pass


@pytest.fixture
def disk(tmp_path, monkeypatch):
    data = tmp_path / "data"
    real = os.geteuid() == 0 and not os.environ.get("ASSETGEN_TEST_INJECT_ENOSPC")  # set it to test the fallback
    made = TmpfsDisk(data) if real else InjectedDisk(data, monkeypatch)
    yield made
    made.close()


@pytest.mark.slow
def test_a_full_disk_pauses_paid_work_and_the_session_completes_once_space_is_freed(disk):
    requests: list[float] = []  # when each paid request was sent (monotonic)
    faults: list[tuple[float, object]] = []

    def client_factory(spec, *, price_book=None):
        client = make_client(spec, price_book=price_book)
        original = client.chat_once

        async def chat_once(**kw):
            requests.append(time.monotonic())
            return await original(**kw)
        client.chat_once = chat_once
        return client

    async def scenario():
        async with live_engine(disk.path, tick=0.1) as (engine, recorder):
            engine.client_factory = client_factory
            engine.storage.watch(lambda fault: faults.append((time.monotonic(), fault)))
            spec = icons_spec(ITEMS, approval=False, latency_scale=0.3, concurrency=2)
            task = asyncio.create_task(engine.run_session(spec, session_id=SID))
            await until(lambda: recorder.first("image_saved"), timeout=60, message="a first image saved")
            disk.fill()
            await until(lambda: faults, timeout=30, message="a write to fail")
            run = await until(lambda: engine.runs.get(SID), timeout=5, message="the run")
            await until(lambda: run.pause_reason == PAUSE_STORAGE, timeout=5, message="the storage pause")
            paused_at = time.monotonic()
            # It stays paused while the disk is full: give the writers several retries (ticks).
            journal = engine.journal
            groups = journal.groups
            await until(lambda: time.monotonic() - paused_at > 1.5, timeout=5, message="a few ticks")
            assert run.paused and run.pause_reason == PAUSE_STORAGE
            still_full_requests = [t for t in requests if t > paused_at]
            assert journal.groups == groups  # nothing could be written meanwhile
            disk.free()
            freed_at = time.monotonic()
            finished = await asyncio.wait_for(task, 120)
            await engine.flush()
            rows = await query(engine, "SELECT seq, type FROM events ORDER BY seq")
            items = await query(engine, "SELECT status, cost_usd, image_path, item_id FROM items")
            calls = await query(engine, "SELECT item_id, cost_usd FROM api_calls")
            session = (await query(engine, "SELECT status, cost_usd FROM sessions"))[0]
            return (finished, recorder, rows, items, calls, session, faults[0][0], paused_at, freed_at,
                    still_full_requests)

    finished, recorder, rows, items, calls, session, first_fault, paused_at, freed_at, during = run_async(
        scenario(), timeout=240)
    # paused within one tick of the first failed write, and no paid call started while full
    assert paused_at - first_fault <= 0.1 + 0.5  # one tick, plus the loop's own latency on a busy machine
    assert during == [] and not [t for t in requests if paused_at < t < freed_at]
    # the pause said why, with the path and free space
    pause = recorder.first("control_flag_change", SID, reason=PAUSE_STORAGE)
    assert pause is not None and "MB free" in pause.payload["result"] and str(disk.path) in pause.payload["result"]
    # nothing lost: every event a subscriber saw is in the file, gap-free; it completed
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    stored = {r["seq"]: r["type"] for r in rows}
    assert all(stored.get(r.seq) == r.type for r in recorder.records)
    assert finished.counts() == {"saved": ITEMS} and session["status"] == "completed"
    assert all(Path(i["image_path"]).exists() for i in items)
    assert not list(disk.path.rglob("*.part"))
    by_item: dict[str, float] = {}
    for c in calls:
        by_item[c["item_id"]] = by_item.get(c["item_id"], 0.0) + c["cost_usd"]
    assert all(abs(i["cost_usd"] - by_item[i["item_id"]]) < 1e-9 for i in items)
    assert abs(session["cost_usd"] - sum(by_item.values())) < 1e-9
