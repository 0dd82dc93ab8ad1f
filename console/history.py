"""History: past sessions and their items, the jobs queue, and a form to start a new run."""
from __future__ import annotations

import json

import streamlit as st

from engine.intents.requests import CommandError
from engine.intents.console import (
    build_job_spec, cancel_queued_job, estimate_job, job_form_problems, queue_job, run_option,
)
from engine.read.templates import catalog_files, catalog_types
from engine.vocabulary import ITEM_OUTCOMES
from engine.read.archive import jobs_queue, session_history, session_items
from engine.read.console import session_outcomes
from console._shared import fmt_duration, guard, money, operator, render_sidebar, run_action, simulated_badge, store

DEFAULT_CATALOG = "(default catalog)"

render_sidebar()
db = store()
st.title("History")


def _number(column, name: str, key: str, *, step: float = 1.0, empty_label: str | None = None,
            disabled: bool = False):
    """A number field whose label, default and help are the run option's own (engine/session/spec.py), the same
    the CLI's flag shows; ``empty_label`` offers 0 for "none".

    Its limits are checked here, not in the browser: a number input with min/max refuses an out-of-range value in
    the browser only (the field turns red and the value is never sent), so the script went on with the last
    committed value and Queue run queued that. Every value reaches job_form_problems, which says what is wrong
    beside the field in the CLI's words and keeps Queue run disabled."""
    option = run_option(name)
    kind = int if option.kind is int else float
    value = column.number_input(
        option.label + (f" ({empty_label})" if empty_label else ""), key=key, help=option.help, disabled=disabled,
        value=kind(option.default or 0), step=kind(step))
    _error_slots[name] = column.empty()  # the field's own message goes right under it
    return value


_error_slots: dict[str, object] = {}


def _field_error(problems: dict[str, str], name: str) -> None:
    """Validation next to the field it is about, as soon as the value is committed."""
    if name in problems:
        _error_slots.pop(name, st).error(problems[name], icon=":material/error:")


@st.cache_data(show_spinner=False, max_entries=64)
def _forecast(spec_json: str) -> tuple[dict | None, str | None]:
    try:
        estimate = estimate_job(json.loads(spec_json))
    except CommandError as exc:
        return None, str(exc)
    return {"items": estimate.items, "by_type": estimate.by_type, "total": estimate.total_usd,
            "upper": estimate.upper_bound_usd, "as_of": estimate.as_of}, None


def _new_run() -> None:
    """Plain widgets, not a form: the forecast and the checks follow every change, before anything is queued."""
    catalogs = [DEFAULT_CATALOG, *catalog_files()]
    catalog = st.selectbox("Catalog", catalogs, key="run_catalog")
    catalog_path = None if catalog == DEFAULT_CATALOG else catalog
    types_available, catalog_error = catalog_types(catalog_path)
    if catalog_error:
        st.error(catalog_error)
    providers, speeds = run_option("provider"), run_option("speed")
    c = st.columns(3)
    types = c[0].multiselect("Asset types", types_available, key="run_types", help="Empty means all types")
    limit = _number(c[1], "limit", "run_limit", empty_label="0 = all")
    provider = c[2].selectbox("Provider", providers.choices, index=list(providers.choices).index(providers.default),
                              key="run_provider", help=providers.help)
    c = st.columns(3)
    test = c[0].toggle("Test mode (a few items)", value=run_option("test").default, key="run_test",
                       help=run_option("test").help)
    test_type = c[1].selectbox("Test type", ["(any)", *types_available], key="run_test_type", disabled=not test)
    speed = c[2].segmented_control("Speed", speeds.choices, default=speeds.default, key="run_speed", required=True,
                                   help=speeds.help)
    c = st.columns(3)
    budget = _number(c[0], "budget_usd", "run_budget", step=0.5, empty_label="0 = none")
    concurrency = _number(c[1], "concurrency", "run_concurrency", empty_label="0 = by speed")
    latency_scale = _number(c[2], "latency_scale", "run_latency_scale", step=0.1, disabled=provider != "standin")
    st.markdown("**Approval gate**")
    c = st.columns(5)
    approval = c[0].toggle("Enabled", value=run_option("approval").default, key="run_approval",
                           help="Batches above the threshold wait for a human before their images are paid for")
    threshold = _number(c[1], "approval_threshold", "run_approval_threshold", disabled=not approval)
    timeout_s = _number(c[2], "approval_timeout_s", "run_approval_timeout", step=30.0, disabled=not approval)
    cost_threshold = _number(c[3], "approval_cost_threshold_usd", "run_cost_threshold", step=0.5,
                             disabled=not approval)
    batch_size = _number(c[4], "batch_size", "run_batch_size", empty_label="0 = one batch", disabled=not approval)
    faults = st.text_input("Stand-in faults (optional)", key="run_faults", placeholder="e.g. 429=0.1,timeout=0.02",
                           disabled=provider != "standin", max_chars=int(run_option("faults").maximum),
                           help=run_option("faults").help)
    values = dict(catalog=catalog_path, types=types, limit=int(limit) or None, test=test,
                  test_type=None if test_type == "(any)" else test_type, provider=provider, speed=speed,
                  concurrency=int(concurrency) or None, budget_usd=float(budget) or None,
                  approval=approval, approval_threshold=int(threshold), approval_timeout_s=float(timeout_s),
                  approval_cost_threshold_usd=float(cost_threshold), batch_size=int(batch_size) or None,
                  latency_scale=float(latency_scale) if provider == "standin" else None,
                  faults=faults if provider == "standin" else None)
    problems = job_form_problems(**values)
    _field_error(problems, "faults")
    for name in problems.keys() - {"faults"}:
        _field_error(problems, name)
    spec = None if problems or catalog_error else build_job_spec(**values)
    with st.container(border=True, key="run_forecast"):
        if spec is None:
            st.caption("Forecast: fix the fields marked above first.")
        else:
            forecast, error = _forecast(json.dumps(spec, sort_keys=True))
            if error:
                st.error(error, icon=":material/error:")
            else:
                kinds = ", ".join(f"{n} {t}" for t, n in forecast["by_type"].items())
                st.markdown(f"**Forecast: {money(forecast['total'], digits=2)}** expected for {forecast['items']} "
                            f"assets ({kinds}) · upper bound {money(forecast['upper'], digits=2)} · prices of "
                            f"{forecast['as_of'] or 'the bundled snapshot'}"
                            + (" · SIMULATED on the stand-in" if provider == "standin" else ""))
                if values["budget_usd"] and forecast["total"] > values["budget_usd"]:
                    st.warning(f"The forecast passes the {money(values['budget_usd'], digits=2)} budget: the run "
                               "will pause on its budget part-way. Raise the budget or lower the limit.",
                               icon=":material/savings:")
    if st.button("Queue run", type="primary", icon=":material/rocket_launch:", key="run_submit",
                 disabled=spec is None, help="Fix the fields marked above first" if spec is None else None):
        job_id = run_action(lambda: queue_job(db, build_job_spec(**values), operator=operator()),
                            done=lambda job_id: f"Queued job #{job_id}: `assetgen serve` picks it up")
        if job_id is not None:  # beside the button too: a toast is gone in four seconds
            st.success(st.session_state["_last_action"], icon=":material/rocket_launch:")


