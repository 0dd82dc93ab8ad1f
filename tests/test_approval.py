"""The approval gate: a 12-icon session waits for a human, and any process's decision row frees it.

Decisions are written the way a user's own query would: INSERT INTO decisions through a
plain DuckDB connection in another process (helpers.engine_child.SqlShell).
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from helpers.engine_child import SqlShell
from helpers.live_engine import applied_result, icons_spec, live_engine, query, run_async, start_session, until

from engine.session.save import read_provenance, read_text_chunks
from engine.session.spec import ApprovalSettings

SID = "s-approval"
INSERT_DECISION = ("INSERT INTO decisions (batch_id, action, item_ids, modifications, comment, decided_by) "
                   "VALUES (?, ?, ?, ?, ?, ?) RETURNING decision_id, epoch_us(created_at)")


def _json(value):
    return None if value is None else json.dumps(value)


async def decide(shell: SqlShell, batch_id, action, *, item_ids=None, modifications=None, comment=None,
                 by="reviewer", raw: dict | None = None) -> tuple[int, int]:
    """Insert one decision row from the other process; ``raw`` passes JSON text through untouched."""
    raw = raw or {}
    row = (await shell.aexecute(INSERT_DECISION, [
        batch_id, action, raw.get("item_ids", _json(item_ids)), raw.get("modifications", _json(modifications)),
        comment, by]))[0]
    return int(row[0]), int(row[1])


async def decision_result(engine, decision_id: int) -> str:
    return await applied_result(engine, "decisions", decision_id)


async def gated_session(tmp_path: Path, body, *, approval: ApprovalSettings | None = None,
                        kind: str = "approval_request"):
    """Start 12 icons, wait for the batch's request, then run ``body(engine, recorder, shell, request)``."""
    data = tmp_path / "data"
    with SqlShell(data / "studio.duckdb") as shell:
        async with live_engine(data) as (engine, rec):
            task = start_session(engine, icons_spec(12, approval_settings=approval), SID)
            request = await until(lambda: rec.first(kind, SID), timeout=20, message=kind)
            result = await body(engine, rec, shell, request)
            await asyncio.wait_for(task, 30)
            return result


def image_calls(rec) -> list:
    return rec.of("openrouter_api_call", SID, purpose="image")


def test_a_decision_inserted_by_another_process_releases_the_batch_within_a_second(tmp_path):
    async def body(engine, rec, shell, request):
        assert len(request.payload["items"]) == 12 and not image_calls(rec)  # prompts made, no image paid yet
        await until(lambda: (engine.projector.session(SID) or {}).get("status") == "awaiting_approval",
                    message="awaiting_approval")
        decision_id, created_us = await decide(shell, request.payload["batch_id"], "approve_batch")
        released = await until(lambda: rec.first("approve_batch", SID), timeout=5, message="approve_batch")
        assert released.ts_us - created_us <= 1_000_000
        assert (await decision_result(engine, decision_id)) == "applied: approved 12 items"

    run_async(gated_session(tmp_path, body))


def test_approve_items_generates_exactly_the_approved_items_and_rejects_the_rest(tmp_path):
    async def body(engine, rec, shell, request):
        listed = [i["item_id"] for i in request.payload["items"]]
        chosen = listed[:3] + [listed[5].split(":", 1)[1]]  # an asset id is accepted as well as an item id
        decision_id, _ = await decide(shell, request.payload["batch_id"], "approve_items", item_ids=chosen)
        assert (await decision_result(engine, decision_id)) == "applied: approved 4 items, rejected 8"
        return set(listed[:3] + [listed[5]]), engine

    approved, engine = run_async(gated_session(tmp_path, body))
    items = engine.store.query_dicts("SELECT item_id, status FROM items WHERE session_id = ?", [SID])
    calls = engine.store.query_dicts("SELECT item_id FROM api_calls WHERE session_id = ? AND purpose = 'image' "
                                     "AND status = 'ok'", [SID])
    assert {i["item_id"] for i in items if i["status"] == "saved"} == approved
    assert {i["status"] for i in items if i["item_id"] not in approved} == {"rejected"}
    assert sorted(c["item_id"] for c in calls) == sorted(approved)  # one image call each, none for the rest
    pngs = {p.stem for p in (engine.settings.assets_dir / SID).glob("*.png")}
    assert pngs == {i.split(":", 1)[1] for i in approved}


