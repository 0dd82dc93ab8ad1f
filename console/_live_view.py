"""The Live view, drawn by two pages: Live (`/`) and the detailed live view (`/enhanced`).

Everything that shows the database sits in one fragment rerun every second, so the session
picker, statuses, counts and which buttons apply follow the engine without a reload, while the
operator's own widgets (the picked session, the speed) keep their state between reruns.
"""
from __future__ import annotations

import io
import re

import altair as alt
import streamlit as st
from PIL import Image

from engine.read import sessions as q
from engine.vocabulary import DEFAULT_SPEED, ITEM_NOT_SAVED, ITEM_OUTCOMES, SESSION_RUNNING, SPEEDS, STAGES
from engine.intents.console import can_continue, queue_resume, send_control
from engine.read.console import live_items, outcome_counts
from engine.read.live_rows import ROWS_PER_PAGE, SKIPPABLE_STATES, live_rows
from engine.read.archive import resolve_image_path
from console._shared import (
    SHORTCUTS, STAGE_COLORS, clip, color_scale, engine_banner, feed, fmt_duration, guard, inbox_banner, money,
    operator, rerun_here, run_action, settings, short_model, simulated_badge, store,
)

__all__ = ["render"]


OUTCOME_BADGES = {"saved": "green", "rejected": "violet", "skipped": "gray", "failed": "red", "aborted": "orange"}
THUMBNAILS = 8
WHY_CHARS = 72  # a reasoning this short is shown whole
WHY_LABEL_CHARS = 56  # the start of a longer one, as its expander's label: one line at 1400 px, three on a phone
# The row views: every item, the ones still open (what a skip applies to), the ones that ended.
ROW_VIEWS = {"all": None, "open": SKIPPABLE_STATES, "ended": ITEM_OUTCOMES}


def render(*, detailed: bool) -> None:
    db = store()
    with guard():
        engine_banner(db)
    st.caption(f"Shortcuts: {SHORTCUTS['pause']} pauses, {SHORTCUTS['resume']} resumes the picked session.")
    _head(db)
    if detailed:
        _detail(db)
        return
    now_tab, items_tab, timeline_tab = st.tabs(["Now", "Items", "Timeline"])
    with now_tab:
        _now(db)
    with items_tab:
        _items(db)
    with timeline_tab:
        _timeline(db)


def _picked() -> str | None:
    """The session the head fragment picked; the other fragments follow it on their next tick."""
    return st.session_state.get("live_session")


@st.fragment(run_every="1s")
def _head(db) -> None:
    """Banner, session picker, figures and controls: what must never be stale, redrawn every second."""
    with guard(retry=False):
        inbox_banner()
        sessions = q.live_sessions(db)
    if sessions.empty:
        st.info("No sessions yet. Start a run from **History → New run**, or `assetgen run --test`.")
        return
    statuses = dict(zip(sessions["session_id"], sessions["status"]))
    options = list(sessions["session_id"])
    if _picked() not in statuses:  # first visit, or the picked session left the list
        st.session_state["live_session"] = q.pick_session(sessions)
    session_id = st.selectbox("Session", options, key="live_session",
                              format_func=lambda s: f"{s} · {statuses.get(s, '?')}")
    with guard(retry=False):
        info = q.session_overview(db, session_id)
        if info is None:
            st.warning(f"Session {session_id} is gone.")
            return
        counts = outcome_counts(db, session_id)
    _overview(info, counts)
    _controls(db, session_id, info, counts)


