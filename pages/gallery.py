"""Gallery: the saved images with prompt, model, cost and the provenance stamped into each PNG."""
from __future__ import annotations

import streamlit as st

from engine.read.archive import gallery_filters, gallery_items, read_provenance, resolve_image_path
from engine.credentials.authority import read_anchors
from engine.credentials.verify import CHECKS, badge, verify_file
from engine.quality.store import quality_of_items
from pages._shared import clip, guard, money, render_sidebar, settings, short_model, store

COLUMNS = 4


@st.cache_data(show_spinner=False, max_entries=2000)
def _verdict(path: str, mtime_ns: int, anchors: str | None):
    """The file's own checks (no database), cached until the file changes."""
    return verify_file(path, anchors_pem=anchors)


def credentials_badge(path) -> str:
    label, colour = badge(_verdict(str(path), path.stat().st_mtime_ns, anchors))
    return f":{colour}-badge[{label}]"


render_sidebar()
db = store()
data_dir = settings().data_dir
anchors = read_anchors(data_dir)
st.title("Gallery")

with guard():
    choices = gallery_filters(db)
cols = st.columns([2, 1, 1, 1])
sessions = cols[0].multiselect("Session", choices["sessions"], key="gal_session")
types = cols[1].multiselect("Type", choices["types"], key="gal_type")
tiers = cols[2].multiselect("Tier", choices["tiers"], key="gal_tier")
limit = cols[3].number_input("Show", min_value=4, max_value=400, value=40, step=4, key="gal_limit")

with guard():
    items = gallery_items(db, session_ids=sessions, asset_types=types, tiers=tiers, limit=int(limit))
if items.empty:
    st.info("No saved images yet." if not choices["sessions"] else "No image matches these filters.")
    st.stop()

with guard():
    quality = quality_of_items(db, list(items["item_id"]))


def quality_line(item_id: str) -> str:
    q = quality.get(item_id)
    if not q:
        return ":grey[not scored]"
    judged = f" · judges {q['judge_mean']:.1f}/5" if q.get("judge_mean") is not None else ""
    verdict = ":green[passed]" if q["passed"] else f":red[review: {q['failing'] or 'judges'}]"
    return f"quality {verdict} (attempt {q['attempt']}){judged}"


grid, detail = st.tabs(["Grid", "Detail"])
with grid:
    for start in range(0, len(items), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), items.iloc[start:start + COLUMNS].itertuples()):
            with col.container(border=True):
                path = resolve_image_path(row.image_path, data_dir)
                if path is None:
                    st.caption(f":grey[image missing: {row.image_path}]")
                else:
                    st.image(str(path), width="stretch")
                    st.markdown(credentials_badge(path))
                st.markdown(f"**{row.title or row.asset_id}** · {row.asset_type} · {row.tier}")
                st.caption(f"{short_model(row.winner_model)} · {money(row.cost_usd, simulated=bool(row.simulated))}")
                st.caption(quality_line(row.item_id))
                st.caption(clip(row.final_prompt, 160))

with detail:
    labels = dict(zip(items["item_id"], items["asset_id"]))
    item_id = st.selectbox("Image", list(items["item_id"]), key="gal_detail",
                           format_func=lambda i: f"{labels[i]} · {i.split(':')[0]}")
    row = items.set_index("item_id").loc[item_id]
    path = resolve_image_path(row["image_path"], data_dir)
    left, right = st.columns([1, 1])
    with left:
        if path is not None:
            st.image(str(path), width="stretch")
        else:
            st.warning(f"The image file is missing: {row['image_path']}")
    with right:
        st.markdown(f"### {row['title'] or row['asset_id']}")
        st.markdown(f"Session `{row['session_id']}` · {row['asset_type']} · {row['tier']} · provider "
                    f"`{row['provider']}` · cost {money(row['cost_usd'], simulated=bool(row['simulated']))}")
        if path is not None:
            with guard():
                verdict = verify_file(path, anchors_pem=anchors, store=db)
            label, colour = badge(verdict)
            st.markdown(f"**Content Credentials** :{colour}-badge[{label}]")
            marks = {True: "✓", False: "✗", None: "–"}
            st.caption(" · ".join(f"{marks[getattr(verdict, attr)]} {text}" for attr, text in CHECKS)
                       + (f" · signer: {verdict.signer}" if verdict.signer else ""))
            for problem in verdict.record_problems + verdict.failures:
                st.caption(f":red[{problem}]")
        st.markdown(quality_line(item_id))
        st.markdown("**Prompt**")
        st.code(row["final_prompt"] or "", language=None, wrap_lines=True)
        st.markdown("**Provenance** (from the PNG's `provenance` chunk)")
        provenance = read_provenance(path)
        if provenance is None:
            st.caption("No provenance chunk in this file.")
        else:
            st.json(provenance)
