"""Approvals: a review screen for batches held at the gate, decided in one go by a named operator.

The whole screen is one fragment that follows the database every two seconds: a batch decided here
(or anywhere else) gives way to its outcome, and a new request shows up without a reload. Ticks,
edits and the comment live in session state, so a refresh never drops what the operator did.
"""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from engine.intents.console import approve_reviewed, decide
from engine.read.approvals import decision_history, pending_approvals
from engine.read.console import approval_review
from console._shared import (
    COMMENT_MAX_CHARS, rerun_here, SHORTCUTS, expiry_text, guard, money, operator, render_sidebar, run_action, short_model,
    simulated_badge, store,
)

BUDGET_CEILING_USD = 10_000.0  # a typo guard, not a policy: the engine takes any positive budget
GRID_ROW_PX, GRID_MAX_PX = 35, 36 * 20  # show up to 20 rows before the grid scrolls (48 rows once hid in 10)

render_sidebar()
db = store()
st.title("Approvals")
st.caption(f"Tick what to approve, edit a prompt below the grid, then **Approve** ({SHORTCUTS['approve']}) "
           f"sends the ticked items with their edits as one decision; **Reject** ({SHORTCUTS['reject']}) "
           "rejects the whole batch. Unticked items end rejected.")

wanted = st.query_params.get("batch")  # from the inbox badge or the banner on Live
if wanted:
    st.session_state["appr_batch"] = wanted
    st.session_state["appr_shown"] = wanted
    del st.query_params["batch"]


def _state(batch_id: str, name: str, default):
    """Per-batch review state kept in plain session keys: widgets drop theirs when not drawn."""
    return st.session_state.setdefault(f"_appr_{name}_{batch_id}", default)


def _bump(batch_id: str) -> None:
    """A new grid key: the grid redraws from the ticks instead of replaying its own old clicks."""
    st.session_state[f"_appr_v_{batch_id}"] = st.session_state.get(f"_appr_v_{batch_id}", 0) + 1


def _select(batch_id: str, item_ids: list[str], chosen: list[str]) -> None:
    _state(batch_id, "ticks", {}).update({i: i in chosen for i in item_ids})
    _bump(batch_id)


def _select_group(batch_id: str, items: pd.DataFrame) -> None:
    key = f"appr_group_{batch_id}"
    group = st.session_state.get(key)
    if group:
        column, value = group.split(": ", 1)
        chosen = list(items.loc[items["asset_type" if column == "type" else "tier"] == value, "item_id"])
        _select(batch_id, list(items["item_id"]), chosen)
    st.session_state[key] = None


def _keep_edit(batch_id: str, item_id: str, proposed: str) -> None:
    text = (st.session_state.get(f"appr_prompt_{batch_id}_{item_id}") or "").strip()
    edits = _state(batch_id, "edits", {})
    if text and text != (proposed or "").strip():
        edits[item_id] = text
    else:
        edits.pop(item_id, None)


def _restore(batch_id: str, item_id: str, proposed: str) -> None:
    _state(batch_id, "edits", {}).pop(item_id, None)
    st.session_state[f"appr_prompt_{batch_id}_{item_id}"] = proposed


def _label(pending: pd.DataFrame):
    kinds = dict(zip(pending["batch_id"], pending["kind"]))
    sizes = dict(zip(pending["batch_id"], pending["items"]))
    return lambda b: (f"{b} · {sizes[b]} items" + (" · cost threshold" if kinds[b] == "threshold_approval_request"
                                                   else "")) if b in kinds else f"{b} · decided"


def _header(review: dict) -> None:
    left = review["seconds_left"]
    kind = "Cost threshold" if review["kind"] == "threshold_approval_request" else "Batch"
    clock = "" if review["decided"] else f" · :{'red' if left is not None and left < 60 else 'blue'}[{expiry_text(left)}]"
    st.markdown(f"**{kind} `{review['batch_id']}`** · session `{review['session_id']}` · "
                f"{len(review['items'])} items · est. {money(review['estimated_cost_usd'])} "
                f"{simulated_badge(bool(review.get('simulated')))}{clock}")
    if review["kind"] == "threshold_approval_request" and not review["decided"]:
        st.warning(f"Estimated cost {money(review['estimated_cost_usd'])} is above the approval threshold "
                   f"{money(review['threshold_usd'], digits=2)}: the engine waits for an explicit decision "
                   "(no auto-approval at expiry).", icon=":material/warning:")


