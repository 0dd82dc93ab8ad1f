"""What every console page shares: the store, the live feed, the operator, colours and guards.

Pages stay thin: they arrange widgets around engine/queries*.py and
engine/console_actions.py. This module is the only page-layer code that holds
process-wide objects (``st.cache_resource``), and those are thread-safe.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from typing import Any, Callable, Iterator

import altair as alt
import pandas as pd
import streamlit as st

from engine.intents.requests import CommandError
from engine.limits import MAX_COMMENT_CHARS as COMMENT_MAX_CHARS, MAX_NAME_CHARS as OPERATOR_MAX_CHARS
from engine.config import Settings, load_settings
from engine.live.feed import Feed, Store, StoreBusy
from engine.live.progress import format_duration
from engine.read.sessions import engine_status
from engine.read.alerts import approval_alerts
from engine.read.console import approval_inbox

__all__ = [
    "STAGE_COLORS", "TOTAL_SERIES", "settings", "store", "feed", "operator", "render_sidebar", "guard", "run_action",
    "engine_banner", "model_color", "color_scale", "money", "simulated_badge", "fmt_duration", "short_model",
    "clip", "OPERATOR_MAX_CHARS", "COMMENT_MAX_CHARS", "SHORTCUTS", "expiry_text", "inbox_banner", "rerun_here",
]

# Keyboard shortcuts of the buttons that matter most; each page shows the ones it has.
SHORTCUTS = {"approve": "Alt+A", "reject": "Alt+J", "pause": "Alt+P", "resume": "Alt+U"}
INBOX_REFRESH = "3s"

# The console's lock wait: short, so a page never hangs; the guard says "busy" and retries.
# ASSETGEN_CONSOLE_LOCK_TIMEOUT overrides it (tests use a fraction of a second).
CONSOLE_LOCK_TIMEOUT_S = 3.0
BUSY_RETRIES = 10

STAGE_COLORS = {
    "discovery": "#5B8FF9", "prompt": "#9270CA", "model": "#F6BD16", "approval": "#E8684A",
    "image": "#5AD8A6", "save": "#269A99", "done": "#7F8C8D", "pending": "#C0C4CC",
}
TOTAL_SERIES, TOTAL_COLOR = "(total)", "#2B2B2B"
_MODEL_PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948", "#B07AA1", "#FF9DA7",
                  "#9C755F", "#BAB0AC")


def settings() -> Settings:
    """Read per run, not cached: tests point the app at a tmp database through the environment."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _store(db_path: str, lock_timeout: float) -> Store:
    return Store(db_path, lock_timeout=lock_timeout)


@st.cache_resource(show_spinner=False)
def _feed(db_path: str, lock_timeout: float) -> Feed:
    return Feed(_store(db_path, lock_timeout))


def _lock_timeout() -> float:
    return float(os.environ.get("ASSETGEN_CONSOLE_LOCK_TIMEOUT") or CONSOLE_LOCK_TIMEOUT_S)


def store() -> Store:
    """One Store per database per console process (it serialises its own transactions)."""
    return _store(str(settings().db_path), _lock_timeout())


def feed() -> Feed:
    """The process-wide live feed: every tab's live panel reads this one tail of the event log."""
    return _feed(str(settings().db_path), _lock_timeout())


def operator() -> str:
    return (st.session_state.get("operator") or "").strip()


def _keep_operator() -> None:
    st.session_state["_operator"] = st.session_state.get("operator", "")


def render_sidebar() -> None:
    """Each page calls this first: the operator's name and the approval inbox.

    Streamlit scopes a widget to the page that draws it and drops its value when another page runs
    (seen in a real browser: the name vanished on the second page switch). So the name lives in a
    plain session key, copied there by on_change (callbacks run before the script), and that key
    seeds the widget on every run of every page. It is also bound to the ``?operator=`` query
    parameter, so a reload (a new session) keeps it without a cookie.
    """
    if "_operator" in st.session_state:
        st.session_state["operator"] = st.session_state["_operator"]
    with st.sidebar:
        st.text_input("Operator", key="operator", placeholder="your name", on_change=_keep_operator,
                      max_chars=OPERATOR_MAX_CHARS, bind="query-params",
                      help="Recorded on every control, decision, job and template version you write.")
        if not operator():
            st.caption(":orange[Enter your name to steer sessions and approve batches.]")
        _inbox_badge()
        _notification_opt_in()
        cfg = settings()
        st.caption(f"Database `{cfg.db_path}`")


