"""The rooms' arrows run one way: import-linter's contracts (pyproject.toml) hold, and would catch a back-import."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    command = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run([command], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_architecture_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and result.stdout.count("KEPT") >= 3


@pytest.mark.slow
def test_a_back_import_breaks_the_layers(tmp_path):
    """A copy of the tree where the store imports the session: the layers contract must fail and name it."""
    copy = tmp_path / "tree"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv*", "data", "test-artifacts", "__pycache__"))
    (copy / "data").mkdir()
    offender = copy / "engine" / "store" / "database.py"
    offender.write_text(offender.read_text() + "\nfrom engine.session import run as _back  # noqa: E402,F401\n")
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); "
                             "from importlinter.cli import lint_imports_command; lint_imports_command()"],
                            cwd=copy, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "engine.store is not allowed to import engine.session" in result.stdout


def _walks() -> dict[str, list[str]]:
    """The numbered steps of each walk in docs/architecture.md (continuation lines joined), by heading."""
    walks: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        if line.startswith("### One "):
            current = walks.setdefault(line, [])
        elif line.startswith("#"):
            current = None
        elif current is not None and re.match(r"\d+\. `", line):
            current.append(line)
        elif current is not None and current and line.startswith("   "):
            current[-1] += " " + line.strip()
    return walks


def test_each_documented_walk_has_at_most_six_stations_each_naming_a_function_of_its_module():
    walks = _walks()
    assert len(walks) == 2, list(walks)
    for heading, steps in walks.items():
        modules = [re.match(r"\d+\. `([^`]+)`", step).group(1) for step in steps]
        assert len(set(modules)) == len(modules) <= 6, (heading, modules)
        for module, step in zip(modules, steps):
            named = re.search(r" — [^`]*`(\w+)(?:\.(\w+))?", step)
            assert named, f"step names no function first: {step}"
            defined = named.group(2) or named.group(1)
            assert re.search(rf"^\s*(?:async )?(?:def|class) {defined}\b", (ROOT / module).read_text(), re.M), \
                f"{module} defines no {defined} (docs/architecture.md: {heading})"
