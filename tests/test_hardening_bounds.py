"""Bounded events and rows: every event fits a 256 KiB frame; oversized rows are refused wherever they come from."""
from __future__ import annotations

import asyncio

import pytest

from engine import events as ev
from engine.live.bus import Bus
from engine.templates.catalog import CatalogError, load_catalog
from engine.intents.requests import CommandError, request_control, request_decision, submit_job
from engine.config import load_settings
from engine.process.runtime import Engine

FRAME_CAP = 256 * 1024  # documented in docs/operations.md (Limits)


def test_a_ten_megabyte_comment_becomes_an_event_that_fits_one_frame_with_a_marker():
    record = Bus().emit(ev.ApproveBatch(session_id="s", batch_id="b", decision_id=1, decided_by="ana",
                                        comment="c" * 10_000_000, item_ids=["s:icon-will"]))
    assert len(record.frame.encode()) <= FRAME_CAP
    assert "[cut 9" in record.payload["comment"] and "full text is in its table" in record.payload["comment"]
    assert record.payload["item_ids"] == ["s:icon-will"] and "comment" in record.payload["_cut"]


def test_a_ten_thousand_item_generation_start_fits_one_frame_and_says_what_it_cut():
    items = [{"item_id": f"s:icon-{n:05d}", "asset_id": f"icon-{n:05d}", "asset_type": "icons", "tier": "essential",
              "title": f"Keepsake number {n:05d} for the estate planning site"} for n in range(10_000)]
    record = Bus().emit(ev.GenerationStart(session_id="s", total=10_000, provider="standin", speed="fast",
                                           concurrency=16, budget_usd=None, catalog="c.toml", simulated=True,
                                           items=items, params={}))
    assert len(record.frame.encode()) <= FRAME_CAP
    assert record.payload["total"] == 10_000 and record.payload["items"] == items[:len(record.payload["items"])]
    assert "of 10000 entries" in record.payload["_cut"]["items"]


def test_small_events_are_untouched():
    record = Bus().emit(ev.ApproveBatch(session_id="s", batch_id="b", decision_id=1, decided_by="ana",
                                        comment="fine", item_ids=["a"]))
    assert "_cut" not in record.payload and record.payload["comment"] == "fine"


@pytest.mark.parametrize(("call", "needle"), [
    (lambda s: request_decision(s, "approve_batch", batch_id="b", comment="x" * 10_000_000), "comment"),
    (lambda s: request_decision(s, "approve_batch", batch_id="b", decided_by="x" * 101), "decided_by"),
    (lambda s: request_decision(s, "modify_batch", batch_id="b", modifications={"a": "p" * 4_001}), "edited prompt"),
    (lambda s: request_control(s, "pause", session_id="s", requested_by="x" * 101), "requested_by"),
    (lambda s: submit_job(s, {"test": True, "models": ["m" * 70_000]}), "job spec"),
])
def test_console_cli_and_websockets_rows_over_a_limit_are_refused(store, call, needle):
    with pytest.raises(CommandError) as refused:
        call(store)
    assert needle in str(refused.value) and "limit" in str(refused.value)
    assert store.query("SELECT (SELECT count(*) FROM decisions) + (SELECT count(*) FROM controls) "
                       "+ (SELECT count(*) FROM jobs)") == [(0,)]


def test_rows_inserted_by_sql_over_a_limit_are_refused_by_the_engine_with_a_message(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05, ws_port=0)

    async def scenario():
        async with Engine(settings, serve_websockets=False) as engine:
            with engine.store.write() as con:
                con.execute("INSERT INTO decisions (batch_id, action, comment) VALUES ('b', 'approve_batch', ?)",
                            ["x" * 3_000])
                con.execute("INSERT INTO controls (session_id, command, requested_by) VALUES (NULL, 'pause', ?)",
                            ["y" * 500])
            await engine.flush()
            return (engine.store.query("SELECT result FROM decisions")[0][0],
                    engine.store.query("SELECT result FROM controls")[0][0])

    decision, control = asyncio.run(scenario())
    assert decision.startswith("refused: comment is 3,000 characters, over the limit of 2,000")
    assert control.startswith("refused: requested_by is 500 characters, over the limit of 100")


def test_a_catalog_field_over_its_limit_is_refused_naming_the_asset_and_field(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text('[catalog]\ntiers = ["essential"]\nthemes = ["clarity"]\n[types.icons]\n'
                    '[[assets]]\nid = "icon-a"\ntype = "icons"\ntier = "essential"\ntheme = "clarity"\n'
                    f'title = "{"t" * 201}"\ndescription = "D."\n', encoding="utf-8")
    with pytest.raises(CatalogError) as refused:
        load_catalog(path)
    assert "asset 'icon-a'" in str(refused.value) and "'title'" in str(refused.value) and "200" in str(refused.value)
