"""Gallery: the studio's images as an image browser.

Cards show template version, prompt and image model, session, date, quality verdict and Content Credentials;
filters narrow by every one of those; a card opens a lightbox that steps with Previous/Next or the arrow keys
(the filters hold there too) and zooms with a visible control, not the image's hover toolbar; Compare puts two
images side by side with their prompts and what differs in their provenance. The queries live in
engine/read/gallery.py.
"""
from __future__ import annotations

import base64
import html

import pandas as pd
import streamlit as st
from PIL import Image

from engine.credentials.authority import read_anchors
from engine.credentials.verify import CHECKS, badge, verify_file
from engine.read.archive import read_provenance, resolve_image_path
from engine.read.gallery import (
    DEFAULT_STATUSES, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, GalleryFilter, gallery_choices, gallery_item, gallery_neighbours,
    gallery_page, provenance_diff,
)
from console._shared import clip, guard, money, render_sidebar, settings, short_model, store

COLUMNS = 4
PROMPT_LINES = 3  # a card shows this many lines of its prompt, the whole of it in the lightbox
# Cards of one row keep one height whatever their prompt, title, status or image shape: the image sits in a
# square box, the title ends in an ellipsis, each caption takes two lines, and the prompt is clamped to
# PROMPT_LINES lines (its full text on hover and in the lightbox). A card once grew with its prompt's length.
CARD_CSS = f"""<style>
[class*="st-key-gal_card_"] [data-testid="stImage"] img {{ aspect-ratio: 1 / 1; object-fit: contain; }}
.gal-line {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
[class*="st-key-gal_card_"] [data-testid="stCaptionContainer"] {{ display: -webkit-box; -webkit-box-orient: vertical;
  -webkit-line-clamp: 2; line-clamp: 2; overflow: hidden; line-height: 1.45; height: 2.9em; }}
[class*="st-key-gal_card_"] [data-testid="stCaptionContainer"] p {{ margin: 0; }}
.gal-prompt {{ display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: {PROMPT_LINES};
  line-clamp: {PROMPT_LINES}; overflow: hidden; line-height: 1.4em; height: {1.4 * PROMPT_LINES}em;
  font-size: 0.875rem; opacity: 0.7; }}
</style>"""
ZOOMS = {"Fit": None, "100%": 1, "200%": 2, "400%": 4}


@st.cache_data(show_spinner=False, max_entries=2000)
def _verdict(path: str, mtime_ns: int, anchors: str | None):
    """The file's own checks (no database), cached until the file changes."""
    return verify_file(path, anchors_pem=anchors)


def credentials_badge(path) -> str:
    label, colour = badge(_verdict(str(path), path.stat().st_mtime_ns, anchors))
    return f":{colour}-badge[{label}]"


def models_line(row: dict) -> str:
    version = row.get("template_version")
    version = "template —" if version is None or pd.isna(version) else f"template v{int(version)}"
    return f"{version} · prompt {short_model(row.get('winner_model'))} · image {short_model(row.get('image_model'))}"


def when_line(row: dict) -> str:
    finished = row.get("finished_at")
    date = "not finished" if finished is None or pd.isna(finished) else f"{pd.Timestamp(finished):%Y-%m-%d %H:%M} UTC"
    return f"{row['session_id']} · {date}"


def quality_line(row: dict) -> str:
    if not row.get("scored"):
        return ":grey[not scored]"
    mean = row.get("judge_mean")
    judged = "" if mean is None or pd.isna(mean) else f" · judges {mean:.1f}/5"
    verdict = ":green[passed]" if row.get("quality_passed") else f":red[review: {row.get('quality_failing') or 'judges'}]"
    return f"quality {verdict} (attempt {int(row['quality_attempt'])}){judged}"


def status_line(row: dict) -> str | None:
    if row["status"] in DEFAULT_STATUSES:
        return None
    return f":red-badge[{row['status']}] {clip(row.get('reason'), 80)}"


def _set_zoom(key: str, label: str) -> None:
    st.session_state[key] = label


def zoomable(path, key: str) -> None:
    """The image with a zoom control always in view; past "Fit" it scrolls inside its own frame.

    The zoom levels are buttons, not a segmented control: a focused segmented control takes the arrow keys
    for itself (seen in chromium), and the lightbox needs them for Previous/Next."""
    current = st.session_state.get(key, "Fit")
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        st.markdown("Zoom", width="content")
        for label in ZOOMS:
            st.button(label, key=f"{key}_{label.rstrip('%')}", type="primary" if label == current else "secondary",
                      on_click=_set_zoom, args=(key, label))
    factor = ZOOMS[current]
    if factor is None:
        st.image(str(path), width="stretch")
        return
    with Image.open(path) as image:
        width = image.width * factor
    data = base64.b64encode(path.read_bytes()).decode()
    st.html(f'<div class="gal-zoom" style="overflow:auto;max-height:70vh;border:1px solid #8884">'
            f'<img alt="zoomed image" src="data:image/png;base64,{data}" '
            f'style="width:{width}px;max-width:none;image-rendering:pixelated"></div>')