def _outcome(review: dict) -> None:
    """Once decided, the grid and buttons give way to what was decided and what became of each item."""
    decision = review["decision"]
    items = review["items"]
    if decision is None:
        st.info(f"This batch was closed without a decision here: {review['status']}"
                + (f" by {review['decided_by']}" if review.get("decided_by") else "") + ".", icon=":material/info:")
        edits, chosen = {}, set(items["item_id"]) if review["status"] in ("approved", "timed_out_approved") else set()
    else:
        edits = decision["modifications"]
        chosen = set(decision["item_ids"]) if decision["action"] != "reject_batch" else set()
        applied = decision["applied_at"] is not None
        text = (f"Decision #{decision['decision_id']} · **{decision['action']}** by {decision['decided_by']} · "
                f"{len(chosen)} approved, {len(items) - len(chosen)} rejected, {len(edits)} edited prompt(s)"
                + (f" · “{decision['comment']}”" if decision.get("comment") else ""))
        if applied:
            st.success(f"{text}  \nEngine: {decision['result']}", icon=":material/task_alt:")
        else:
            st.info(f"{text}  \nWaiting for the engine to apply it (its next tick).", icon=":material/hourglass_top:")
    st.dataframe(pd.DataFrame({
        "asset": items["asset_id"],
        "decision": ["approved" if i in chosen else "rejected" for i in items["item_id"]],
        "now": items["state"],
        "prompt": [edits.get(i, p) for i, p in zip(items["item_id"], items["proposed_prompt"])],
        "original (edited)": [p if i in edits else "" for i, p in zip(items["item_id"], items["proposed_prompt"])],
        "est. cost": items["est_cost_usd"],
    }), hide_index=True, width="stretch", key=f"appr_outcome_{review['batch_id']}",
        column_config={"est. cost": st.column_config.NumberColumn(format="$%.4f"),
                       "prompt": st.column_config.TextColumn(width="large")})


def _review(review: dict) -> None:
    batch_id, items = review["batch_id"], review["items"]
    if review["decision"] is not None:  # the engine refused the last one: say why, and let them decide again
        st.error(f"Decision #{review['decision']['decision_id']} was not applied: {review['decision']['result']}",
                 icon=":material/block:")
    ids = list(items["item_id"])
    proposed = dict(zip(ids, items["proposed_prompt"].fillna("")))
    costs = dict(zip(ids, items["est_cost_usd"]))
    ticks = _state(batch_id, "ticks", {})
    for item_id in ids:
        ticks.setdefault(item_id, True)
    edits = _state(batch_id, "edits", {})

    # horizontal containers wrap on a phone instead of stacking every button on a line of its own
    groups = [f"type: {t}" for t in sorted(items["asset_type"].dropna().unique())] + \
             [f"tier: {t}" for t in sorted(items["tier"].dropna().unique())]
    with st.container(horizontal=True, vertical_alignment="bottom", key="appr_tools"):
        st.button("Select all", key=f"appr_all_{batch_id}", icon=":material/select_all:",
                  on_click=_select, args=(batch_id, ids, ids))
        st.button("Select none", key=f"appr_none_{batch_id}", icon=":material/deselect:",
                  on_click=_select, args=(batch_id, ids, []))
        st.pills("Select only", groups, key=f"appr_group_{batch_id}", on_change=_select_group,
                 args=(batch_id, items), help="Ticks exactly the items of one type or tier")

    table = pd.DataFrame({
        "approve": [ticks[i] for i in ids],
        "edited": ["✎" if i in edits else "" for i in ids],
        "asset": items["asset_id"],
        "prompt": [edits.get(i, proposed[i]) for i in ids],
        "original": [proposed[i] if i in edits else "" for i in ids],
        "est. cost": [costs[i] for i in ids],
        "type": items["asset_type"], "tier": items["tier"],
        "model": [short_model(m) for m in items["winner_model"]],
    })
    grid = st.data_editor(
        table, key=f"appr_grid_{batch_id}_{st.session_state.get(f'_appr_v_{batch_id}', 0)}", hide_index=True,
        width="stretch", num_rows="fixed", height=min(GRID_ROW_PX * (len(ids) + 1) + 3, GRID_MAX_PX),
        disabled=[c for c in table.columns if c != "approve"],
        column_config={
            "approve": st.column_config.CheckboxColumn("approve", width=70),
            "edited": st.column_config.TextColumn("", width=28, help="✎: the prompt was edited below"),
            "prompt": st.column_config.TextColumn("prompt", width="large"),
            "original": st.column_config.TextColumn("original (before your edit)", width="medium"),
            "est. cost": st.column_config.NumberColumn("est. cost", format="$%.4f", width="small"),
        })
    ticks.update(dict(zip(ids, grid["approve"].fillna(False).astype(bool))))
    chosen = [i for i in ids if ticks[i]]

    with st.container(border=True, key="appr_editor"):
        labels = dict(zip(ids, items["asset_id"]))
        pick = st.selectbox("Edit the prompt of", ids, key=f"appr_pick_{batch_id}",
                            format_func=lambda i: labels[i] + (" ✎" if i in edits else ""))
        st.text_area("Prompt sent to the image model", edits.get(pick, proposed[pick]), height=180,
                     key=f"appr_prompt_{batch_id}_{pick}", on_change=_keep_edit, args=(batch_id, pick, proposed[pick]))
        if pick in edits:
            note, undo = st.columns([5, 1], vertical_alignment="center")
            note.caption(f"Original: {proposed[pick]}")
            undo.button("Restore", key=f"appr_restore_{batch_id}", on_click=_restore, args=(batch_id, pick, proposed[pick]),
                        icon=":material/undo:")
        if pick not in chosen and pick in edits:
            st.caption(":orange[This item is unticked: its edit is dropped and the item ends rejected.]")

    estimate = sum(costs[i] for i in chosen)
    remaining = review["remaining_usd"]
    edited_chosen = [i for i in chosen if i in edits]
    with st.container(horizontal=True, key="appr_figures"):
        st.metric("Selected", f"{len(chosen)} of {len(ids)}", width=160)
        st.metric("Estimate of selection", money(estimate), width=180)
        st.metric("Budget left", money(remaining) if remaining is not None else "no budget", width=160)
        st.metric("Edited prompts", f"{len(edited_chosen)}", width=130)
    raise_to = None
    if remaining is not None and estimate > remaining + 1e-9:
        needed = review["committed_usd"] + estimate
        st.warning(f"The selection is estimated at {money(estimate)}, more than the {money(remaining)} left of the "
                   f"{money(review['budget_usd'], digits=2)} budget: the session would pause on its budget part-way. "
                   "Raise the budget with this decision, or untick items.", icon=":material/savings:")
        raise_to = st.number_input("Raise the session's budget to (USD)", min_value=round(needed, 2),
                                   max_value=BUDGET_CEILING_USD, value=math.ceil(needed * 100) / 100, step=0.5,
                                   key=f"appr_budget_{batch_id}")
    comment = st.text_input("Comment", key=f"appr_comment_{batch_id}", placeholder="optional: why",
                            max_chars=COMMENT_MAX_CHARS)
    who = operator()
    label = ("Approve all" if len(chosen) == len(ids) else f"Approve {len(chosen)} of {len(ids)}") + \
        (f" with {len(edited_chosen)} edit(s)" if edited_chosen else "") + \
        (f", budget → {money(raise_to, digits=2)}" if raise_to else "")
    cols = st.columns([3, 1])
    if cols[0].button(label, key="appr_approve", type="primary", icon=":material/check:", width="stretch",
                      disabled=not chosen, shortcut=SHORTCUTS["approve"],
                      help="One decision: the ticked items with their edited prompts; unticked items end rejected"):
        done = run_action(lambda: approve_reviewed(
            db, operator=who, batch_id=batch_id, approved={i: ticks[i] for i in ids}, original=proposed,
            edited={i: edits.get(i, proposed[i]) for i in ids}, comment=comment, budget_usd=raise_to), done=lambda did: f"Approved {len(chosen)} of {len(ids)} items with "
                                                    f"{len(edited_chosen)} edited prompt(s) (decision #{did})")
        if done is not None:
            rerun_here()
    if cols[1].button("Reject", key="appr_reject", icon=":material/block:", width="stretch",
                      shortcut=SHORTCUTS["reject"]):
        done = run_action(lambda: decide(db, "reject_batch", operator=who, batch_id=batch_id, item_ids=ids,
                                         comment=comment), done=lambda did: f"Rejected the batch (decision #{did})")
        if done is not None:
            rerun_here()