def expiry_text(seconds_left: float | None) -> str:
    if seconds_left is None or pd.isna(seconds_left):
        return "no expiry"
    return f"expires in {fmt_duration(seconds_left)}" if seconds_left > 0 else f"expired {fmt_duration(-seconds_left)} ago"


@st.fragment(run_every=INBOX_REFRESH)
def _inbox_badge() -> None:
    """The approval inbox on every page: how many requests wait, and the soonest expiry (auto-approve runs then)."""
    try:
        inbox = approval_inbox(store())
        if inbox["waiting"]:
            _notify_new_approvals(store())
    except StoreBusy:  # never stop the page for the badge: its own timer tries again
        st.caption(":material/hourglass_top: Approval inbox: database busy")
        return
    if not inbox["waiting"]:
        st.caption(":material/inbox: No approvals waiting")
        return
    left = inbox["soonest_seconds_left"]
    colour = "red" if left is not None and left < 60 else "orange"
    st.page_link("console/approvals.py", icon=":material/notifications_active:",
                 label=f":{colour}-badge[{inbox['waiting']}] waiting for approval", query_params={"batch": inbox["batch_id"]})
    st.caption(f":{colour}[Soonest {expiry_text(left)}] · {inbox['items']} items")


# Browser notifications (issue 12's inbox): the permission is asked on the operator's own click (browsers
# refuse a prompt without one), and each approval request is announced once per batch id. The server sends
# the waiting requests to the browser when that set changes; the browser remembers what it showed
# (localStorage) across tabs and reloads, and the OS notification's tag is the batch id, so a race shows one.
# Granting the permission announces what is waiting at that moment.
_NOTIFY_FN = """
window.assetgenNotify = window.assetgenNotify || ((alerts) => {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  for (const alert of alerts) {
    const key = "assetgen-notified:" + alert.batch_id;
    try { if (localStorage.getItem(key)) continue; localStorage.setItem(key, String(Date.now())); } catch (e) {}
    const shown = new Notification(alert.title, {body: alert.body, tag: "assetgen-" + alert.batch_id});
    shown.onclick = () => { window.focus(); window.location.href = alert.url; shown.close(); };
  }
});"""
_NOTIFY_OPT_IN = """
<div class="assetgen-notify" style="display:none;font-size:0.85rem">
  <button type="button" style="border:1px solid rgba(128,128,128,.5);border-radius:6px;padding:2px 8px;
    background:transparent;color:inherit;cursor:pointer">Notify me of approvals</button>
  <span></span>
</div>
<script>%s
(() => {
  for (const box of document.querySelectorAll(".assetgen-notify:not([data-wired])")) {
    box.dataset.wired = "1";
    const note = box.querySelector("span");
    const show = () => {
      if (!("Notification" in window)) { box.style.display = "none"; return; }
      box.style.display = Notification.permission === "granted" ? "none" : "block";
      note.textContent = Notification.permission === "denied" ? " blocked in this browser's site settings" : "";
    };
    box.querySelector("button").addEventListener("click", () => Notification.requestPermission().then(() => {
      show();
      window.assetgenNotify(window.assetgenWaiting || []);
    }));
    show();
  }
})();
</script>""" % _NOTIFY_FN
_NOTIFY = "<script>" + _NOTIFY_FN + """
window.assetgenWaiting = %s;
window.assetgenNotify(window.assetgenWaiting);
</script>"""


def _notification_opt_in() -> None:
    """A small button that asks for the browser's permission to notify (hidden once granted or unsupported)."""
    st.html(_NOTIFY_OPT_IN, unsafe_allow_javascript=True)


def _notify_new_approvals(db: Store) -> None:
    """Hand the waiting approval requests to the browser's Notification API when they change (one arrived)."""
    alerts = approval_alerts(db)
    waiting = frozenset(a["batch_id"] for a in alerts)
    if not waiting - st.session_state.get("_notified_batches", frozenset()):
        st.session_state["_notified_batches"] = waiting  # one left: nothing new to announce
        return
    st.session_state["_notified_batches"] = waiting
    st.html(_NOTIFY % json.dumps(alerts).replace("</", "<\\/"), unsafe_allow_javascript=True)


