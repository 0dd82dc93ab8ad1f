"""Costs: spend over time by model, where it went, the budget line and the forecast to completion."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from engine.read import sessions as q
from engine.read.costs import cost_breakdown, cost_timeseries, cost_totals, per_call_table
from console._shared import TOTAL_SERIES, color_scale, guard, money, render_sidebar, short_model, simulated_badge, store

ALL = "All sessions"

render_sidebar()
db = store()
st.title("Costs")

with guard():
    sessions = q.live_sessions(db)
options = [ALL, *sessions["session_id"]]
picked = st.selectbox("Session", options, index=1 if len(options) > 1 else 0, key="cost_session")
session_id = None if picked == ALL else picked

with guard():
    totals = cost_totals(db, session_id=session_id)
    series = cost_timeseries(db, session_id=session_id)
    overview = q.session_overview(db, session_id) if session_id else None

simulated = totals["simulated"]
st.markdown(f"All figures in USD · {simulated_badge(simulated)}"
            + (" (some or all of these calls ran on the offline stand-in)" if simulated else ""))
cols = st.columns(5)
cols[0].metric("Spent", money(totals["spent_usd"]))
cols[1].metric("Calls", totals["calls"], f"{totals['errors']} errors" if totals["errors"] else None, delta_color="inverse")
budget = overview.get("budget_usd") if overview else None
forecast = overview["forecast"] if overview else None
cols[2].metric("Budget", money(budget, digits=2))
cols[3].metric("Forecast at completion", money(forecast["projected_usd"]) if forecast else "—",
               ("over budget" if forecast["over_budget"] else "within budget") if forecast and budget else None,
               delta_color="inverse" if forecast and forecast["over_budget"] else "off", delta_arrow="off")
cols[4].metric("Per item", money(forecast["per_item_usd"]) if forecast else "—")
if forecast and forecast["over_budget"]:
    st.warning(f"At the current pace this session ends at {money(forecast['projected_usd'])}, over its "
               f"{money(budget, digits=2)} budget. The engine pauses when the budget is reached.",
               icon=":material/warning:")

st.subheader("Cumulative cost by model")
if series.empty:
    st.caption("No finished calls yet.")
else:
    lines = alt.Chart(series).mark_line(point=len(series) < 60, interpolate="step-after").encode(
        x=alt.X("finished_at:T", title="time", axis=alt.Axis(format="%H:%M:%S")), y=alt.Y("cumulative_usd:Q", title="USD"),
        color=alt.Color("model:N", scale=color_scale(series["model"]),
                        legend=alt.Legend(orient="top", labelLimit=320)),  # default 160 px cut model ids
        strokeWidth=alt.condition(alt.datum.model == TOTAL_SERIES, alt.value(3), alt.value(1.5)),
        tooltip=["model", "finished_at:T", alt.Tooltip("cumulative_usd:Q", format="$.4f")])
    layers = [lines]
    if budget:
        layers.append(alt.Chart(pd.DataFrame({"budget": [budget]})).mark_rule(color="#E8684A", strokeDash=[6, 4])
                      .encode(y="budget:Q", tooltip=[alt.Tooltip("budget:Q", format="$.2f")]))
    if forecast and forecast["projected_usd"] is not None:
        layers.append(alt.Chart(pd.DataFrame({"forecast": [forecast["projected_usd"]]}))
                      .mark_rule(color="#9270CA", strokeDash=[2, 2]).encode(y="forecast:Q"))
    st.altair_chart(alt.layer(*layers).properties(height=320), width="stretch")
    if budget:
        st.caption("Red dashed: budget · purple dotted: forecast at completion (session total).")

st.subheader("Where it went")
by_cols = st.columns(3)
for col, (by, title) in zip(by_cols, (("stage", "By stage"), ("asset_type", "By asset type"), ("model", "By model"))):
    with col:
        with guard():
            frame = cost_breakdown(db, by=by, session_id=session_id)
        st.markdown(f"**{title}**")
        if frame.empty:
            st.caption("—")
            continue
        encode_color = (alt.Color("model:N", scale=color_scale(frame["model"]), legend=None) if by == "model"
                        else alt.value("#6C4AB6"))
        # a third of the page is too narrow for provider/model ids: label bars with the short name
        frame["label"] = frame[by].map(short_model) if by == "model" else frame[by]
        st.altair_chart(alt.Chart(frame).mark_bar().encode(
            x=alt.X("cost_usd:Q", title="USD"), color=encode_color,
            y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
            tooltip=[by, alt.Tooltip("cost_usd:Q", format="$.4f"), "calls",
                     alt.Tooltip("mean_latency_ms:Q", format=".0f")]).properties(height=alt.Step(26)),
            width="stretch")

st.subheader("Calls")
with guard():
    calls = per_call_table(db, session_id=session_id)
if calls.empty:
    st.caption("No calls yet.")
else:
    st.dataframe(calls, hide_index=True, width="stretch", height=360, column_config={
        "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
        "latency_ms": st.column_config.NumberColumn("latency", format="%.0f ms"),
        "simulated": st.column_config.CheckboxColumn("SIMULATED"),
    })