@st.fragment(run_every="2s")
def review_screen() -> None:
    with guard(retry=False):
        pending = pending_approvals(db)
    waiting = list(pending["batch_id"])
    shown = st.session_state.get("appr_shown")
    options = waiting + ([shown] if shown and shown not in waiting else [])
    if not options:
        st.success("Nothing is waiting for approval.", icon=":material/done_all:")
        return
    if len(waiting) > 1:
        st.caption(f"{len(waiting)} requests wait; the soonest to expire is first.")
    batch_id = st.selectbox("Batch", options, key="appr_batch", format_func=_label(pending))
    st.session_state["appr_shown"] = batch_id  # a batch decided here keeps its outcome on screen
    with guard(retry=False):
        review = approval_review(db, batch_id)
    if review is None:
        st.warning(f"Batch {batch_id} is unknown.")
        return
    _header(review)
    if review["decided"]:
        _outcome(review)
    else:
        _review(review)


review_screen()

st.divider()
st.subheader("Decisions")


@st.fragment(run_every="5s")
def decisions() -> None:
    with guard(retry=False):
        history = decision_history(db)
    if history.empty:
        st.caption("No decisions yet.")
        return
    st.dataframe(history[["decision_id", "batch_id", "session_id", "action", "items", "edits", "decided_by",
                          "created_at", "comment", "state", "applied_at", "result"]],
                 hide_index=True, width="stretch",
                 column_config={"comment": st.column_config.TextColumn(width="medium"),
                                "result": st.column_config.TextColumn(width="medium")})


decisions()