def render_detail(row: dict, *, key: str) -> None:
    """One image in full: zoomable picture, facts, credentials, quality, prompt and its PNG provenance."""
    path = resolve_image_path(row["image_path"], data_dir)
    left, right = st.columns([3, 2])
    with left:
        if path is not None:
            zoomable(path, key=f"{key}_zoom")
        else:
            st.warning(f"No image file: {row['image_path'] or row.get('reason') or row['status']}")
    with right:
        st.markdown(f"### {row['title'] or row['asset_id']}")
        st.caption(models_line(row))
        st.caption(when_line(row))
        st.markdown(f"{row['asset_type']} · {row['tier']} · status `{row['status']}` · provider `{row['provider']}` · "
                    f"cost {money(row['cost_usd'], simulated=bool(row['simulated']))}")
        if path is not None:
            with guard(retry=False):
                verdict = verify_file(path, anchors_pem=anchors, store=db)
            label, colour = badge(verdict)
            st.markdown(f"**Content Credentials** :{colour}-badge[{label}]")
            marks = {True: "✓", False: "✗", None: "–"}
            st.caption(" · ".join(f"{marks[getattr(verdict, attr)]} {text}" for attr, text in CHECKS)
                       + (f" · signer: {verdict.signer}" if verdict.signer else ""))
            for problem in verdict.record_problems + verdict.failures:
                st.caption(f":red[{problem}]")
        st.markdown(quality_line(row))
        st.markdown("**Prompt**")
        st.code(row["final_prompt"] or "", language=None, wrap_lines=True)
        st.markdown("**Provenance** (from the PNG's `provenance` chunk)")
        provenance = read_provenance(path)
        if provenance is None:
            st.caption("No provenance chunk in this file.")
        else:
            st.json(provenance, expanded=1)


def _show(item_id: str | None) -> None:
    if item_id:
        st.session_state["gal_current"] = item_id


def _close() -> None:
    st.session_state["gal_current"] = None


@st.dialog("Image", width="large", on_dismiss=_close)
def lightbox(filters: GalleryFilter) -> None:
    """Previous/Next (and the ← → keys) walk the filtered gallery across pages; each click reruns only this."""
    item_id = st.session_state.get("gal_current")
    with guard(retry=False):
        row = gallery_item(db, item_id)
        near = gallery_neighbours(db, filters, item_id)
    if row is None:
        st.warning(f"{item_id} is no longer in the gallery.")
        return
    nav = st.columns([1, 3, 1], vertical_alignment="center")
    nav[0].button("Previous", key="gal_prev", icon=":material/arrow_back:", shortcut="Left", width="stretch",
                  disabled=near.previous is None, on_click=_show, args=(near.previous,))
    nav[1].caption(f"{near.position} of {near.total} · ← → to step, Esc to close" if near.position
                   else "Outside the current filters")
    nav[2].button("Next", key="gal_next", icon=":material/arrow_forward:", shortcut="Right", width="stretch",
                  disabled=near.next is None, on_click=_show, args=(near.next,))
    render_detail(row, key="gal_lb")


render_sidebar()
db = store()
data_dir = settings().data_dir
anchors = read_anchors(data_dir)
st.title("Gallery")

with guard():
    choices = gallery_choices(db)
top = st.columns([2, 1, 1, 1])
sessions = top[0].multiselect("Session", choices["sessions"], key="gal_session")
types = top[1].multiselect("Type", choices["types"], key="gal_type")
tiers = top[2].multiselect("Tier", choices["tiers"], key="gal_tier")
statuses = top[3].multiselect("Status", choices["statuses"], key="gal_status",
                              default=[s for s in DEFAULT_STATUSES if s in choices["statuses"]])
second = st.columns([2, 2, 1.2, 1.2, 0.8, 0.8])
prompt_models = second[0].multiselect("Prompt model", choices["prompt_models"], key="gal_prompt_model",
                                      help="The model whose prompt won the competition")
image_models = second[1].multiselect("Image model", choices["image_models"], key="gal_image_model")
versions = second[2].multiselect("Template", choices["template_versions"], key="gal_template",
                                 format_func=lambda v: f"v{v}")
