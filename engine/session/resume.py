"""Preparing a session: what to make, with which client, and what a crashed run already did."""
from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timezone
import json
import os
from typing import TYPE_CHECKING, Any

from engine.templates.catalog import Catalog, CatalogError, load_catalog
from engine.session.competition import Proposal
from engine.session.run import SessionRun
from engine.providers.pricing import load_snapshot
from engine.providers.capabilities import CapabilityBook, UnsuitableModel, check_session_models
from engine.providers.openrouter import OpenRouterClient
from engine.session.spec import RunSpec, SpecError
from engine.templates.brief import active_template, ensure_default_template, get_template_version
from engine.vocabulary import ITEM_KEPT_ON_RESUME, SESSION_ALL_ENDED

if TYPE_CHECKING:
    from engine.session.host import SessionHost

__all__ = ["prepare_run", "make_client", "ResumeError", "load_resume_state", "fetch_rows"]

STANDIN_BASE_URL = "http://standin.invalid/api/v1"
log = logging.getLogger(__name__)
STANDIN_LOG_LIMIT = 1_000  # the engine reads no request log: keep only the newest requests
_JSON_COLUMNS = {"params", "item_ids"}  # the projector's JSON columns (engine/projection.py)


class ResumeError(ValueError):
    """The session cannot be resumed; the message says why."""


def make_client(spec: RunSpec, *, price_book=None) -> OpenRouterClient:
    """The one client; offline it speaks to the built-in stand-in through an httpx transport."""
    if spec.provider == "standin":
        from engine.providers.standin.transport import StandInTransport

        transport = StandInTransport(seed=spec.seed, latency_scale=spec.latency_scale, faults=spec.faults,
                                     price_book=price_book, image_size_px=standin_image_px(),
                                     log_limit=STANDIN_LOG_LIMIT)
        return OpenRouterClient(base_url=STANDIN_BASE_URL, api_key="standin", transport=transport)
    if not os.environ.get("OPENROUTER_API_KEY"):
        raise SpecError("OPENROUTER_API_KEY is not set: export it to spend real credits, or run with "
                        "--provider standin to rehearse offline (the default)")
    return OpenRouterClient()