def test_modified_prompts_reach_the_png_provenance_and_items_final_prompt(tmp_path):
    edits = {}

    async def body(engine, rec, shell, request):
        first, second = request.payload["items"][:2]
        edits[first["item_id"]] = "A brass key on navy velvet, edited by the reviewer"
        edits[second["item_id"]] = "A quill over a folded will, soft daylight, edited"
        decision_id, _ = await decide(shell, request.payload["batch_id"], "modify_batch", modifications=edits,
                                      comment="warmer please")
        assert (await decision_result(engine, decision_id)) == "applied: approved 12 items with 2 edited prompts"
        return engine, {i["item_id"]: i["prompt"] for i in request.payload["items"]}

    engine, proposed = run_async(gated_session(tmp_path, body))
    items = engine.store.query_dicts("SELECT item_id, status, final_prompt, image_path FROM items "
                                      "WHERE session_id = ?", [SID])
    assert {i["status"] for i in items} == {"saved"}
    for item in items:
        expected = edits.get(item["item_id"], proposed[item["item_id"]])
        assert item["final_prompt"] == expected
        provenance = read_provenance(Path(item["image_path"]))
        assert provenance["prompt"] == expected
        assert read_text_chunks(Path(item["image_path"]))["parameters"].startswith(expected + "\n")
        if item["item_id"] in edits:
            decision = provenance["decisions"][-1]
            assert decision["action"] == "modify_batch" and decision["edited"] is True
            assert decision["original_prompt"] == proposed[item["item_id"]]


def test_a_subset_with_an_edit_is_one_decision_and_the_edit_reaches_the_png(tmp_path):
    edited = "A brass key on navy velvet, edited while choosing a subset"

    async def body(engine, rec, shell, request):
        listed = [i["item_id"] for i in request.payload["items"]]
        decision_id, _ = await decide(shell, request.payload["batch_id"], "approve_items", item_ids=listed[:2],
                                      modifications={listed[0]: edited})
        assert (await decision_result(engine, decision_id)) == (
            "applied: approved 2 items, rejected 10, 1 with edited prompts")
        event = rec.first("approve_items", SID)
        assert event.payload["modifications"] == {listed[0]: edited}
        return engine, listed, {i["item_id"]: i["prompt"] for i in request.payload["items"]}

    engine, listed, proposed = run_async(gated_session(tmp_path, body))
    items = {i["item_id"]: i for i in engine.store.query_dicts(
        "SELECT item_id, status, final_prompt, image_path FROM items WHERE session_id = ?", [SID])}
    assert {i for i, row in items.items() if row["status"] == "saved"} == set(listed[:2])
    assert {row["status"] for i, row in items.items() if i not in listed[:2]} == {"rejected"}
    assert items[listed[0]]["final_prompt"] == edited
    assert items[listed[1]]["final_prompt"] == proposed[listed[1]]
    provenance = read_provenance(Path(items[listed[0]]["image_path"]))
    assert provenance["prompt"] == edited
    assert provenance["decisions"][-1]["original_prompt"] == proposed[listed[0]]


def test_an_edit_of_an_item_left_out_of_the_subset_is_refused(tmp_path):
    async def body(engine, rec, shell, request):
        listed = [i["item_id"] for i in request.payload["items"]]
        decision_id, _ = await decide(shell, request.payload["batch_id"], "approve_items", item_ids=listed[:1],
                                      modifications={listed[1]: "an edit of an unapproved item"})
        result = await decision_result(engine, decision_id)
        assert result.startswith("refused:") and "not among the approved items" in result
        decision_id, _ = await decide(shell, request.payload["batch_id"], "approve_batch")
        assert (await decision_result(engine, decision_id)) == "applied: approved 12 items"

    run_async(gated_session(tmp_path, body))


def test_timeout_auto_approves_a_batch_under_the_cost_threshold(tmp_path):
    async def body(engine, rec, shell, request):
        timeout = await until(lambda: rec.first("approval_timeout", SID), timeout=5, message="approval_timeout")
        assert timeout.payload["action"] == "auto_approved"
        assert request.payload["estimated_cost_usd"] < 1.0 and request.payload["timeout_policy"] == "approve"
        return engine

    engine = run_async(gated_session(tmp_path, body, approval=ApprovalSettings(timeout_s=0.3)))
    rows = engine.store.query_dicts("SELECT status, decided_by FROM approvals WHERE session_id = ?", [SID])
    assert rows == [{"status": "timed_out_approved", "decided_by": "timeout"}]
    statuses = engine.store.query_dicts("SELECT status, count(*) AS n FROM items WHERE session_id = ? GROUP BY 1",
                                 [SID])
    assert statuses == [{"status": "saved", "n": 12}]


def test_timeout_above_the_cost_threshold_holds_and_pauses_until_a_later_approval(tmp_path):
    async def body(engine, rec, shell, request):
        assert request.payload["threshold_usd"] == 0.01 and request.payload["timeout_policy"] == "hold"
        timeout = await until(lambda: rec.first("approval_timeout", SID), timeout=5, message="approval_timeout")
        assert timeout.payload["action"] == "held"

        async def paused_for_approval():
            rows = await query(engine, "SELECT status, pause_reason FROM sessions WHERE session_id = ?", [SID])
            return rows == [{"status": "paused", "pause_reason": "approval"}]
        await until(paused_for_approval, timeout=5, message="the session to pause for approval")
        held = await query(engine, "SELECT status FROM approvals WHERE session_id = ?", [SID])
        assert held == [{"status": "held"}] and not image_calls(rec)

        decision_id, _ = await decide(shell, request.payload["batch_id"], "approve_batch")
        assert (await decision_result(engine, decision_id)) == "applied: approved 12 items"
        return engine

    approval = ApprovalSettings(timeout_s=0.3, cost_threshold_usd=0.01)
    engine = run_async(gated_session(tmp_path, body, approval=approval, kind="threshold_approval_request"))
    session = engine.store.query_dicts("SELECT status, pause_reason FROM sessions WHERE session_id = ?", [SID])
    assert session == [{"status": "completed", "pause_reason": None}]
    assert engine.store.query_dicts("SELECT status FROM approvals")[0]["status"] == "approved"