qualities = second[3].multiselect("Quality", choices["qualities"], key="gal_quality")
limit = second[4].number_input("Show", min_value=4, max_value=PAGE_SIZE_MAX, value=PAGE_SIZE_DEFAULT, step=4,
                               key="gal_limit")
page_no = second[5].number_input("Page", min_value=1, value=1, step=1, key="gal_page")

filters = GalleryFilter(session_ids=sessions, asset_types=types, tiers=tiers, statuses=statuses,
                        prompt_models=prompt_models, image_models=image_models, template_versions=versions,
                        qualities=qualities)
with guard():
    result = gallery_page(db, filters, page=int(page_no), page_size=int(limit))
if result.items.empty:
    st.info("No images yet." if not choices["sessions"] else "No image matches these filters.")
    st.stop()
st.caption(f"Images {result.first}–{result.last} of {result.total:,} · page {result.page} of {result.pages} · "
           "**Open** a card for the lightbox")
rows = {r["item_id"]: r for r in result.items.to_dict("records")}

grid, detail, compare = st.tabs(["Grid", "Detail", "Compare"])
with grid:
    st.html(CARD_CSS)
    cards = list(rows.values())
    for start in range(0, len(cards), COLUMNS):
        for n, (col, row) in enumerate(zip(st.columns(COLUMNS), cards[start:start + COLUMNS]), start=start):
            with col.container(border=True, key=f"gal_card_{n}"):
                path = resolve_image_path(row["image_path"], data_dir)
                if path is None:
                    st.caption(f":grey[no image{': ' + row['image_path'] if row['image_path'] else ''}]")
                else:
                    st.image(str(path), width="stretch")
                    st.markdown(credentials_badge(path))
                title = f"{row['title'] or row['asset_id']} · {row['asset_type']} · {row['tier']}"
                st.html(f"<div class='gal-line' title='{html.escape(title, quote=True)}'><b>"
                        f"{html.escape(row['title'] or row['asset_id'])}</b> · {html.escape(str(row['asset_type']))} · "
                        f"{html.escape(str(row['tier']))}</div>")
                st.caption(models_line(row))
                st.caption(f"{when_line(row)} · {money(row['cost_usd'], simulated=bool(row['simulated']))}")
                st.caption(status_line(row) or quality_line(row))  # a failed or skipped item has no image to score
                prompt = html.escape(row["final_prompt"] or "", quote=True)
                st.html(f"<div class='gal-prompt' title='{prompt}'>{prompt}</div>")
                st.button("Open", key=f"gal_open_{n}", icon=":material/open_in_full:", width="stretch",
                          on_click=_show, args=(row["item_id"],))

with detail:
    item_id = st.selectbox("Image", list(rows), key="gal_detail",
                           format_func=lambda i: f"{rows[i]['asset_id']} · {rows[i]['session_id']}")
    render_detail(rows[item_id], key="gal_det")

with compare:
    choose = st.columns(2)
    label = lambda i: f"{rows[i]['asset_id']} · {rows[i]['session_id']}"  # noqa: E731
    pair = [choose[0].selectbox("Image A", list(rows), index=0, key="gal_cmp_a", format_func=label),
            choose[1].selectbox("Image B", list(rows), index=min(1, len(rows) - 1), key="gal_cmp_b", format_func=label)]
    provenances = []
    for col, item_id in zip(st.columns(2), pair):
        row = rows[item_id]
        path = resolve_image_path(row["image_path"], data_dir)
        provenances.append(read_provenance(path))
        with col.container(border=True):
            if path is not None:
                st.image(str(path), width="stretch")
            st.markdown(f"**{row['title'] or row['asset_id']}** · {row['asset_type']} · {row['tier']}")
            st.caption(models_line(row))
            st.caption(when_line(row))
            st.caption(quality_line(row))
            st.code(row["final_prompt"] or "", language=None, wrap_lines=True)
    only_differences = st.toggle("Only the fields that differ", value=True, key="gal_cmp_only")
    diff = provenance_diff(*provenances)
    if only_differences:
        diff = diff[diff["differs"]].drop(columns="differs")
    # a plain table: a handful of rows whose long values (prompts) should wrap, and whose text is on the page
    st.table(diff.rename(columns={"field": "Provenance field", "a": "Image A", "b": "Image B", "differs": "Differs"})
             .set_index("Provenance field"))

if st.session_state.get("gal_current"):  # open until dismissed: a full rerun (another tab's poll) keeps it
    lightbox(filters)
