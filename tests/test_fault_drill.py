"""A 100-item session under every documented failure at once, checked against the stand-in's own bill."""
from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest
from helpers.pipeline_kit import assert_each_item_ends_once, assert_money_adds_up, standin_client_factory, write_catalog

from engine.config import load_settings
from engine.process.runtime import Engine
from engine.session.spec import ApprovalSettings, RunSpec
from engine.store.database import Store

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
DRILL = "429=0.1,502=0.05,error200=0.03,no_image=0.03,timeout=0.02"


def test_hundred_items_under_the_documented_faults_end_once_and_every_billed_cent_is_recorded(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", tick_seconds=0.05)
    catalog = write_catalog(tmp_path / "catalog.toml", 100)
    spec = RunSpec(catalog=str(catalog), latency_scale=0, faults=DRILL, speed="fast",
                   approval=ApprovalSettings(enabled=False), seed=11)
    transports: list = []

    async def main():
        async with Engine(settings, serve_websockets=False,
                          client_factory=standin_client_factory(transports=transports, image_size_px=64)) as engine:
            return await engine.run_session(spec, session_id="s-drill")
    run = asyncio.run(main())
    store = Store(settings.db_path)
    log = transports[0].log

    outcomes = assert_each_item_ends_once(store, run.session_id)
    assert len(outcomes) == 100 and sum(o == "saved" for o in outcomes.values()) >= 95, Counter(outcomes.values())
    honest = "completed" if set(outcomes.values()) == {"saved"} else "completed_with_failures"
    assert store.query("SELECT status FROM sessions WHERE session_id = 's-drill'")[0][0] == honest

    billed = math.fsum(entry["cost"] for entry in log)
    recorded = store.query("SELECT sum(cost_usd) FROM api_calls WHERE session_id = 's-drill'")[0][0]
    assert abs(billed - recorded) <= 1e-9, (billed, recorded)
    assert_money_adds_up(store, "s-drill")

    faults = Counter(entry["fault"] for entry in log)
    assert all(faults[kind] > 0 for kind in ("429", "502", "error200", "no_image", "timeout")), faults
    no_image = store.query("SELECT item_id, count(*) FROM api_calls WHERE session_id = 's-drill' AND purpose = 'image' "
                           "AND error LIKE '%without an image%' GROUP BY 1")
    text_only = sum(1 for e in log if e["fault"] == "no_image" and e["kind"] == "image")  # text requests: unaffected
    assert sum(n for _, n in no_image) == text_only > 0  # each text-only answer is one recorded, paid call
    assert max(n for _, n in no_image) <= 2
    paid_failures = store.query("SELECT count(*), min(cost_usd) FROM api_calls WHERE session_id = 's-drill' "
                                "AND status = 'error' AND http_status = 200")[0]
    assert paid_failures[0] == faults["error200"] + text_only and paid_failures[1] > 0
    causes = Counter(cause for (cause,) in store.query(
        "SELECT payload->>'cause' FROM events WHERE session_id = 's-drill' AND type = 'api_retry'"))
    assert {"http_429", "http_502", "no_image", "timeout"} <= set(causes), causes
    assert any(c.startswith("error200:") for c in causes), causes
    failed = store.query("SELECT item_id, reason FROM items WHERE session_id = 's-drill' AND status = 'failed'")
    print(f"\ndrill: failed {failed}; {len(log)} calls, faults {dict(faults)}, retries {dict(causes)}, "
          f"outcomes {dict(Counter(outcomes.values()))}, billed ${billed:.6f} = recorded ${recorded:.6f}")
