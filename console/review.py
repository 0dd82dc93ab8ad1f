"""Review: images whose latest attempt failed the quality gate, to rate; and how the AI judges agree with you."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.read.archive import resolve_image_path
from engine.quality.agreement import agreement_table
from engine.quality.store import RATING_TAGS, add_rating, review_queue, scores_of_item
from console._shared import guard, operator, render_sidebar, run_action, settings, store

SHOWN = 20

render_sidebar()
db = store()
data_dir = settings().data_dir
st.title("Review")
st.caption("Images below the quality gate (docs/quality.md). A rating takes an image off this list and "
           "measures the AI judges against you.")

with guard():
    queue = review_queue(db)
if not queue:
    st.info("Nothing waits for review: every image's latest attempt passed the quality gate.")
for index, row in enumerate(queue[:SHOWN]):
    with st.container(border=True):
        left, right = st.columns([1, 2])
        path = resolve_image_path(row["image_path"], data_dir)
        if path is not None:
            left.image(str(path), width="stretch")
        else:
            left.caption(f":grey[image missing: {row['image_path']}]")
        right.markdown(f"**{row['title'] or row['asset_id']}** · {row['asset_type']} · attempt {row['attempt']}")
        right.markdown(f"Failing: :red[{row['failing'] or 'judges'}]")
        with guard():
            checks = [s for s in scores_of_item(db, row["item_id"])
                      if s["attempt"] == row["attempt"] and s["kind"] == "check"]
        if checks:
            right.dataframe(pd.DataFrame([{"check": s["name"], "value": s["value"], "threshold": s["threshold"],
                                           "passed": s["passed"], "note": s["note"]} for s in checks]),
                            hide_index=True, width="stretch")
        cols = right.columns([1, 1, 2, 1])
        rating = cols[0].selectbox("Rating", [5, 4, 3, 2, 1], index=3, key=f"rv_rating_{index}")
        tag = cols[1].selectbox("Tag", ["", *RATING_TAGS], key=f"rv_tag_{index}")
        comment = cols[2].text_input("Comment", key=f"rv_comment_{index}")
        if cols[3].button("Rate", key=f"rv_rate_{index}"):
            if not operator():
                st.error("Enter your name in the sidebar first: ratings are signed.")
            else:
                run_action(lambda r=row: add_rating(
                    db, image_path=r["image_path"], rating=int(rating), tag=tag or None, comment=comment or None,
                    rated_by=operator(), item_id=r["item_id"], session_id=r["session_id"], asset_id=r["asset_id"],
                    attempt=r["attempt"]), done=lambda rid: f"rating {rid} recorded")
if len(queue) > SHOWN:
    st.caption(f"{len(queue) - SHOWN} more wait; `assetgen review` lists them all.")

st.subheader("Judges against operators")
with guard():
    table = agreement_table(db)
if not table:
    st.caption("No image has both a judge score and a rating yet (run with `--judge`, then rate).")
else:
    st.dataframe(pd.DataFrame([a.to_dict() for a in table]), hide_index=True, width="stretch")
