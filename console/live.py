"""Live (`/`): watch one session move through the pipeline, and steer it."""
from __future__ import annotations

import streamlit as st

from console._live_view import render
from console._shared import render_sidebar

render_sidebar()
st.title("Live")
render(detailed=False)
