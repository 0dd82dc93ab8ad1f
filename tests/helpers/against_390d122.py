"""Run this tree's browser tests of issue 12 against the console and engine of 390d122, the code before the fix.

    git worktree add /tmp/old12 390d122
    .venv/bin/python tests/helpers/against_390d122.py /tmp/old12
    cd /tmp/old12 && /path/to/this/tree/.venv/bin/python -m pytest tests/test_browser_points.py -rA

The first command is yours; this script copies the browser tests and their support files from this tree into
the old one's tests/ and gives its conftest.py a shim. pytest then runs from the old tree, so the engine daemon
and the console that start_studio launches (``python -m engine serve``, ``streamlit run app.py`` from that tree)
are the old code as it was. Only the tests' own plumbing is adapted, never an assertion:

- the modules a test imports to queue a job, decide, send a control, save a template version or read rows are
  the old tree's under their new names (390d122 had a flat engine/: engine.store, engine.console_actions, ...),
  and a job spec's new option names map to the old builder's (``approval`` -> ``approval_enabled``, test off);
- ``visit`` loads a renamed page by its old address (``/templates``, ``/live``) and types the operator's name
  into the sidebar, which the old console did not take from the URL.

The old tree's dependencies are a subset of this one's, so this tree's .venv runs it (the old engine package
shadows this tree's editable install, since pytest runs from the old tree's folder).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
COPIED = ("conftest.py", "browser_support.py", "helpers/waiting.py", "test_browser_e2e.py",
          "test_browser_console.py", "test_browser_points.py")

ALIASES = '''
# ---- against_390d122 (tests/helpers in the newer tree): the new names of the old modules the tests import ----
import sys as _sys
import types as _types

import engine.console_actions as _actions
import engine.queries_archive as _archive
import engine.runtime as _runtime
import engine.store as _store
import engine.template_body as _body
import engine.template_store as _tstore


def _build_job_spec(**spec):
    spec = dict(spec)
    if "approval" in spec:
        spec["approval_enabled"] = spec.pop("approval")
    spec.setdefault("test", False)
    return _actions.build_job_spec(**spec)


_console = _types.ModuleType("engine.intents.console")
_console.build_job_spec, _console.queue_job = _build_job_spec, _actions.queue_job
_console.decide, _console.send_control = _actions.decide, _actions.send_control
_brief = _types.ModuleType("engine.templates.brief")
_brief.default_template, _brief.save_template_version = _body.default_template, _tstore.save_template_version
_sys.modules.update({"engine.store.database": _store, "engine.process.runtime": _runtime,
                     "engine.intents.console": _console, "engine.read.archive": _archive,
                     "engine.templates.brief": _brief})
'''

VISIT = '''
# ---- against_390d122: old addresses, and the operator's name typed in (the old sidebar ignored ?operator=) ----
import test_browser_console as _tbc  # noqa: E402

_new_visit = _tbc.visit
_OLD_PATHS = {"edit-master-prompt": "templates", "enhanced": "live"}


def _old_visit(page, studio, path, *, operator=_tbc.OPERATOR, title=None, strict=False):
    if not getattr(page, "_warm", False):  # a page URL as the old server's first load ran pages/ bare (the sidebar
        page._warm = True                  # then lost the name); load / first, as a new server's first visitor would
        _new_visit(page, studio, "", operator=operator, title="Live", strict=False)
    _new_visit(page, studio, _OLD_PATHS.get(path, path), operator=operator, title=title, strict=strict)
    name = page.locator(".st-key-operator input")
    if name.count() and name.input_value() != operator:
        name.fill(operator)
        name.press("Enter")
        _tbc.wait_idle(page)


_tbc.visit = _old_visit
'''


def prepare(old_tree: Path) -> None:
    old_tests = old_tree / "tests"
    if not (old_tree / "engine" / "console_actions.py").exists():
        raise SystemExit(f"{old_tree} does not look like 390d122 (no engine/console_actions.py)")
    for name in COPIED:
        (old_tests / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TESTS / name, old_tests / name)
    conftest = (old_tests / "conftest.py").read_text()
    future = "from __future__ import annotations\n"
    head, rest = conftest.split(future, 1)
    (old_tests / "conftest.py").write_text(head + future + ALIASES + rest + VISIT)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    prepare(Path(sys.argv[1]).resolve())
    print(f"prepared {sys.argv[1]}: run pytest there with this tree's .venv")