def _overview(info: dict, counts: dict) -> None:
    simulated = bool(info.get("simulated"))
    forecast = info["forecast"]
    total, finished = counts["total"] or int(info.get("items_total") or 0), counts["finished"]
    st.markdown(f"**{info['session_id']}** · `{info['status']}`"
                + (f" ({info['pause_reason']})" if info.get("pause_reason") else "")
                + f" · provider `{info.get('provider')}` · speed `{info.get('speed')}` · "
                f"elapsed {fmt_duration(info['elapsed_s'])} · " + simulated_badge(simulated))
    budget = info.get("budget_usd")
    with st.container(horizontal=True, key="live_metrics"):
        st.metric("Saved", f"{counts['saved']}/{total}", width=100)
        not_saved = [f"{counts[o]} {o}" for o in ITEM_OUTCOMES if o != "saved" and counts[o]]
        st.metric("Finished", f"{finished}/{total}", delta=", ".join(not_saved) or None, delta_color="off",
                  delta_arrow="off", width=150)
        st.metric("In flight", counts["in_flight"], width=100,
                  help="Items holding a worker slot now; items at the approval gate or queued after it are not")
        st.metric("At the gate", counts["awaiting_approval"], width=100,
                  help="Items waiting for an approval decision")
        st.metric("ETA", fmt_duration(info["eta_s"]), width=100)
        # the forecast rides under the cost: a seventh metric wrapped onto a line of its own at 1400 px
        forecast_text = f"forecast {money(forecast['projected_usd'])}" + (
            (" · over budget" if forecast["over_budget"] else "") if budget else "")
        st.metric("Cost" + (" (simulated)" if simulated else ""), money(info.get("cost_usd")),
                  delta=(f"of {money(budget, digits=2)} budget · " if budget else "no budget · ") + forecast_text,
                  delta_color="inverse" if forecast["over_budget"] else "off", delta_arrow="off", width=230)
    fraction = finished / total if total else 0.0
    st.progress(min(max(fraction, 0.0), 1.0),
                text=f"{finished}/{total} finished · {counts['saved']} saved"
                     + (f" · ETA {fmt_duration(info['eta_s'])}" if info["eta_s"] else ""))
    badges = " ".join(f":{colour}-badge[{o} {counts[o]}]" for o, colour in OUTCOME_BADGES.items() if counts[o])
    queued = counts["approved_queued"]
    extra = [f"{counts['pending']} not started"] if counts["pending"] else []
    if queued:
        extra.append(f"{queued} approved, waiting for a slot")
    if counts["saving"]:
        extra.append(f"{counts['saving']} being scored and saved")
    if badges or extra:
        st.markdown(badges + (" · " if badges and extra else "") + " · ".join(extra))
    if budget:
        used = min((info.get("cost_usd") or 0.0) / budget, 1.0)
        st.progress(used, text=f"Budget used {used:.0%}" + (" · SIMULATED" if simulated else ""))


def _controls(db, session_id: str, info: dict, counts: dict) -> None:
    status = info["status"]
    active = status in SESSION_RUNNING
    paused = status == "paused"
    who = operator()

    def send(command: str, **kwargs) -> None:
        run_action(lambda: send_control(db, command, operator=who, session_id=session_id, **kwargs),
                   done=lambda cid: f"{command} sent (control #{cid}); the engine applies it on its next tick")

    # The speed follows the session: when the engine reports a new speed (from anyone), the control shows it.
    current = info.get("speed") if info.get("speed") in SPEEDS else DEFAULT_SPEED
    seen_key = f"_live_speed_seen_{session_id}"
    if st.session_state.get(seen_key) != current:
        st.session_state[seen_key] = current
        st.session_state["ctl_speed"] = current

    with st.container(horizontal=True, key="live_controls", vertical_alignment="center"):
        if st.button("Pause", key="ctl_pause", icon=":material/pause:", disabled=not active or paused,
                     shortcut=SHORTCUTS["pause"], help="Only a running session can be paused"):
            send("pause")
        if st.button("Resume", key="ctl_resume", icon=":material/play_arrow:", disabled=not paused,
                     shortcut=SHORTCUTS["resume"], help="Only a paused session can be resumed"):
            send("resume")
        if st.button("Skip item", key="ctl_skip", icon=":material/skip_next:",
                     disabled=not active or not counts["in_flight"], help="Skips the oldest item in flight"):
            send("skip")
        with st.popover("Abort", icon=":material/stop:", disabled=not active, key="ctl_abort_menu"):
            st.write("Abort cancels every request in flight and ends the session.")
            if st.button("Abort session", key="ctl_abort", type="primary"):
                send("abort")
        st.segmented_control("Speed", SPEEDS, key="ctl_speed", disabled=not active, on_change=_speed_changed,
                             args=(db, session_id), label_visibility="collapsed",
                             help="One click sets the session's speed")
    if can_continue(status):
        note, button = st.columns([5, 1], vertical_alignment="center")
        note.caption(f"Session is {status}: continuing it pays for nothing already done "
                     "(the daemon runs it as a job, like `assetgen run --resume`).")
        if button.button("Continue", key="ctl_continue", icon=":material/replay:", width="stretch"):
            run_action(lambda: queue_resume(db, session_id, operator=who),
                       done=lambda jid: f"Queued job #{jid} to continue {session_id}: `assetgen serve` picks it up")
    elif not active:
        st.caption(f"Session is {status}: controls apply to running, paused or awaiting sessions only.")


def _speed_changed(db, session_id: str) -> None:
    speed = st.session_state.get("ctl_speed")
    if not speed:  # a second click on the picked option clears it: keep the session's speed
        st.session_state["ctl_speed"] = st.session_state.get(f"_live_speed_seen_{session_id}")
        return
    run_action(lambda: send_control(db, "speed", operator=operator(), session_id=session_id, arg=speed),
               done=lambda cid: f"speed {speed} sent (control #{cid}); the engine applies it on its next tick")


