"""History: past sessions and their items, the jobs queue, and a form to start a new run."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from engine.commands import SPEEDS, cancel_job
from engine.console_actions import PROVIDERS, build_job_spec, queue_job
from engine.queries_archive import jobs_queue, session_history, session_items
from pages._shared import fmt_duration, guard, money, operator, render_sidebar, run_action, simulated_badge, store

DEFAULT_CATALOG = "(default catalog)"

render_sidebar()
db = store()
st.title("History")


def _catalog_files() -> list[str]:
    from engine.catalog import DEFAULT_CATALOG_PATH  # noqa: PLC0415

    folder = Path(DEFAULT_CATALOG_PATH).parent
    return [str(p) for p in sorted(folder.glob("*.toml"))] if folder.is_dir() else []


def _catalog_types(path: str | None) -> tuple[list[str], str | None]:
    """The asset types a catalog offers, or an error message to show instead."""
    from engine.catalog import CatalogError, load_catalog  # noqa: PLC0415

    try:
        return list(load_catalog(path).types), None
    except (CatalogError, OSError) as exc:
        return [], str(exc)


sessions_tab, run_tab, jobs_tab = st.tabs(["Sessions", "New run", "Jobs"])

with sessions_tab:
    with guard():
        history = session_history(db)
    if history.empty:
        st.info("No sessions yet: start one in **New run**.")
    else:
        cols = st.columns(4)
        cols[0].metric("Sessions", len(history))
        cols[1].metric("Images saved", int(history["saved"].sum()))
        cols[2].metric("Total cost", money(history["cost_usd"].sum(), digits=2),
                       "includes simulated" if history["simulated"].any() else None, delta_color="off", delta_arrow="off")
        cols[3].metric("Completed", int((history["outcome"] == "completed").sum()),
                       f"{int((history['outcome'] == 'completed_with_failures').sum())} with failures",
                       delta_color="off", delta_arrow="off")
        st.dataframe(history, hide_index=True, width="stretch", column_config={
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f"),
            "budget_usd": st.column_config.NumberColumn("budget", format="$%.2f"),
            "duration_s": st.column_config.NumberColumn("duration", format="%.0f s"),
            "simulated": st.column_config.CheckboxColumn("SIMULATED"),
        })
        picked = st.selectbox("Drill into", list(history["session_id"]), key="hist_session")
        row = history.set_index("session_id").loc[picked]
        st.markdown(f"**{picked}** · {row['outcome']} · {row['saved']}/{row['items']} saved · "
                    f"{money(row['cost_usd'])} {simulated_badge(bool(row['simulated']))} · "
                    f"{fmt_duration(row['duration_s'])}" + (f" · {row['message']}" if row["message"] else ""))
        with guard():
            items = session_items(db, picked)
        st.dataframe(items, hide_index=True, width="stretch",
                     column_config={"cost_usd": st.column_config.NumberColumn("cost", format="$%.4f")})

with run_tab:
    catalogs = [DEFAULT_CATALOG, *_catalog_files()]
    catalog = st.selectbox("Catalog", catalogs, key="run_catalog")
    catalog_path = None if catalog == DEFAULT_CATALOG else catalog
    types_available, catalog_error = _catalog_types(catalog_path)
    if catalog_error:
        st.error(catalog_error)
    with st.form("new_run", border=True):
        c = st.columns(3)
        types = c[0].multiselect("Asset types", types_available, key="run_types", help="Empty means all types")
        limit = c[1].number_input("Limit (0 = all)", min_value=0, value=0, step=1, key="run_limit")
        provider = c[2].selectbox("Provider", PROVIDERS, key="run_provider",
                                  help="standin runs offline and marks every cost SIMULATED")
        c = st.columns(3)
        test = c[0].toggle("Test mode (a few items)", value=True, key="run_test")
        test_type = c[1].selectbox("Test type", ["(any)", *types_available], key="run_test_type")
        speed = c[2].select_slider("Speed", SPEEDS, value="normal", key="run_speed")
        c = st.columns(3)
        budget = c[0].number_input("Budget USD (0 = none)", min_value=0.0, value=1.0, step=0.5, key="run_budget")
        concurrency = c[1].number_input("Concurrency (0 = by speed)", min_value=0, value=0, step=1, key="run_concurrency")
        latency_scale = c[2].number_input("Stand-in latency scale", min_value=0.0, value=1.0, step=0.1,
                                          key="run_latency_scale")
        st.markdown("**Approval gate**")
        c = st.columns(5)
        approval = c[0].toggle("Enabled", value=False, key="run_approval")
        threshold = c[1].number_input("Batch above (items)", min_value=0, value=10, key="run_approval_threshold")
        timeout_s = c[2].number_input("Timeout s", min_value=5.0, value=300.0, step=30.0, key="run_approval_timeout")
        cost_threshold = c[3].number_input("Cost threshold USD", min_value=0.0, value=1.0, step=0.5,
                                           key="run_cost_threshold")
        batch_size = c[4].number_input("Batch size (0 = one)", min_value=0, value=0, key="run_batch_size")
        faults = st.text_input("Stand-in faults (optional)", key="run_faults", placeholder="e.g. 429=0.1,timeout=0.02")
        submitted = st.form_submit_button("Queue run", type="primary", icon=":material/rocket_launch:",
                                          key="run_submit")
    if submitted:
        def submit() -> int:
            spec = build_job_spec(
                catalog=catalog_path, types=types, limit=int(limit) or None, test=test,
                test_type=None if test_type == "(any)" else test_type, provider=provider, speed=speed,
                concurrency=int(concurrency) or None, budget_usd=float(budget) or None,
                approval_enabled=approval, approval_threshold=int(threshold), approval_timeout_s=float(timeout_s),
                cost_threshold_usd=float(cost_threshold), batch_size=int(batch_size) or None,
                latency_scale=float(latency_scale) if provider == "standin" else None, faults=faults)
            return queue_job(db, spec, operator=operator())

        run_action(submit, done=lambda job_id: f"Queued job #{job_id}: `assetgen serve` picks it up")

with jobs_tab:
    with guard():
        jobs = jobs_queue(db)
    if jobs.empty:
        st.caption("No jobs yet.")
    else:
        st.dataframe(jobs, hide_index=True, width="stretch")
        queued = list(jobs.loc[jobs["status"] == "queued", "job_id"])
        if queued:
            c = st.columns([2, 1])
            job_id = c[0].selectbox("Queued job", queued, key="hist_cancel_pick")
            if c[1].button("Cancel job", key="hist_cancel_job", icon=":material/cancel:"):
                run_action(lambda: cancel_job(db, int(job_id)),
                           done=lambda ok: f"Cancelled job #{job_id}" if ok else f"Job #{job_id} had already started")
