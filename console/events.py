"""Events: explore the event log by type, session, item and seq range; download what you see."""
from __future__ import annotations

import streamlit as st

from engine.read import sessions as q
from engine.read.archive import event_types, events_explorer, frame_to_csv, frame_to_parquet
from console._shared import guard, render_sidebar, store

ALL = "All sessions"

render_sidebar()
db = store()
st.title("Events")

with guard():
    types_known = event_types(db)
    sessions = q.live_sessions(db)

c = st.columns([2, 2, 2])
types = c[0].multiselect("Types", types_known, key="ev_types")
session = c[1].selectbox("Session", [ALL, *sessions["session_id"]], key="ev_session")
item = c[2].text_input("Item contains", key="ev_item", placeholder="e.g. icon-will")
c = st.columns([1, 1, 1, 3])
seq_from = c[0].number_input("From seq", min_value=0, value=0, step=100, key="ev_seq_from")
seq_to = c[1].number_input("To seq (0 = newest)", min_value=0, value=0, step=100, key="ev_seq_to")
limit = c[2].number_input("Rows", min_value=10, max_value=100_000, value=500, step=100, key="ev_limit")

with guard():
    frame = events_explorer(db, types=types, session_id=None if session == ALL else session,
                            item_id=item.strip() or None, seq_from=int(seq_from) or None,
                            seq_to=int(seq_to) or None, limit=int(limit))

st.caption(f"{len(frame)} events shown, newest first" + (" (limit reached: narrow the filters or raise Rows)"
                                                         if len(frame) >= limit else ""))
st.dataframe(frame, hide_index=True, width="stretch", height=520,
             column_config={"payload": st.column_config.TextColumn("payload", width="large"),
                            # many events share a second: without milliseconds their order is unreadable
                            "ts": st.column_config.DatetimeColumn("ts", format="YYYY-MM-DD HH:mm:ss.SSS"),
                            "item_id": st.column_config.TextColumn("item_id", width="medium")})
d = st.columns([1, 1, 4])
d[0].download_button("Download CSV", frame_to_csv(frame), file_name="events.csv", mime="text/csv",
                     key="ev_csv", icon=":material/download:", disabled=frame.empty)
d[1].download_button("Download Parquet", frame_to_parquet(frame), file_name="events.parquet",
                     mime="application/vnd.apache.parquet", key="ev_parquet", icon=":material/download:",
                     disabled=frame.empty)
