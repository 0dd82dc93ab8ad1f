"""Templates: the master prompt editor. Edit, preview on any catalog asset, save as a version, activate, diff.

The editor starts from a base version; each section is its own widget and the
body is rebuilt from them on every run, so the preview follows every edit.
Changing the base drops the edits (their widget keys are cleared).
"""
from __future__ import annotations

import copy
import json

import pandas as pd
import streamlit as st

from engine.intents.console import activate_template_version, ensure_templates, save_template
from console._shared import COMMENT_MAX_CHARS, guard, rerun_here, operator, render_sidebar, run_action, store

SECTION_KEYS = ("tpl_master", "tpl_tiers", "tpl_layers", "tpl_luxury", "tpl_style")

render_sidebar()
db = store()
st.title("Templates")
if "_tpl_done" in st.session_state:
    st.success(st.session_state.pop("_tpl_done"), icon=":material/check_circle:")

from engine.read.templates import (  # noqa: E402 (after the page header: errors show in the page)
    CatalogError, TemplateError, TemplateVersion, build_brief, diff_template_versions, load_catalog,
    list_template_versions, validate_template,
)

with guard():
    versions = list_template_versions(db)
    if not versions:  # a fresh database: write the built-in default once, not on every run
        ensure_templates(db)
        versions = list_template_versions(db)
active_version = next((v.version for v in versions if v.active), versions[0].version)
by_version = {v.version: v for v in versions}
numbers = [v.version for v in versions]


def _label(n: int) -> str:
    v = by_version[n]
    return f"v{n}{' (active)' if v.active else ''} · {v.author or '?'} · {v.comment or ''}"[:90]


def _forget_edits() -> None:
    for key in SECTION_KEYS:
        st.session_state.pop(key, None)


def _tiers_frame(body: dict) -> pd.DataFrame:
    return pd.DataFrame([{"tier": name, "rank": spec.get("rank"), "rule": spec.get("rule"),
                          "detail_level": spec.get("detail_level"), "guidance": spec.get("guidance"),
                          "luxury": bool(spec.get("luxury"))} for name, spec in body.get("tiers", {}).items()])


def _layers_frame(body: dict) -> pd.DataFrame:
    return pd.DataFrame([{"theme": theme, "elements": "; ".join(elements)}
                         for theme, elements in body.get("emotional_layers", {}).items()])


def _rebuild(base: dict, master: str, tiers: pd.DataFrame, layers: pd.DataFrame, luxury: str, style: str) -> dict:
    """The body the widgets describe; raises TemplateError on a section that cannot be read."""
    body = copy.deepcopy(base)
    body["master_prompt"] = master
    body["tiers"] = {
        str(r["tier"]).strip(): {"rank": int(r["rank"]) if pd.notna(r["rank"]) else None, "rule": r["rule"] or "",
                                 "detail_level": r["detail_level"] or "", "guidance": r["guidance"] or "",
                                 "luxury": bool(r["luxury"])}
        for r in tiers.to_dict("records") if str(r.get("tier") or "").strip()}
    body["emotional_layers"] = {
        str(r["theme"]).strip(): [e.strip() for e in str(r["elements"] or "").split(";") if e.strip()]
        for r in layers.to_dict("records") if str(r.get("theme") or "").strip()}
    body["luxury_indicators"] = [line.strip() for line in luxury.splitlines() if line.strip()]
    try:
        body["style"] = json.loads(style)
    except ValueError as exc:
        raise TemplateError(f"style elements: not valid JSON ({exc})") from None
    return validate_template(body)


edit_tab, versions_tab = st.tabs(["Edit & preview", "Versions & diff"])

