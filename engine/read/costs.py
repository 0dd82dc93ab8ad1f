"""Read models of the Costs page: spend over time, where it went, and where it is heading.

Costs come from ``api_calls`` (each call's actual ``usage.cost`` once finished);
``simulated`` says a call ran on the offline stand-in, so pages can mark it.
"""
from __future__ import annotations

import pandas as pd

from engine.store.database import Store

__all__ = ["cost_forecast", "cost_timeseries", "cost_breakdown", "per_call_table", "cost_totals"]

BREAKDOWN_DIMENSIONS = {"stage": "c.purpose", "asset_type": "i.asset_type", "model": "c.model"}


def cost_forecast(*, spent_usd: float, done: int, total: int, budget_usd: float | None,
                  reserved_usd: float = 0.0) -> dict:
    """Projected cost at completion from the average cost of finished items so far.

    ``over_budget`` is True when the projection exceeds the budget; ``headroom_usd``
    is what is left after spend and reservations (None without a budget).
    """
    per_item = spent_usd / done if done > 0 else None
    remaining = max(total - done, 0)
    projected = spent_usd + per_item * remaining if per_item is not None else None
    headroom = None if budget_usd is None else budget_usd - spent_usd - reserved_usd
    return {
        "spent_usd": spent_usd,
        "reserved_usd": reserved_usd,
        "per_item_usd": per_item,
        "remaining_items": remaining,
        "projected_usd": projected,
        "budget_usd": budget_usd,
        "headroom_usd": headroom,
        "over_budget": bool(budget_usd is not None and projected is not None and projected > budget_usd),
        "budget_used": (spent_usd / budget_usd) if budget_usd else None,
    }


def _session_filter(session_id: str | None, alias: str = "c") -> tuple[str, list]:
    if session_id is None:
        return "TRUE", []
    return f"{alias}.session_id = ?", [session_id]


def cost_timeseries(store: Store, *, session_id: str | None = None, max_points_per_model: int = 400,
                    include_total: bool = True) -> pd.DataFrame:
    """Cumulative cost by model over time (finished_at, model, cumulative_usd, simulated).

    With ``include_total`` a ``(total)`` series sums every model, the line to read
    against the budget. Long runs are thinned to about ``max_points_per_model``
    points per series, always keeping each series' last point so it ends at the true total.
    """
    where, params = _session_filter(session_id)
    # Pre-aggregated: calls are summed into at most ``max_points_per_model`` time buckets per series before
    # any window runs, so the cost is one pass over the calls, not a sort of every call of a long session.
    return store.query_df(
        f"WITH base AS (SELECT finished_at, model, cost_usd, simulated FROM api_calls c WHERE {where} "
        "  AND finished_at IS NOT NULL AND cost_usd IS NOT NULL), "
        "span AS (SELECT min(epoch_us(finished_at)) AS t0, "
        "  greatest(1, (max(epoch_us(finished_at)) - min(epoch_us(finished_at))) // ?) AS width FROM base), "
        "buckets AS (SELECT model, (epoch_us(finished_at) - t0) // width AS bucket, max(finished_at) AS finished_at, "
        "  sum(cost_usd) AS cost_usd, bool_or(simulated) AS simulated FROM base, span GROUP BY ALL), "
        "tagged AS (SELECT * FROM buckets UNION ALL SELECT '(total)', bucket, max(finished_at), sum(cost_usd), "
        "  bool_or(simulated) FROM buckets WHERE ? GROUP BY bucket) "
        "SELECT finished_at, model, sum(cost_usd) OVER (PARTITION BY model ORDER BY bucket "
        "  ROWS UNBOUNDED PRECEDING) AS cumulative_usd, simulated FROM tagged ORDER BY finished_at, model",
        [*params, max_points_per_model, include_total])


def cost_totals(store: Store, *, session_id: str | None = None) -> dict:
    """Spend, call count and whether any of it was simulated, for the header metrics."""
    where, params = _session_filter(session_id)
    spent, calls, simulated, errors = store.query(
        "SELECT coalesce(sum(cost_usd), 0), count(*), coalesce(bool_or(simulated), false), "
        f"count(*) FILTER (WHERE status = 'error') FROM api_calls c WHERE {where}", params)[0]
    return {"spent_usd": float(spent), "calls": int(calls), "simulated": bool(simulated), "errors": int(errors)}


def cost_breakdown(store: Store, *, by: str, session_id: str | None = None) -> pd.DataFrame:
    """Cost, calls and mean latency grouped by ``stage`` (api_calls.purpose), ``asset_type`` or ``model``."""
    if by not in BREAKDOWN_DIMENSIONS:
        raise ValueError(f"cost_breakdown by {by!r}: expected one of {', '.join(BREAKDOWN_DIMENSIONS)}")
    where, params = _session_filter(session_id)
    return store.query_df(
        f"SELECT coalesce({BREAKDOWN_DIMENSIONS[by]}, '(none)') AS {by}, sum(c.cost_usd) AS cost_usd, "
        "count(*) AS calls, avg(c.latency_ms) AS mean_latency_ms, bool_or(c.simulated) AS simulated "
        f"FROM api_calls c LEFT JOIN items i ON i.item_id = c.item_id WHERE {where} "
        "GROUP BY 1 ORDER BY cost_usd DESC", params)


def per_call_table(store: Store, *, session_id: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """The newest calls first, one row per API call."""
    where, params = _session_filter(session_id)
    return store.query_df(
        "SELECT call_id, session_id, item_id, purpose, model, status, http_status, attempt, latency_ms, "
        "prompt_tokens, completion_tokens, cost_usd, cost_estimated, simulated, started_at, finished_at, error "
        f"FROM api_calls c WHERE {where} ORDER BY started_at DESC NULLS LAST LIMIT ?", [*params, limit])
