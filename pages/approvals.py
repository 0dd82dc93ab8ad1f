"""Approvals: batches held at the gate, edited and decided by a named operator."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.intents.console import approve_reviewed, decide, prompt_changes
from engine.read.approvals import approval_items, decision_history, pending_approvals
from pages._shared import fmt_duration, guard, money, operator, render_sidebar, run_action, simulated_badge, store

render_sidebar()
db = store()
st.title("Approvals")


@st.fragment(run_every="1s")
def countdown() -> None:
    """The pending requests with their time left, ticking without redrawing the editor below."""
    with guard(retry=False):
        pending = pending_approvals(db)
    if pending.empty:
        st.success("Nothing is waiting for approval.", icon=":material/done_all:")
        return
    for row in pending.itertuples():
        left = row.seconds_left
        clock = "no expiry" if left is None or pd.isna(left) else (
            f"expires in {fmt_duration(left)}" if left > 0 else f"expired {fmt_duration(-left)} ago")
        kind = "Cost threshold" if row.threshold_warning else "Batch"
        st.markdown(f"**{kind} `{row.batch_id}`** · session `{row.session_id}` · {row.items} items · "
                    f"est. {money(row.estimated_cost_usd)} {simulated_badge(bool(row.simulated))} · "
                    f":{'red' if left is not None and left < 60 else 'blue'}[{clock}]")
        if row.threshold_warning:
            st.warning(f"Estimated cost {money(row.estimated_cost_usd)} is above the approval threshold "
                       f"{money(row.threshold_usd, digits=2)}: the engine waits for an explicit decision.",
                       icon=":material/warning:")


countdown()

with guard():
    pending = pending_approvals(db)
if not pending.empty:
    st.divider()
    batches = list(pending["batch_id"])
    kinds = dict(zip(pending["batch_id"], pending["kind"]))
    batch_id = st.selectbox("Decide on", batches, key="appr_batch",
                            format_func=lambda b: f"{b} ({'cost threshold' if kinds[b] == 'threshold_approval_request' else 'batch'})")
    with guard():
        items = approval_items(db, batch_id)
    original = dict(zip(items["item_id"], items["final_prompt"]))
    table = pd.DataFrame({
        "approve": [True] * len(items),
        "asset": items["asset_id"],
        "model": items["winner_model"],
        "prompt": items["final_prompt"].fillna(""),
        "item_id": items["item_id"],
    })
    edited = st.data_editor(
        table, key=f"appr_editor_{batch_id}", hide_index=True, width="stretch", num_rows="fixed",
        disabled=["asset", "model", "item_id"],
        column_config={
            "approve": st.column_config.CheckboxColumn("approve", help="Approve selected sends the ticked items"),
            "prompt": st.column_config.TextColumn("prompt (editable)", width="large"),
        })
    comment = st.text_input("Comment", key="appr_comment", placeholder="optional: why")
    who = operator()
    ticks = dict(zip(edited["item_id"], edited["approve"].fillna(False).astype(bool)))
    prompts = dict(zip(edited["item_id"], edited["prompt"]))
    checked = [item_id for item_id, tick in ticks.items() if tick]
    changed = prompt_changes(original, prompts, only=checked)
    dropped = len(prompt_changes(original, prompts)) - len(changed)
    if changed or dropped:
        st.info(f"{len(changed)} edited prompt(s) go with the approval"
                + (f"; {dropped} edit(s) on unticked rows are dropped with those items" if dropped else "")
                + ".", icon=":material/edit:")
    st.caption("One decision: the ticked items with their edited prompts; unticked items end rejected.")
    cols = st.columns(3)

    def write(describe: str, action) -> None:
        run_action(action, done=lambda did: f"{describe} (decision #{did}); the engine applies it on its next tick")

    label = "Approve all" if len(checked) == len(ticks) else f"Approve selected ({len(checked)} of {len(ticks)})"
    if changed:
        label += f" with {len(changed)} edit(s)"
    everything = len(checked) == len(ticks)
    outcome = ("Approved the batch" if everything else f"Approved {len(checked)} of {len(ticks)} items") + (
        f" with {len(changed)} edited prompt(s)" if changed else "")
    if cols[0].button(label, key="appr_approve", type="primary", icon=":material/check:", width="stretch",
                      disabled=items.empty):
        write(outcome, lambda: approve_reviewed(
            db, operator=who, batch_id=batch_id, approved=ticks, original=original, edited=prompts, comment=comment))
    if cols[2].button("Reject", key="appr_reject", icon=":material/block:", width="stretch"):
        write("Rejected the batch", lambda: decide(db, "reject_batch", operator=who, batch_id=batch_id,
                                                   item_ids=list(items["item_id"]), comment=comment))

st.divider()
st.subheader("Decisions")
with guard():
    history = decision_history(db)
if history.empty:
    st.caption("No decisions yet.")
else:
    st.dataframe(history[["decision_id", "batch_id", "session_id", "action", "items", "edits", "decided_by",
                          "created_at", "comment", "state", "applied_at", "result"]],
                 hide_index=True, width="stretch")
