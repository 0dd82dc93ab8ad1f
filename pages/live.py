"""Live: watch one session move through the pipeline, and steer it."""
from __future__ import annotations

import altair as alt
import streamlit as st

from engine.read import sessions as q
from engine.vocabulary import DEFAULT_SPEED, SESSION_RUNNING, SPEEDS, STAGES
from engine.intents.console import can_continue, queue_resume, send_control
from pages._shared import (
    STAGE_COLORS, color_scale, engine_banner, feed, fmt_duration, guard, money, operator, run_action,
    render_sidebar, simulated_badge, store,
)


render_sidebar()
db = store()
st.title("Live")
with guard():
    engine_banner(db)
    sessions = q.live_sessions(db)
if sessions.empty:
    st.info("No sessions yet. Start a run from **History → New run**, or `assetgen run --test`.")
    st.stop()

statuses = dict(zip(sessions["session_id"], sessions["status"]))
speeds = dict(zip(sessions["session_id"], sessions["speed"]))
options = list(sessions["session_id"])
default = q.pick_session(sessions)
session_id = st.selectbox(
    "Session", options, index=options.index(default), key="live_session",
    format_func=lambda s: f"{s} · {statuses.get(s, '?')}",
)


def _strip(counts: dict[str, int]) -> None:
    """Discovery → Prompt → Model → (Approval) → Image → Save, each with how many items are there now."""
    cols = st.columns(len(STAGES) + 2)
    for col, stage in zip(cols, (*STAGES, "done", "pending")):
        colour = STAGE_COLORS[stage]
        col.markdown(
            f"<div style='border-left:6px solid {colour};padding:4px 10px;border-radius:4px;"
            f"background:{colour}18'><div style='font-size:0.8em;opacity:.75'>{stage.title()}</div>"
            f"<div style='font-size:1.6em;font-weight:600'>{counts.get(stage, 0)}</div></div>",
            unsafe_allow_html=True)


@st.fragment(run_every="1s")
def live_panel(session_id: str) -> None:
    with guard(retry=False):
        info = q.session_overview(db, session_id)
        if info is None:
            st.warning(f"Session {session_id} is gone.")
            return
        counts = q.stage_counts(db, session_id)
        in_flight = q.items_in_flight(db, session_id)
        controls = q.controls_for_session(db, session_id, limit=8)
    simulated = bool(info.get("simulated"))
    forecast = info["forecast"]
    st.markdown(f"**{session_id}** · `{info['status']}`"
                + (f" ({info['pause_reason']})" if info.get("pause_reason") else "")
                + f" · provider `{info.get('provider')}` · speed `{info.get('speed')}` · "
                + simulated_badge(simulated))
    m = st.columns(6)
    m[0].metric("Items", f"{info['items_done']}/{info['items_total']}")
    m[1].metric("In flight", info["in_flight"])
    m[2].metric("Elapsed", fmt_duration(info["elapsed_s"]))
    m[3].metric("ETA", fmt_duration(info["eta_s"]))
    budget = info.get("budget_usd")
    m[4].metric("Cost" + (" (simulated)" if simulated else ""), money(info.get("cost_usd")),
                delta=f"of {money(budget, digits=2)} budget" if budget else "no budget", delta_color="off",
                delta_arrow="off")
    m[5].metric("Forecast" + (" (simulated)" if simulated else ""), money(forecast["projected_usd"]),
                delta=("over budget" if forecast["over_budget"] else "within budget") if budget else None,
                delta_color="inverse" if forecast["over_budget"] else "off", delta_arrow="off")
    st.progress(min(max(info["fraction_done"], 0.0), 1.0),
                text=f"{info['fraction_done']:.0%} done" + (f" · ETA {fmt_duration(info['eta_s'])}" if info["eta_s"] else ""))
    if budget:
        used = min((info.get("cost_usd") or 0.0) / budget, 1.0)
        st.progress(used, text=f"Budget used {used:.0%}" + (" · SIMULATED" if simulated else ""))
    _strip(counts)

    left, right = st.columns([1, 1])  # the event feed needs the room: its payload was pushed out of view
    with left:
        st.subheader("In flight")
        if in_flight.empty:
            st.caption("Nothing in flight.")
        else:
            st.dataframe(in_flight[["asset_id", "asset_type", "tier", "stage", "status", "winner_model", "cost_usd"]],
                         hide_index=True, width="stretch",
                         column_config={"cost_usd": st.column_config.NumberColumn("cost", format="$%.4f")})
        st.subheader("Controls")
        if controls.empty:
            st.caption("No controls sent yet.")
        else:
            st.dataframe(controls[["control_id", "command", "arg", "requested_by", "source", "created_at", "state",
                                   "result"]], hide_index=True, width="stretch")
    with right:
        st.subheader("Event feed")
        live = feed()
        live.poll()
        events = live.frame(session_id=session_id, limit=40)
        if live.busy:
            st.caption(":orange[Database busy: the feed will catch up.]")
        if events.empty:
            st.caption("No events yet.")
        else:
            events["payload"] = events["payload"].str.slice(0, 120)
            # the session is picked above: its id repeated in every item id only pushed the payload out of view
            events["asset"] = events["item_id"].str.split(":", n=1).str[-1]
            st.dataframe(events[["seq", "ts", "type", "asset", "payload"]], hide_index=True, width="stretch",
                         height=420, column_config={"ts": st.column_config.DatetimeColumn("time", format="HH:mm:ss.SSS")})
        staleness = live.staleness_s()
        st.caption(f"Feed at seq {live.last_seq}" + (f" · newest event {staleness:.1f}s ago" if staleness is not None else ""))


