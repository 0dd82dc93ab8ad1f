"""Live in detail (`/enhanced`, the old dashboard's detailed view): thumbnails, every item, stages and feed at once."""
from __future__ import annotations

import streamlit as st

from console._live_view import render
from console._shared import render_sidebar

render_sidebar()
st.title("Live in detail")
render(detailed=True)