# Each bad row: (action, batch or None for the real one, raw item_ids JSON, raw modifications JSON, why).
BAD_DECISIONS = [
    ("approve_batch", "b-nope", None, None, "unknown batch 'b-nope'"),
    ("approve_batch", "", None, None, "unknown batch ''"),
    ("approve_everything", None, None, None, "unknown action 'approve_everything'"),
    (None, None, None, None, "unknown action None"),
    ("modify_batch", None, None, '["warmer", "cooler"]', "modifications must be a JSON object"),
    ("modify_batch", None, None, '"make it warmer"', "modifications must be a JSON object"),
    ("modify_batch", None, None, "null", "modifications must be a JSON object"),
    ("modify_batch", None, None, "{}", "modifications must be a JSON object"),
    ("modify_batch", None, None, '{"@first": 42}', "must be a non-empty string"),
    ("modify_batch", None, None, '{"@first": "   "}', "must be a non-empty string"),
    ("modify_batch", None, None, '{"icon-not-in-batch": "x"}', "'icon-not-in-batch' is not an item of batch"),
    ("approve_items", None, '{"@first": true}', None, "item_ids must be a JSON list"),
    ("approve_items", None, '["icon-not-in-batch"]', None, "'icon-not-in-batch' is not an item of batch"),
    ("approve_items", None, "[42]", None, "42 is not an item of batch"),
    ("approve_items", None, None, None, "approve_items needs item_ids"),
    ("approve_items", None, "[]", None, "approve_items needs item_ids"),
]


def test_bad_decision_rows_are_refused_with_a_reason_and_change_nothing(tmp_path):
    async def body(engine, rec, shell, request):
        batch_id = request.payload["batch_id"]
        first = request.payload["items"][0]["item_id"]
        with pytest.raises(AssertionError, match="Malformed JSON"):  # DuckDB itself refuses broken JSON text
            await decide(shell, batch_id, "modify_batch", raw={"modifications": '{"a": '})
        ids = []
        for action, batch, item_ids, mods, _ in BAD_DECISIONS:
            raw = {"item_ids": item_ids and item_ids.replace("@first", first),
                   "modifications": mods and mods.replace("@first", first)}
            ids.append((await decide(shell, batch_id if batch is None else batch, action, raw=raw))[0])
        for decision_id, (*_, why) in zip(ids, BAD_DECISIONS):
            result = await decision_result(engine, decision_id)
            assert result.startswith("refused: ") and why in result, (why, result)
        # nothing changed: no decision event, the batch still pending, no image paid for
        assert not [r for r in rec.records if r.type in ("approve_batch", "reject_batch", "modify_batch",
                                                          "approve_items", "approval_timeout")]
        assert (await query(engine, "SELECT status FROM approvals"))[0]["status"] == "pending"
        assert (engine.projector.session(SID) or {}).get("status") == "awaiting_approval" and not image_calls(rec)
        # the engine goes on: a valid decision applies, a repeat is refused as already decided
        good, _ = await decide(shell, batch_id, "reject_batch", comment="off brand")
        again, _ = await decide(shell, batch_id, "approve_batch")
        assert await decision_result(engine, good) == "applied: rejected 12 items"
        assert (await decision_result(engine, again)).startswith(f"refused: batch {batch_id} was already decided")
        return engine

    engine = run_async(gated_session(tmp_path, body))
    items = engine.store.query_dicts("SELECT status, reason FROM items WHERE session_id = ?", [SID])
    assert {i["status"] for i in items} == {"rejected"}
    assert all(i["reason"] == "batch rejected by reviewer: off brand" for i in items)
    assert engine.store.query_dicts("SELECT count(*) AS n FROM api_calls WHERE purpose = 'image'") == [{"n": 0}]


def test_aborting_a_waiting_session_closes_its_request_and_refuses_later_decisions(tmp_path):
    async def body(engine, rec, shell, request):
        batch_id = request.payload["batch_id"]
        await shell.aexecute("INSERT INTO controls (session_id, command, requested_by) VALUES (?, 'abort', 'ops')",
                             [SID])
        await until(lambda: rec.first("generation_complete", SID), timeout=10, message="generation_complete")
        await until(lambda: rec.first("approval_closed", SID), timeout=5, message="approval_closed")
        decision_id, _ = await decide(shell, batch_id, "approve_batch")
        return batch_id, await decision_result(engine, decision_id), engine

    batch_id, result, engine = run_async(gated_session(tmp_path, body))
    assert result.startswith("refused: ")
    assert engine.store.query("SELECT status FROM approvals WHERE batch_id = ?", [batch_id]) == [("closed",)]