@st.fragment(run_every="2s")
def _jobs() -> None:
    """The queue follows the daemon: a job that ran or failed shows it within two seconds."""
    with guard(retry=False):
        jobs = jobs_queue(db)
    if jobs.empty:
        st.caption("No jobs yet.")
        return
    by_status = jobs["status"].value_counts()
    with st.container(key="jobs_summary"):
        st.markdown(" · ".join(f"**{n}** {status}" for status, n in by_status.items()))
    st.dataframe(jobs, hide_index=True, width="stretch", column_config={
        "error": st.column_config.TextColumn(width="medium"), "summary": st.column_config.TextColumn(width="large")})
    queued = list(jobs.loc[jobs["status"] == "queued", "job_id"])
    if queued:
        c = st.columns([2, 1])
        job_id = c[0].selectbox("Queued job", queued, key="hist_cancel_pick")
        if c[1].button("Cancel job", key="hist_cancel_job", icon=":material/cancel:"):
            run_action(lambda: cancel_queued_job(db, int(job_id), operator=operator()),
                       done=lambda ok: f"Cancelled job #{job_id}" if ok else f"Job #{job_id} had already started")


sessions_tab, run_tab, jobs_tab = st.tabs(["Sessions", "New run", "Jobs"])

with sessions_tab:
    with guard():
        history = session_history(db)
        outcomes = session_outcomes(db)
    if not history.empty:  # each outcome apart: rejected, skipped and aborted are not "done"
        history = history.drop(columns=["saved", "not_saved"]).merge(outcomes, on="session_id", how="left")
        history[list(ITEM_OUTCOMES)] = history[list(ITEM_OUTCOMES)].fillna(0).astype(int)
        order = ["session_id", "status", "outcome", "items", *ITEM_OUTCOMES]
        history = history[order + [c for c in history.columns if c not in order]]
    if history.empty:
        st.info("No sessions yet: start one in **New run**.")
    else:
        cols = st.columns(4)
        cols[0].metric("Sessions", len(history))
        cols[1].metric("Images saved", int(history["saved"].sum()))
        cols[2].metric("Total cost", money(history["cost_usd"].sum(), digits=2),
                       "includes simulated" if history["simulated"].any() else None, delta_color="off", delta_arrow="off")
        cols[3].metric("Completed", int((history["outcome"] == "completed").sum()))
        st.dataframe(history, hide_index=True, width="stretch", column_config={
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f"),
            "budget_usd": st.column_config.NumberColumn("budget", format="$%.2f"),
            "duration_s": st.column_config.NumberColumn("duration", format="%.0f s"),
            "simulated": st.column_config.CheckboxColumn("SIMULATED"),
        })
        picked = st.selectbox("Drill into", list(history["session_id"]), key="hist_session")
        row = history.set_index("session_id").loc[picked]
        ended = ", ".join(f"{row[o]} {o}" for o in ITEM_OUTCOMES if o != "saved" and row[o])
        st.markdown(f"**{picked}** · {row['outcome']} · {row['saved']}/{row['items']} saved"
                    + (f" ({ended})" if ended else "") + " · "
                    f"{money(row['cost_usd'])} {simulated_badge(bool(row['simulated']))} · "
                    f"{fmt_duration(row['duration_s'])}" + (f" · {row['message']}" if row["message"] else ""))
        with guard():
            items = session_items(db, picked)
        st.dataframe(items, hide_index=True, width="stretch",
                     column_config={"cost_usd": st.column_config.NumberColumn("cost", format="$%.4f")})

with run_tab:
    _new_run()

with jobs_tab:
    _jobs()