def _strip(counts: dict[str, int]) -> None:
    """Discovery → Prompt → Model → (Approval) → Image → Save, each with how many items are there now."""
    with st.container(horizontal=True, key="live_strip", gap="small"):
        for stage in (*STAGES, "done", "pending"):
            colour = STAGE_COLORS[stage]
            st.markdown(
                f"<div style='border-left:6px solid {colour};padding:4px 10px;border-radius:4px;min-width:84px;"
                f"background:{colour}18'><div style='font-size:0.8em;opacity:.75'>{stage.title()}</div>"
                f"<div style='font-size:1.6em;font-weight:600'>{counts.get(stage, 0)}</div></div>",
                unsafe_allow_html=True, width="content")


@st.fragment(run_every="2s")
def _now(db) -> None:
    session_id = _picked()
    if session_id is None:
        return
    with guard(retry=False):
        counts = q.stage_counts(db, session_id)
        controls = q.controls_for_session(db, session_id, limit=8)
    _strip(counts)
    left, right = st.columns([1, 1])
    with left:
        st.subheader("Controls")
        if controls.empty:
            st.caption("No controls sent yet.")
        else:
            st.dataframe(controls[["control_id", "command", "arg", "requested_by", "source", "created_at", "state",
                                   "result"]], hide_index=True, width="stretch")
    with right:
        _feed(session_id)


def _feed(session_id: str) -> None:
    st.subheader("Event feed")
    live = feed()
    live.poll()
    events = live.frame(session_id=session_id, limit=40)
    if live.busy:
        st.caption(":orange[Database busy: the feed will catch up.]")
    if events.empty:
        st.caption("No events yet.")
    else:
        # the session is picked above: its id repeated in every item id only pushed the payload out of view
        events["asset"] = events["item_id"].str.split(":", n=1).str[-1]
        st.dataframe(events[["seq", "ts", "type", "asset", "payload"]], hide_index=True, width="stretch",
                     height=420, column_config={
                         "ts": st.column_config.DatetimeColumn("time", format="HH:mm:ss.SSS"),
                         "payload": st.column_config.JsonColumn("payload (click to expand)", width="large")})
    staleness = live.staleness_s()
    st.caption(f"Feed at seq {live.last_seq}" + (f" · newest event {staleness:.1f}s ago" if staleness is not None else ""))


@st.fragment(run_every="2s")
def _items(db) -> None:
    """A row per item, a window at a time: thumbnail, state and stage, winning model and why, cost so far,
    image score, and the item's own skip (enabled only while the item can still be skipped)."""
    session_id = _picked()
    if session_id is None:
        return
    view = st.segmented_control("Show", list(ROW_VIEWS), key="live_rows_view", default="all",
                                label_visibility="collapsed") or "all"
    page_key = f"_live_rows_page_{session_id}_{view}"
    page = st.session_state.get(page_key, 0)
    with guard(retry=False):
        window = live_rows(db, session_id, offset=page * ROWS_PER_PAGE, limit=ROWS_PER_PAGE, states=ROW_VIEWS[view])
        if window.rows.empty and page:  # the rows moved on (items finished): back to the first page
            st.session_state[page_key] = page = 0
            window = live_rows(db, session_id, limit=ROWS_PER_PAGE, states=ROW_VIEWS[view])
    if window.rows.empty:
        st.caption("No items yet." if view == "all" else f"No {view} items.")
        return
    _pager(window, page_key)
    data_dir = settings().data_dir
    for row in window.rows.itertuples():
        _item_row(db, session_id, row, data_dir)


def _pager(window, page_key: str) -> None:
    first, last = window.offset + 1, window.offset + len(window.rows)
    with st.container(horizontal=True, key="live_rows_pager", vertical_alignment="center"):
        st.caption(f"Items {first}–{last} of {window.total} · the ones being worked on first")
        if window.pages > 1:
            if st.button("Previous", key="live_rows_prev", icon=":material/chevron_left:", disabled=window.page == 0):
                st.session_state[page_key] = window.page - 1
                rerun_here()
            if st.button("Next", key="live_rows_next", icon=":material/chevron_right:",
                         disabled=window.page + 1 >= window.pages):
                st.session_state[page_key] = window.page + 1
                rerun_here()


