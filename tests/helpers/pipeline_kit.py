"""Running real generation sessions in tests and benchmarks, and checking what they leave behind.

Sessions run in-process through ``Engine.run_session`` over the real OpenRouter client;
the network is replaced only at the httpx transport (the built-in stand-in, or an
``httpx.MockTransport`` whose handler answers OpenRouter-shaped errors and otherwise
forwards to the stand-in). The checks read the real DuckDB file through ``Store``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Awaitable, Callable

import httpx

from engine.providers.openrouter import OpenRouterClient
from engine.providers.standin.transport import OpenRouterStandIn, StandInTransport
from engine.store.database import Store

__all__ = [
    "PIPELINE_EVENT_TYPES", "TEST_BASE_URL", "write_catalog", "standin_client_factory", "forwarding_handler",
    "mock_client_factory", "openrouter_error", "session_events", "assert_money_adds_up",
    "assert_each_item_ends_once", "assert_one_winner_per_item",
]

TEST_BASE_URL = "http://standin.invalid/api/v1"

# Issue 3: every template, competition and core generation event a plain session must show.
PIPELINE_EVENT_TYPES = (
    "prompt_template_start", "prompt_tier_selected", "adding_emotional_layer", "template_building",
    "style_elements_applied", "luxury_indicators_applied", "prompt_template_complete",
    "model_competition_start", "openrouter_api_call", "prompt_generated", "openrouter_cost", "model_decision",
    "model_winner_selected", "generation_start", "generation_complete", "pipeline_stage_update",
    "progress_update", "cost_update",
)

_TIERS = ("essential", "signature", "heritage")
_THEMES = ("security", "legacy", "care", "clarity", "continuity", "peace_of_mind", "family")
_SUBJECTS = ("an oak key", "a folded letter", "a lantern", "a compass", "a small house", "a ribbon-tied scroll",
             "two joined hands", "an hourglass", "a fountain pen", "a sealed envelope", "a family tree")


def write_catalog(path: Path, count: int, *, asset_type: str = "icons") -> Path:
    """A valid catalog TOML with ``count`` generated assets (the built-in one has only 48)."""
    lines = ['[catalog]', 'name = "Generated test catalog"', 'version = "0.1"', 'brand = "Hearthstone"',
             f'tiers = {json.dumps(list(_TIERS))}', f'themes = {json.dumps(list(_THEMES))}', '',
             f'[types.{asset_type}]', 'label = "icon"', 'aspect_ratio = "1:1"', 'image_size = "1K"', '']
    for n in range(count):
        subject = _SUBJECTS[n % len(_SUBJECTS)]
        lines += ['[[assets]]', f'id = "gen-{n:04d}"', f'type = "{asset_type}"',
                  f'title = "Keepsake number {n:04d}"',
                  f'description = "A calm line drawing of {subject}, variation {n}, for the estate planning site."',
                  f'tier = "{_TIERS[n % len(_TIERS)]}"', f'theme = "{_THEMES[n % len(_THEMES)]}"',
                  f'must_include = ["{subject}"]', '']
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def standin_client_factory(*, backoff_base: float = 0.01, backoff_cap: float = 0.05, api_key: str = "standin",
                           retry_after_cap: float = 0.05, transports: list | None = None,
                           **standin_options) -> Callable:
    """An Engine ``client_factory``: the real client over the stand-in, with test-fast backoff.

    ``transports`` (a list) collects each transport made, so a test can read its request log.
    """
    def factory(spec, price_book=None):
        transport = StandInTransport(seed=spec.seed, latency_scale=spec.latency_scale, faults=spec.faults,
                                     price_book=price_book, **standin_options)
        if transports is not None:
            transports.append(transport)
        # the stand-in advises waits in whole seconds, as OpenRouter does: tests cap them
        return OpenRouterClient(base_url=TEST_BASE_URL, api_key=api_key, transport=transport,
                                backoff_base=backoff_base, backoff_cap=backoff_cap, retry_after_cap=retry_after_cap)
    return factory


def openrouter_error(status: int, message: str, *, error_type: str, **metadata) -> httpx.Response:
    """An error exactly as OpenRouter sends it before generation starts (HTTP status = error.code)."""
    body = {"error": {"code": status, "message": message, "metadata": {"error_type": error_type, **metadata}}}
    return httpx.Response(status, json=body)


Handler = Callable[[httpx.Request, dict], "httpx.Response | None"]


def forwarding_handler(intercept: Handler, *, standin: OpenRouterStandIn | None = None) -> Callable:
    """A MockTransport handler: ``intercept(request, body)`` may answer; otherwise the stand-in does."""
    standin = standin or OpenRouterStandIn(latency_scale=0)

    async def handler(request: httpx.Request) -> httpx.Response:
        raw = request.content
        body = json.loads(raw) if raw else {}
        answer = intercept(request, body)
        if answer is not None:
            return answer
        reply = await standin.handle(request.method, request.url.path, query=request.url.query.decode(),
                                     headers=dict(request.headers), body=raw)
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)
    return handler


def mock_client_factory(handler: Callable[[httpx.Request], Awaitable[httpx.Response]], *,
                        api_key: str = "sk-test-key") -> Callable:
    def factory(spec, price_book=None):
        return OpenRouterClient(base_url=TEST_BASE_URL, api_key=api_key, transport=httpx.MockTransport(handler),
                                backoff_base=0.01, backoff_cap=0.05, retry_after_cap=0.05)
    return factory


def is_image_request(body: dict) -> bool:
    return "image" in (body.get("modalities") or [])


# --- what a session left in the database ------------------------------------------------------
def session_events(store: Store, session_id: str) -> list[dict]:
    rows = store.query_dicts("SELECT seq, type, item_id, payload FROM events WHERE session_id = ? ORDER BY seq",
                             [session_id])
    for row in rows:
        row["payload"] = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
    return rows


def assert_money_adds_up(store: Store, session_id: str) -> float:
    """sum(api_calls.cost_usd) = sessions.cost_usd = the last cost_update total; returns the total."""
    calls = store.query("SELECT coalesce(sum(cost_usd), 0) FROM api_calls WHERE session_id = ?", [session_id])[0][0]
    session = store.query("SELECT cost_usd FROM sessions WHERE session_id = ?", [session_id])[0][0]
    last = store.query("SELECT payload->>'total_usd' FROM events WHERE session_id = ? AND type = 'cost_update' "
                       "ORDER BY seq DESC LIMIT 1", [session_id])
    last_total = float(last[0][0]) if last else 0.0
    assert math.isclose(calls, session, abs_tol=1e-7), f"api_calls sum {calls} != sessions.cost_usd {session}"
    assert math.isclose(session, last_total, abs_tol=1e-7), f"sessions.cost_usd {session} != last cost_update {last_total}"
    return float(calls)


def assert_each_item_ends_once(store: Store, session_id: str) -> dict[str, str]:
    """Every item of the session has exactly one item_finished; returns item_id -> outcome."""
    total = store.query("SELECT count(*) FROM items WHERE session_id = ?", [session_id])[0][0]
    finished = store.query("SELECT item_id, count(*), any_value(payload->>'outcome') FROM events "
                           "WHERE session_id = ? AND type = 'item_finished' GROUP BY item_id", [session_id])
    twice = [(item, n) for item, n, _ in finished if n != 1]
    assert not twice, f"items finished more than once: {twice}"
    assert len(finished) == total, f"{len(finished)} of {total} items finished"
    return {item: outcome for item, _, outcome in finished}


def assert_one_winner_per_item(store: Store, session_id: str) -> int:
    """One proposals row per competitor that produced a proposal, and exactly one winner per item."""
    produced = store.query("SELECT item_id, list_sort(list(payload->>'model')) FROM events WHERE session_id = ? "
                           "AND type = 'prompt_generated' GROUP BY item_id", [session_id])
    rows = {item: (models, winners) for item, models, winners in store.query(
        "SELECT item_id, list_sort(list(model)), count(*) FILTER (WHERE is_winner) FROM proposals "
        "WHERE session_id = ? GROUP BY item_id", [session_id])}
    assert len(rows) == len(produced), f"{len(produced)} items produced proposals, {len(rows)} have rows"
    for item, models in produced:
        assert item in rows, f"{item}: proposals missing"
        assert rows[item][0] == models, f"{item}: rows for {rows[item][0]}, proposals came from {models}"
        assert rows[item][1] == 1, f"{item}: {rows[item][1]} winners"
    return len(produced)
