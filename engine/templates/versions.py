"""Template versions in DuckDB: every saved edit of the body is a new row of ``template_versions``.

Exactly one row is active; sessions read the active version for each item they
start, so activating a version changes the briefs of the next items.
"""
from __future__ import annotations

import difflib
import json

from engine.store.database import Store
from engine.templates.body import TemplateError, TemplateVersion, load_default_template_body, validate_template
from engine.limits import row_problem

__all__ = [
    "ensure_default_template", "active_template", "save_template_version", "activate_template",
    "list_template_versions", "get_template_version", "diff_template_versions",
]

_COLUMNS = "version, body, author, comment, created_at, active, activated_by, activated_at"
_ACTIVATE = ("UPDATE template_versions SET active = (version = $v), "
             "activated_by = CASE WHEN version = $v THEN $by ELSE activated_by END, "
             "activated_at = CASE WHEN version = $v THEN now() ELSE activated_at END")


def _row_to_version(row: tuple) -> TemplateVersion:
    version, body, author, comment, created_at, active, activated_by, activated_at = row
    return TemplateVersion(int(version), json.loads(body) if isinstance(body, str) else body,
                           author, comment, created_at, bool(active), activated_by, activated_at)


def ensure_default_template(store: Store) -> int:
    """Insert the built-in body as version 1 (active) if there are no versions; return the active one.

    Safe to call from every process at start-up: the check and the insert share one
    write transaction, which holds the file lock.
    """
    with store.write() as con:
        (count,) = con.execute("SELECT count(*) FROM template_versions").fetchone()
        if count == 0:
            con.execute("INSERT INTO template_versions (version, body, author, comment, active) "
                        "VALUES (1, ?, 'built-in', 'default template (data/templates/default.json)', true)",
                        [json.dumps(load_default_template_body())])
            return 1
        active = con.execute("SELECT max(version) FROM template_versions WHERE active").fetchone()[0]
        if active is None:  # rows exist but none is active (edited by hand): the newest wins
            active = con.execute("SELECT max(version) FROM template_versions").fetchone()[0]
            con.execute("UPDATE template_versions SET active = (version = ?)", [active])
        return int(active)


def active_template(store: Store) -> TemplateVersion:
    """The active version, creating the default first on an empty table."""
    rows = store.query(f"SELECT {_COLUMNS} FROM template_versions WHERE active ORDER BY version DESC LIMIT 1")
    if rows:
        return _row_to_version(rows[0])
    return get_template_version(store, ensure_default_template(store))


def save_template_version(
    store: Store,
    body: dict,
    *,
    author: str | None = None,
    comment: str | None = None,
    activate: bool = False,
    assets=None,
) -> int:
    """Validate ``body`` and store it as the next version; returns the new version number.

    The body is rendered for every asset of ``assets`` (default: the default catalog's), so a
    brief over MAX_BRIEF_CHARS is refused now, naming the asset, rather than paid for later.
    """
    validate_template(body)
    too_big = row_problem({"author": author, "comment": comment})
    if too_big:
        raise TemplateError(too_big)
    from engine.templates.brief import check_brief_sizes  # noqa: PLC0415 (templates imports this module)

    if assets is None:
        from engine.templates.catalog import load_catalog  # noqa: PLC0415

        assets = load_catalog().assets
    check_brief_sizes(body, assets)
    payload = json.dumps(body, ensure_ascii=False)
    with store.write() as con:
        (version,) = con.execute("SELECT coalesce(max(version), 0) + 1 FROM template_versions").fetchone()
        con.execute("INSERT INTO template_versions (version, body, author, comment, active) VALUES (?, ?, ?, ?, false)",
                    [version, payload, author, comment])
        if activate:
            con.execute(_ACTIVATE, {"v": version, "by": author})
    return int(version)


def activate_template(store: Store, version: int, *, activated_by: str | None = None) -> None:
    """Make ``version`` the one new briefs use (sessions pick it up for their next item); records who did it."""
    with store.write() as con:
        known = [r[0] for r in con.execute("SELECT version FROM template_versions ORDER BY version").fetchall()]
        if version not in known:
            raise TemplateError(f"no template version {version}; known versions: "
                                f"{', '.join(map(str, known)) or 'none (run ensure_default_template first)'}")
        con.execute(_ACTIVATE, {"v": version, "by": activated_by})


def list_template_versions(store: Store) -> list[TemplateVersion]:
    """Every version, newest first."""
    rows = store.query(f"SELECT {_COLUMNS} FROM template_versions ORDER BY version DESC")
    return [_row_to_version(r) for r in rows]


def get_template_version(store: Store, version: int) -> TemplateVersion:
    rows = store.query(f"SELECT {_COLUMNS} FROM template_versions WHERE version = ?", [version])
    if not rows:
        known = [r[0] for r in store.query("SELECT version FROM template_versions ORDER BY version")]
        raise TemplateError(f"no template version {version}; known versions: {', '.join(map(str, known)) or 'none'}")
    return _row_to_version(rows[0])


def diff_template_versions(a_body: dict | TemplateVersion, b_body: dict | TemplateVersion,
                           *, a_label: str | None = None, b_label: str | None = None) -> str:
    """Unified diff of the two bodies as pretty JSON (keys sorted, so reordering is no change)."""
    def text_and_label(item, label, fallback):
        if isinstance(item, TemplateVersion):
            return json.dumps(item.body, indent=2, sort_keys=True, ensure_ascii=False), label or f"v{item.version}"
        return json.dumps(item, indent=2, sort_keys=True, ensure_ascii=False), label or fallback

    a_text, a_name = text_and_label(a_body, a_label, "a")
    b_text, b_name = text_and_label(b_body, b_label, "b")
    return "".join(difflib.unified_diff(a_text.splitlines(keepends=True), b_text.splitlines(keepends=True),
                                        fromfile=a_name, tofile=b_name))