def standin_image_px() -> int | None:
    """A bench and test knob: ASSETGEN_STANDIN_IMAGE_PX sets the longest side the stand-in draws
    (small images keep scale runs about the engine, not about drawing 1024² PNGs)."""
    value = os.environ.get("ASSETGEN_STANDIN_IMAGE_PX", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 8:
        raise SpecError(f"ASSETGEN_STANDIN_IMAGE_PX must be a whole number of pixels >= 8, got {value!r}")
    return int(value)


def new_session_id() -> str:
    return f"s{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


async def prepare_run(engine: "SessionHost", spec: RunSpec, *, session_id: str, resume: bool,
                      catalog_parse=None) -> SessionRun:
    """``catalog_parse``: a future of ``spec.catalog`` already being parsed (``load_catalog_aside``)."""
    store = engine.store
    resumed = None
    if resume:
        stored_spec, resumed = await asyncio.to_thread(load_resume_state, store, engine.projector, session_id)
        spec = stored_spec
    spec.validate()
    catalog = await _parsed_catalog(spec, None if resume else catalog_parse)
    if resumed is not None:
        wanted = resumed["asset_ids"]
        by_id = {a.id: a for a in catalog.assets}
        missing = [a for a in wanted if a not in by_id]
        if missing:
            raise ResumeError(f"the catalog no longer has assets {', '.join(missing)} of session {session_id}")
        assets = [by_id[a] for a in wanted]
    else:
        assets = catalog.select(types=spec.types, limit=spec.limit, test=spec.test, test_type=spec.test_type)
    if not assets:
        raise SpecError("the selection is empty: check --type/--limit against `assetgen catalog`")
    await asyncio.to_thread(ensure_default_template, store)
    template = await asyncio.to_thread(active_template, store)
    if resumed and resumed.get("template_version"):
        template = await asyncio.to_thread(get_template_version, store, resumed["template_version"])
    price_book = load_snapshot()
    client = (engine.client_factory or make_client)(spec, price_book=price_book)
    await _know_the_models(client, spec, price_book)
    return SessionRun(engine, session_id=session_id, spec=spec, assets=assets, client=client,
                      price_book=price_book, template=template, catalog_path=str(catalog.path), resumed=resumed)


async def _parsed_catalog(spec: RunSpec, parse) -> Catalog:
    if parse is not None:
        try:
            return await asyncio.wrap_future(parse)
        except CatalogError:
            raise
        except Exception as exc:  # the parsing process could not run (e.g. no process could start): parse here
            log.warning("catalog parse in a separate process failed (%s); parsing it in the engine", exc)
    return load_catalog(spec.catalog)


async def _know_the_models(client, spec: RunSpec, price_book) -> None:
    """Learn what the chosen models take and give (online: GET /models; offline: the snapshot the
    stand-in serves) and refuse, before anything is paid for, a choice that cannot work."""
    snapshot = f"price snapshot of {price_book.as_of}"
    try:
        book = getattr(client, "capabilities", None)
        if book is None and hasattr(client, "load_capabilities"):
            if spec.provider == "openrouter":
                book = await client.load_capabilities(fallback=price_book.entries, fallback_source=snapshot)
            else:
                book = client.capabilities = CapabilityBook(price_book.entries, source=snapshot)
        if book is not None:
            check_session_models(book, image_model=spec.image_model, competitors=spec.models)
    except UnsuitableModel as exc:
        await client.aclose()
        raise SpecError(str(exc)) from None
    except BaseException:
        await client.aclose()
        raise


def load_resume_state(store, projector, session_id: str) -> tuple[RunSpec, dict[str, Any]]:
    """What an interrupted or aborted session already did, so nothing paid is done twice."""
    with store.read() as con:
        session = fetch_rows(con, "SELECT * FROM sessions WHERE session_id = ?", [session_id])
        if not session:
            raise ResumeError(f"unknown session {session_id!r}: see `assetgen status` for session ids")
        session = session[0]
        if session["status"] in SESSION_ALL_ENDED:
            raise ResumeError(f"session {session_id} has already {session['status'].replace('_', ' ')}; "
                              "nothing to resume")
        items = fetch_rows(con, "SELECT * FROM items WHERE session_id = ?", [session_id])
        proposals = fetch_rows(con, "SELECT * FROM proposals WHERE session_id = ?", [session_id])
        approvals = fetch_rows(con, "SELECT * FROM approvals WHERE session_id = ?", [session_id])
        calls = fetch_rows(con, "SELECT model, sum(cost_usd) AS cost FROM api_calls WHERE session_id = ? GROUP BY 1",
                       [session_id])
        api_rows = fetch_rows(con, "SELECT * FROM api_calls WHERE session_id = ?", [session_id])
    params = session["params"]
    spec = RunSpec.from_dict(json.loads(params) if isinstance(params, str) else params)
    # Only what this run can still change: the open items and their proposals (finished ones stay on disk).
    kept = set(ITEM_KEPT_ON_RESUME)
    open_items = {row["item_id"] for row in items if row["status"] not in kept}
    projector.load("sessions", [session])
    projector.load("items", [row for row in items if row["item_id"] in open_items])
    projector.load("proposals", [row for row in proposals if row["item_id"] in open_items])
    projector.load("approvals", approvals)
    projector.load("api_calls", [row for row in api_rows if row["item_id"] in open_items])
    by_item: dict[str, list[Proposal]] = {}
    for p in proposals:
        by_item.setdefault(p["item_id"], []).append(Proposal(
            model=p["model"], prompt=p["prompt"], confidence=p["confidence"] or 0.0, rationale=p["rationale"] or "",
            cost_usd=p["cost_usd"] or 0.0, latency_ms=p["latency_ms"] or 0.0, call_id=p["call_id"],
            coverage=p["coverage"] or 0.0, score=p["score"] or 0.0))
    terminal = set(ITEM_KEPT_ON_RESUME)
    # An item's cost is the sum of its calls across every run of the session, not what the last run saw.
    item_costs: dict[str, float] = {}
    for call in api_rows:
        item_costs[call["item_id"]] = item_costs.get(call["item_id"], 0.0) + (call["cost_usd"] or 0.0)
    item_state: dict[str, dict] = {}
    for row in items:
        state: dict[str, Any] = {"proposals": by_item.get(row["item_id"], []),
                                 "cost_usd": item_costs.get(row["item_id"], 0.0),
                                 "template_version": row["template_version"], "batch_id": row["batch_id"]}
        if row["status"] in terminal:
            state.update(finished=True, status=row["status"], image_path=row["image_path"])
        elif row["final_prompt"] and row["winner_model"]:
            state.update(prompt=row["final_prompt"], model=row["winner_model"])
        item_state[row["item_id"]] = state
    pending = {a["batch_id"]: a for a in approvals if a["status"] == "pending"}
    asset_ids = [row["asset_id"] for row in sorted(items, key=lambda r: r["item_id"])]
    versions = {row["template_version"] for row in items if row["template_version"]}
    return spec, {
        "items": item_state, "pending_batches": pending, "asset_ids": asset_ids,
        "spent_usd": sum(c["cost"] or 0.0 for c in calls), "by_model": {c["model"]: c["cost"] or 0.0 for c in calls},
        "template_version": max(versions) if versions else None,
        "call_costs": {c["call_id"]: c["cost_usd"] or 0.0 for c in api_rows},
    }


def fetch_rows(con, sql: str, params: list | None = None) -> list[dict]:
    """Rows as the projector holds them, to adopt with ``Projector.load``.

    JSON columns come back from DuckDB as text; they are decoded here because the projector
    encodes them when it writes the row back, and text would be stored as a JSON string.
    """
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, row)) for row in cur.fetchall()]
    for row in rows:
        for column in _JSON_COLUMNS.intersection(row):
            if isinstance(row[column], str):
                row[column] = json.loads(row[column])
    return rows