def inbox_banner() -> None:
    """A banner that names the soonest batch waiting for approval and links to it (drawn inside a fragment)."""
    inbox = approval_inbox(store())
    if not inbox["waiting"]:
        return
    text = (f"**{inbox['waiting']} approval request(s) waiting** ({inbox['items']} items) · batch "
            f"`{inbox['batch_id']}` of `{inbox['session_id']}` {expiry_text(inbox['soonest_seconds_left'])}")
    with st.container(border=True, key="inbox_banner"):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(f":material/notifications_active: {text}")
        right.page_link("console/approvals.py", label="Review", icon=":material/fact_check:",
                        query_params={"batch": inbox["batch_id"]})


@contextlib.contextmanager
def guard(*, retry: bool = True) -> Iterator[None]:
    """Turn a busy database into a message and a retry instead of a traceback.

    ``retry=False`` inside fragments: their own timer is the retry.
    """
    try:
        yield
    except StoreBusy as exc:
        attempts = st.session_state.get("_busy_attempts", 0) + 1
        st.session_state["_busy_attempts"] = attempts
        st.session_state["_busy_seen"] = st.session_state.get("_busy_seen", 0) + 1  # for tests and curiosity
        st.warning(f"The database is busy, retrying… ({exc})", icon=":material/hourglass_top:")
        if retry and attempts <= BUSY_RETRIES:
            time.sleep(1.0)
            st.rerun()
        st.button("Retry now", key=f"busy_retry_{attempts}")
        st.stop()
    else:
        st.session_state["_busy_attempts"] = 0


def run_action(action: Callable[[], Any], *, done: Callable[[Any], str]) -> Any:
    """Run one console write; show what happened (or what to fix) and return its result, or None."""
    try:
        result = action()
    except CommandError as exc:
        st.error(str(exc), icon=":material/block:")
        return None
    except StoreBusy as exc:
        st.warning(f"Not written: the database stayed busy. Try again. ({exc})", icon=":material/hourglass_top:")
        return None
    message = done(result)
    st.session_state["_last_action"] = message
    st.toast(message, icon=":material/check_circle:")
    return result


def rerun_here() -> None:
    """Rerun the fragment that drew the clicked button, or the whole page when this run is a full one
    (a fragment's own widgets rerun only it; a page load or AppTest runs everything)."""
    from streamlit.errors import StreamlitInvalidLayoutContextError  # noqa: PLC0415

    try:
        st.rerun(scope="fragment")
    except StreamlitInvalidLayoutContextError:
        st.rerun()


def engine_banner(db: Store) -> dict:
    """Say how to start an engine when none is running; returns the status."""
    status = engine_status(db, settings().engine_lock_path)
    if not status["running"]:
        st.info("No engine is running, so nothing will be applied. Start one with `assetgen serve` "
                "(the daemon that runs queued jobs) or `assetgen up` (engine and console together).",
                icon=":material/power_off:")
    return status


def model_color(model: str) -> str:
    """A model keeps its colour on every page and across runs (hash of its name, not its rank)."""
    if model == TOTAL_SERIES:  # the Costs chart's sum line must not share a model's colour
        return TOTAL_COLOR
    digest = hashlib.sha1(model.encode()).digest()
    return _MODEL_PALETTE[digest[0] % len(_MODEL_PALETTE)]


def color_scale(values, *, kind: str = "model") -> alt.Scale:
    present = {str(v) for v in values if v is not None and not pd.isna(v)}
    # stages keep pipeline order in legends; models sort by name
    domain = [s for s in STAGE_COLORS if s in present] if kind == "stage" else sorted(present)
    colors = [STAGE_COLORS.get(v, "#999999") if kind == "stage" else model_color(v) for v in domain]
    return alt.Scale(domain=domain, range=colors)


def short_model(model: str | None) -> str:
    return (model or "—").split("/")[-1]


def clip(text: str | None, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis (a mid-word cut reads as a bug)."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return f"{cut}…"


def money(value: float | None, *, simulated: bool = False, digits: int = 4) -> str:
    if value is None or pd.isna(value):
        return "—"
    text = f"${value:,.{digits}f}"
    return f"{text} (SIMULATED)" if simulated else text


def simulated_badge(simulated: bool) -> str:
    """Markdown for the mark every simulated cost carries."""
    return ":orange-badge[:material/science: SIMULATED]" if simulated else ":green-badge[:material/paid: REAL]"


def fmt_duration(seconds: float | None) -> str:
    return format_duration(seconds, unknown="—")
