"""Live (`/`): watch one session move through the pipeline, and steer it."""
from __future__ import annotations

import streamlit as st

from pages._live_view import render
from pages._shared import render_sidebar

render_sidebar()
st.title("Live")
render(detailed=False)