with edit_tab:
    base_number = st.selectbox("Start from", numbers, index=numbers.index(active_version), format_func=_label,
                               key="tpl_base", on_change=_forget_edits)
    base = by_version[base_number].body
    editor, preview = st.columns([3, 2])
    with editor:
        master = st.text_area("Master prompt", base.get("master_prompt", ""), height=140, key="tpl_master",
                              help="Placeholders in {braces}: title, description, mood, tier_guidance, palette, …")
        st.markdown("**Tiers**")
        tiers = st.data_editor(_tiers_frame(base), key="tpl_tiers", num_rows="dynamic", hide_index=True,
                               width="stretch", column_config={
                                   "rank": st.column_config.NumberColumn("rank", step=1, min_value=0),
                                   "luxury": st.column_config.CheckboxColumn("luxury")})
        st.markdown("**Emotional layers** (elements separated by `;`)")
        layers = st.data_editor(_layers_frame(base), key="tpl_layers", num_rows="dynamic", hide_index=True,
                                width="stretch", column_config={
                                    "elements": st.column_config.TextColumn("elements", width="large")})
        luxury = st.text_area("Luxury indicators (one per line)", "\n".join(base.get("luxury_indicators", [])),
                              height=120, key="tpl_luxury")
        style = st.text_area("Style elements (JSON: palette, medium, line_weight, composition, avoid)",
                             json.dumps(base.get("style", {}), indent=2), height=220, key="tpl_style")
    body, problem = None, None
    try:
        body = _rebuild(base, master, tiers, layers, luxury, style)
    except TemplateError as exc:
        problem = str(exc)
    with preview:
        st.markdown("**Preview**")
        try:
            catalog = load_catalog()
        except CatalogError as exc:
            catalog = None
            st.error(str(exc))
        if problem:
            st.error(problem, icon=":material/error:")
        elif catalog is not None:
            assets = {a.id: a for a in catalog.assets}
            asset_id = st.selectbox("Catalog asset", list(assets), key="tpl_asset",
                                    format_func=lambda a: f"{assets[a].title} · {assets[a].type} · {assets[a].tier}")
            try:
                brief = build_brief(assets[asset_id], TemplateVersion(0, body, operator(), "preview", None))
            except (TemplateError, KeyError, ValueError) as exc:
                st.error(f"This body cannot render {asset_id}: {exc}")
            else:
                st.markdown(f"Tier **{brief.tier}** · {brief.elements_used} elements used · {len(brief.text)} chars")
                st.code(brief.text, language=None, wrap_lines=True)
                st.markdown("Required elements: " + ", ".join(f"`{e}`" for e in brief.required_elements))
        st.divider()
        comment = st.text_input("Comment", key="tpl_comment", placeholder="what this version changes",
                                max_chars=COMMENT_MAX_CHARS)
        activate = st.checkbox("Activate now", key="tpl_activate_now")
        changed = body is not None and body != base
        if st.button("Save as new version", key="tpl_save", type="primary", icon=":material/save:",
                     disabled=body is None):
            if not changed:
                st.warning(f"Nothing changed from v{base_number}.")
            else:
                saved = run_action(lambda: save_template(db, body, operator=operator(), comment=comment,
                                                         activate=activate),
                                   done=lambda v: f"Saved template v{v}" + (" and activated it" if activate else ""))
                if saved is not None:  # the pickers, Versions and Diff read the list above: show the new version now
                    st.session_state["_tpl_done"] = st.session_state["_last_action"]
                    st.rerun()



@st.fragment(run_every="3s")
def _versions() -> None:
    """Versions follow the database: one saved or activated elsewhere shows up within seconds."""
    with guard(retry=False):
        current = list_template_versions(db)
    numbers_now = [v.version for v in current]
    by_number = {v.version: v for v in current}

    def label(n: int) -> str:
        v = by_number[n]
        return f"v{n}{' (active)' if v.active else ''} · {v.author or '?'} · {v.comment or ''}"[:90]

    newest = max(current, key=lambda v: v.version)
    active = next((v.version for v in current if v.active), None)
    with st.container(key="tpl_versions_summary"):
        st.markdown(f"{len(current)} versions · newest **v{newest.version}** by {newest.author or '?'} · "
                    f"active **v{active}**")
    st.dataframe(pd.DataFrame([{"version": v.version, "active": v.active, "author": v.author, "comment": v.comment,
                                "created_at": v.created_at, "activated_by": v.activated_by,
                                "activated_at": v.activated_at} for v in current]), hide_index=True, width="stretch",
                 column_config={"comment": st.column_config.TextColumn(width="medium")})
    c = st.columns([2, 1])
    pick = c[0].selectbox("Version", numbers_now, format_func=label, key="tpl_activate_pick")
    if c[1].button("Activate", key="tpl_activate", icon=":material/published_with_changes:",
                   disabled=by_number[pick].active):
        run_action(lambda: activate_template_version(db, int(pick), operator=operator()),
                   done=lambda v: f"Template v{v} is active: sessions use it from their next item")
        rerun_here()
    st.subheader("Diff")
    c = st.columns(2)
    a = c[0].selectbox("From", numbers_now, index=min(1, len(numbers_now) - 1), format_func=label, key="tpl_diff_a")
    b = c[1].selectbox("To", numbers_now, index=0, format_func=label, key="tpl_diff_b")
    diff = diff_template_versions(by_number[a], by_number[b])
    if diff:
        st.code(diff, language="diff")
    else:
        st.caption("No difference.")


with versions_tab:
    _versions()