@st.fragment(run_every="1s")
def timeline(session_id: str) -> None:
    with guard(retry=False):
        frame = q.stage_timeline(db, session_id)
    if frame.empty:
        st.caption("No stage updates yet.")
        return
    frame["item"] = frame["asset_id"]
    chart = alt.Chart(frame).mark_bar(cornerRadius=2).encode(
        x=alt.X("start:T", title="time", axis=alt.Axis(format="%H:%M:%S")), x2="end:T",
        y=alt.Y("item:N", sort=alt.EncodingSortField("start", op="min"), title=None,
                axis=alt.Axis(labelLimit=260)),  # the default 180 px cut asset ids like icon-power-of-attorney
        color=alt.Color("stage:N", scale=color_scale(frame["stage"], kind="stage"), legend=alt.Legend(orient="top")),
        tooltip=["item_id", "stage", "start:T", "end:T", alt.Tooltip("seconds:Q", format=".1f")],
    ).properties(height=alt.Step(24))  # one 24 px band per item: a fixed height squeezes the bands flat
    st.altair_chart(chart, width="stretch")


def controls_bar(session_id: str) -> None:
    status = statuses.get(session_id)
    active = status in SESSION_RUNNING
    who = operator()
    cols = st.columns([1, 1, 1, 1, 2, 1])

    def send(command: str, **kwargs) -> None:
        run_action(lambda: send_control(db, command, operator=who, session_id=session_id, **kwargs),
                   done=lambda cid: f"{command} sent (control #{cid}); the engine applies it on its next tick")

    if cols[0].button("Pause", key="ctl_pause", icon=":material/pause:", disabled=not active, width="stretch"):
        send("pause")
    if cols[1].button("Resume", key="ctl_resume", icon=":material/play_arrow:", disabled=not active, width="stretch"):
        send("resume")
    if cols[2].button("Skip item", key="ctl_skip", icon=":material/skip_next:", disabled=not active,
                      width="stretch", help="Skips the oldest item in flight"):
        send("skip")
    with cols[3].popover("Abort", icon=":material/stop:", disabled=not active, width="stretch"):
        st.write("Abort cancels every request in flight and ends the session.")
        if st.button("Abort session", key="ctl_abort", type="primary"):
            send("abort")
    # start from the session's own speed: a fixed "normal" misread a fast session as normal
    current = speeds.get(session_id)
    speed = cols[4].segmented_control("Speed", SPEEDS, default=current if current in SPEEDS else DEFAULT_SPEED,
                                      key="ctl_speed", label_visibility="collapsed")
    if cols[5].button("Set speed", key="ctl_speed_apply", disabled=not active or not speed, width="stretch"):
        send("speed", arg=speed)
    if can_continue(status):
        note, button = st.columns([5, 1], vertical_alignment="center")
        note.caption(f"Session is {status}: continuing it pays for nothing already done "
                     "(the daemon runs it as a job, like `assetgen run --resume`).")
        if button.button("Continue", key="ctl_continue", icon=":material/replay:", width="stretch"):
            run_action(lambda: queue_resume(db, session_id, operator=who),
                       done=lambda jid: f"Queued job #{jid} to continue {session_id}: `assetgen serve` picks it up")
    elif not active:
        st.caption(f"Session is {status}: controls apply to running, paused or awaiting sessions only.")


controls_bar(session_id)
now_tab, timeline_tab = st.tabs(["Now", "Timeline"])
with now_tab:
    live_panel(session_id)
with timeline_tab:
    timeline(session_id)
