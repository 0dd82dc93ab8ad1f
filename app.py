"""The operator console: `streamlit run app.py` (or `assetgen up`).

Builds the navigation over the page scripts in console/; the sidebar's operator
name is kept in session state and in the ``?operator=`` query parameter, so it
survives page switches and reloads. Queries and writes
live in engine/ and are tested without Streamlit.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this folder on sys.path (the pages import console._shared); AppTest may not.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

st.set_page_config(layout="wide", page_title="Asset Studio", page_icon=":material/palette:")

# The old dashboard's addresses keep working: `/` (Live), `/enhanced` (the detailed live view) and
# `/edit-master-prompt` (the template editor), so a bookmark from the old system lands in the right place.
PAGES = [
    st.Page("console/live.py", title="Live", icon=":material/monitoring:", default=True),
    st.Page("console/enhanced.py", title="Live in detail", icon=":material/view_timeline:", url_path="enhanced"),
    st.Page("console/competition.py", title="Competition", icon=":material/emoji_events:"),
    st.Page("console/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("console/approvals.py", title="Approvals", icon=":material/fact_check:"),
    st.Page("console/templates.py", title="Templates", icon=":material/edit_note:", url_path="edit-master-prompt"),
    st.Page("console/gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page("console/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("console/history.py", title="History", icon=":material/history:"),
    st.Page("console/events.py", title="Events", icon=":material/list_alt:"),
]

# The page scripts live in console/, not pages/: Streamlit treats a pages/ folder beside app.py as an
# old-style pages app until this navigation has run once, so a bookmark as a fresh server's first load got a
# "Page not found" modal over its page (streamlit/streamlit#9992; the folder's name is its own advice).
# Each page draws the sidebar itself (console/_shared.render_sidebar): AppTest reruns only the page script.
st.navigation(PAGES).run()
