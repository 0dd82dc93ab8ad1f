"""Competition: which model proposed what for each item, who won and why; and the standing across sessions."""
from __future__ import annotations

import altair as alt
import streamlit as st

from engine.read import sessions as q
from engine.read.competition import (
    competed_items, competition_for_item, dropped_competitors, model_leaderboard, winner_scores,
)
from console._shared import color_scale, guard, money, render_sidebar, short_model, simulated_badge, store

render_sidebar()
db = store()
st.title("Competition")

with guard():
    sessions = q.live_sessions(db)
    board = model_leaderboard(db)

per_item, leaderboard = st.tabs(["Per item", "Leaderboard"])

with per_item:
    if sessions.empty:
        st.info("No sessions yet: proposals appear here as models compete for each item.")
    else:
        options = list(sessions["session_id"])
        simulated = dict(zip(sessions["session_id"], sessions["simulated"]))
        session_id = st.selectbox("Session", options, index=options.index(q.pick_session(sessions)),
                                  key="comp_session")
        with guard():
            items = competed_items(db, session_id)
        if items.empty:
            st.caption("No competition in this session yet.")
        else:
            labels = dict(zip(items["item_id"], items["asset_id"].fillna(items["item_id"])))
            winners = dict(zip(items["item_id"], items["winner"]))  # one lookup per option, not a re-index
            item_id = st.selectbox("Item", list(items["item_id"]), key="comp_item",
                                   format_func=lambda i: f"{labels[i]} · winner {short_model(winners[i])}")
            with guard():
                proposals = competition_for_item(db, item_id)
                dropped = dropped_competitors(db, session_id, item_id)
                scored = winner_scores(db, item_id)
            st.markdown(f"{len(proposals)} proposals for **{labels[item_id]}**"
                        + (f", {len(dropped)} dropped" if len(dropped) else "")
                        + f" · costs {simulated_badge(bool(simulated.get(session_id)))}")
            winner = proposals[proposals["winner"].fillna(False).astype(bool)]
            if not winner.empty:
                top = winner.iloc[0]
                st.success(f"**{top['model']}** won: {top['reasoning'] or 'no reasoning recorded'}",
                           icon=":material/emoji_events:")
            if scored is not None:  # the prompt won on its text; here is how the picture drawn from it scored
                with st.container(horizontal=True, key="comp_winner_scores"):
                    st.metric("Text score", f"{scored['text_score']:.3f}" if scored["text_score"] is not None else "—",
                              help="What the competition ranked the winning prompt by (confidence, coverage, cost)",
                              width=160)
                    image = scored["image"]
                    st.metric("Image score", f"{scored['image_score']:.2f}" if scored["image_score"] is not None else "—",
                              delta=scored["image_text"], delta_color="off" if not image else
                              ("normal" if image["passed"] else "inverse"), delta_arrow="off", width=320,
                              help="Share of the quality checks that apply which the image passed (docs/quality.md), "
                                   "its gate verdict and the judges' mean")
            for gone in dropped.itertuples():  # paid for but out of the running: say so, or it just looks missing
                st.warning(f"**{gone.model}** was dropped (its call still cost {money(gone.cost_usd)}): {gone.reason}",
                           icon=":material/block:")
            st.dataframe(
                proposals[["model", "winner", "confidence", "score", "coverage", "cost_usd", "latency_ms", "prompt",
                           "reasoning"]],
                hide_index=True, width="stretch",
                column_config={
                    "winner": st.column_config.CheckboxColumn("winner"),
                    "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.2f"),
                    "score": st.column_config.NumberColumn("score", format="%.3f"),
                    "coverage": st.column_config.NumberColumn("coverage", format="%.2f"),
                    "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
                    "latency_ms": st.column_config.NumberColumn("latency", format="%.0f ms"),
                    "prompt": st.column_config.TextColumn("proposed prompt", width="large"),
                })

with leaderboard:
    if board.empty:
        st.info("No proposals yet.")
    else:
        cols = st.columns(3)
        leader = board.iloc[0]
        cols[0].metric("Leader", short_model(leader["model"]), f"{int(leader['wins'])} wins", delta_color="off",
                       delta_arrow="off")
        cols[1].metric("Models", len(board))
        cols[2].metric("Proposals", int(board["entries"].sum()))
        chart = alt.Chart(board).mark_bar().encode(
            # whole wins only, and room for provider/model ids
            x=alt.X("wins:Q", axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y("model:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
            color=alt.Color("model:N", scale=color_scale(board["model"]), legend=None),
            tooltip=["model", "entries", "wins", alt.Tooltip("win_rate:Q", format=".0%"),
                     alt.Tooltip("mean_confidence:Q", format=".2f"), alt.Tooltip("cost_usd:Q", format="$.4f")],
        ).properties(height=alt.Step(30))
        st.altair_chart(chart, width="stretch")
        st.dataframe(board, hide_index=True, width="stretch", column_config={
            "win_rate": st.column_config.ProgressColumn("win rate", min_value=0.0, max_value=1.0, format="percent"),
            "mean_confidence": st.column_config.NumberColumn("mean confidence", format="%.2f"),
            "mean_score": st.column_config.NumberColumn("mean score", format="%.3f"),
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f"),
            "mean_cost_usd": st.column_config.NumberColumn("mean cost", format="$%.5f"),
            "mean_latency_ms": st.column_config.NumberColumn("mean latency", format="%.0f ms"),
        })
