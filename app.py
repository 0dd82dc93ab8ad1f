"""The operator console: `streamlit run app.py` (or `assetgen up`).

Builds the navigation over the page scripts in pages/; the sidebar's operator
name is kept in session state and in the ``?operator=`` query parameter, so it
survives page switches and reloads. Queries and writes
live in engine/ and are tested without Streamlit.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this folder on sys.path (pages import pages._shared); AppTest may not.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

st.set_page_config(layout="wide", page_title="Asset Studio", page_icon=":material/palette:")

# The old dashboard's addresses keep working: `/` (Live), `/enhanced` (the detailed live view) and
# `/edit-master-prompt` (the template editor), so a bookmark from the old system lands in the right place.
PAGES = [
    st.Page("pages/live.py", title="Live", icon=":material/monitoring:", default=True),
    st.Page("pages/enhanced.py", title="Live in detail", icon=":material/view_timeline:", url_path="enhanced"),
    st.Page("pages/competition.py", title="Competition", icon=":material/emoji_events:"),
    st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("pages/approvals.py", title="Approvals", icon=":material/fact_check:"),
    st.Page("pages/templates.py", title="Templates", icon=":material/edit_note:", url_path="edit-master-prompt"),
    st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page("pages/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/events.py", title="Events", icon=":material/list_alt:"),
]

st.session_state["_via_app"] = True  # pages/_shared: this session's pages run through the navigation below
# Each page draws the sidebar itself (pages/_shared.render_sidebar): AppTest reruns only the page script.
st.navigation(PAGES).run()