def _item_row(db, session_id: str, row, data_dir) -> None:
    """One item as a compact row that wraps: thumbnail, then name, state, stage, cost and image score in one
    block, the winner and why, and Skip.

    A flex row, not st.columns: columns stack on a phone, and each of the five became a line of its own
    (391 px an item, a Live in detail of 8,000+ px for 12 items at 390 px wide); the row keeps the thumbnail
    beside its facts there, and is one line at 1400 px."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", row.asset_id)
    with st.container(border=True, key=f"live_row_{slug}", horizontal=True, vertical_alignment="center", gap="small"):
        image = _thumbnail(row.image_path, data_dir)
        if image is not None:
            st.image(image, width=56)
        else:
            colour = STAGE_COLORS.get(row.stage if isinstance(row.stage, str) else "pending", "#999999")
            st.markdown(f"<div style='width:56px;height:56px;border-radius:6px;background:{colour}30;"
                        f"border:2px dashed {colour}'></div>", unsafe_allow_html=True, width="content")
        badge = OUTCOME_BADGES.get(row.state, "blue")
        stage = row.stage if isinstance(row.stage, str) else "—"
        estimated = " (estimated)" if row.cost_estimated else ""
        spent = f"cost {money(row.cost_usd)}" if row.state in ITEM_OUTCOMES else (
            f"{money(row.cost_usd)}{estimated} so far")
        score = (f":{'green' if row.score['passed'] else 'red'}[{row.score_text}]" if row.score
                 else ":grey[no image]" if row.state in ITEM_NOT_SAVED else ":grey[not scored yet]")
        st.markdown(f"**{row.asset_id}** :{badge}-badge[{row.state.replace('_', ' ')}]  \n"
                    f":grey[{row.asset_type or ''} · stage {stage} · {spent}]  \n{score}", width=250)
        winner = short_model(row.winner_model) if isinstance(row.winner_model, str) else None
        reason = row.reason if isinstance(row.reason, str) and row.state in ITEM_NOT_SAVED else ""
        _why(st.container(width="stretch"), winner, row.why if isinstance(row.why, str) else "", reason)
        help_text = ("Skip this item: its requests in flight are cancelled" if row.can_skip else
                     "A skip of this item is waiting for the engine" if row.skip_pending else
                     f"{row.asset_id} is {row.state.replace('_', ' ')}: nothing to skip" if row.state not in SKIPPABLE_STATES
                     else "Only a running, paused or awaiting session's items can be skipped")
        if st.button("Skip", key=f"live_skip_{slug}", icon=":material/skip_next:", disabled=not row.can_skip,
                     help=help_text):
            sent = run_action(lambda: send_control(db, "skip", operator=operator(), session_id=session_id,
                                                   item_id=row.item_id),
                              done=lambda cid: f"skip of {row.asset_id} sent (control #{cid}); the engine applies it "
                                               "on its next tick")
            if sent is not None:  # redraw at once: the row's button gives way to "skip waiting for the engine"
                rerun_here()


def _why(column, winner: str | None, why: str, reason: str) -> None:
    """The winner and the start of its reasoning, all of it on expand (a bare "why" label hid the reasoning at
    1400 px, seen in the screenshot sweep). An item that ended unsaved says why it ended first."""
    if reason:
        head = f":violet[ended: {clip(reason, 80)}]" + (f" · **{winner}** won" if winner else "")
    else:
        head = f"**{winner}** won" if winner else ":grey[no winner yet]"
    if not why:
        column.markdown(head)
    elif len(why) <= WHY_CHARS:
        column.markdown(f"{head}: {why}")
    else:
        with column.expander(f"{head}: {clip(why, WHY_LABEL_CHARS)}"):
            st.markdown(why)


def _thumbnail(image_path, data_dir) -> bytes | None:
    path = resolve_image_path(image_path, data_dir) if isinstance(image_path, str) else None
    if path is None:
        return None
    try:
        return _thumbnail_bytes(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


@st.cache_data(show_spinner=False, max_entries=512)
def _thumbnail_bytes(path: str, mtime_ns: int, size: int = 128) -> bytes | None:
    """A small PNG of a saved image (keyed by its mtime too, so a rewritten file is read again): a window of
    rows redrawn every few seconds must not ship full-size images."""
    try:
        with Image.open(path) as img:
            img.thumbnail((size, size))
            out = io.BytesIO()
            img.save(out, format="PNG")
    except OSError:
        return None
    return out.getvalue()


@st.fragment(run_every="3s")
def _thumbnails(db) -> None:
    session_id = _picked()
    if session_id is None:
        return
    with guard(retry=False):
        items = live_items(db, session_id, limit=200)
    saved = items[items["image_path"].notna()].head(THUMBNAILS)
    if saved.empty:
        return
    data_dir = settings().data_dir
    with st.container(horizontal=True, key="live_thumbs"):
        for row in saved.itertuples():
            image = _thumbnail(row.image_path, data_dir)
            if image is not None:
                st.image(image, caption=row.asset_id, width=110)


def _detail(db) -> None:
    """The detailed live view: thumbnails, every item, the stage strip, timeline and feed on one screen."""
    _thumbnails(db)
    _items(db)
    _now(db)
    st.subheader("Timeline")
    _timeline(db)


@st.fragment(run_every="2s")
def _timeline(db) -> None:
    session_id = _picked()
    if session_id is None:
        return
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
