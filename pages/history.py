"""History: past sessions and their items, the jobs queue, and a form to start a new run."""
from __future__ import annotations


import streamlit as st

from engine.intents.console import build_job_spec, cancel_queued_job, queue_job, run_option
from engine.read.templates import catalog_files, catalog_types
from engine.read.archive import jobs_queue, session_history, session_items
from pages._shared import fmt_duration, guard, money, operator, render_sidebar, run_action, simulated_badge, store

DEFAULT_CATALOG = "(default catalog)"

render_sidebar()
db = store()
st.title("History")


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
    catalogs = [DEFAULT_CATALOG, *catalog_files()]
    catalog = st.selectbox("Catalog", catalogs, key="run_catalog")
    catalog_path = None if catalog == DEFAULT_CATALOG else catalog
    types_available, catalog_error = catalog_types(catalog_path)
    if catalog_error:
        st.error(catalog_error)
    with st.form("new_run", border=True):
        # Every default, limit and help text comes from the run spec's one table, as the CLI's flags do.
        def number(column, name: str, key: str, *, step: float = 1.0, empty_label: str | None = None):
            option = run_option(name)
            kind = int if option.kind is int else float
            low = 0 if (empty_label or option.minimum is None) else option.minimum
            return column.number_input(
                option.label + (f" ({empty_label})" if empty_label else ""), key=key, help=option.help,
                min_value=kind(low), max_value=None if option.maximum is None else kind(option.maximum),
                value=kind(option.default or 0), step=kind(step))

        c = st.columns(3)
        types = c[0].multiselect("Asset types", types_available, key="run_types", help="Empty means all types")
        limit = number(c[1], "limit", "run_limit", empty_label="0 = all")
        provider = c[2].selectbox("Provider", run_option("provider").choices, key="run_provider",
                                  index=list(run_option("provider").choices).index(run_option("provider").default),
                                  help=run_option("provider").help)
        c = st.columns(3)
        test = c[0].toggle("Test mode (a few items)", value=True, key="run_test", help=run_option("test").help)
        test_type = c[1].selectbox("Test type", ["(any)", *types_available], key="run_test_type")
        speed = c[2].select_slider("Speed", run_option("speed").choices, value=run_option("speed").default,
                                   key="run_speed", help=run_option("speed").help)
        c = st.columns(3)
        budget = number(c[0], "budget_usd", "run_budget", step=0.5, empty_label="0 = none")
        concurrency = number(c[1], "concurrency", "run_concurrency", empty_label="0 = by speed")
        latency_scale = number(c[2], "latency_scale", "run_latency_scale", step=0.1)
        st.markdown("**Approval gate**")
        c = st.columns(5)
        approval = c[0].toggle("Enabled", value=run_option("approval").default, key="run_approval",
                               help="Batches above the threshold wait for a human before images are paid for")
        threshold = number(c[1], "approval_threshold", "run_approval_threshold")
        timeout_s = number(c[2], "approval_timeout_s", "run_approval_timeout", step=30.0)
        cost_threshold = number(c[3], "approval_cost_threshold_usd", "run_cost_threshold", step=0.5)
        batch_size = number(c[4], "batch_size", "run_batch_size", empty_label="0 = one batch")
        faults = st.text_input("Stand-in faults (optional)", key="run_faults", placeholder="e.g. 429=0.1,timeout=0.02",
                               help=run_option("faults").help)
        submitted = st.form_submit_button("Queue run", type="primary", icon=":material/rocket_launch:",
                                          key="run_submit")
    if submitted:
        def submit() -> int:
            spec = build_job_spec(
                catalog=catalog_path, types=types, limit=limit or None, test=test,
                test_type=None if test_type == "(any)" else test_type, provider=provider, speed=speed,
                concurrency=concurrency or None, budget_usd=budget or None, approval=approval,
                approval_threshold=threshold, approval_timeout_s=timeout_s, approval_cost_threshold_usd=cost_threshold,
                batch_size=batch_size or None, latency_scale=latency_scale if provider == "standin" else None,
                faults=faults)
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
                run_action(lambda: cancel_queued_job(db, int(job_id), operator=operator()),
                           done=lambda ok: f"Cancelled job #{job_id}" if ok else f"Job #{job_id} had already started")
