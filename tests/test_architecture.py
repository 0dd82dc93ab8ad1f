"""The rooms' arrows run one way: import-linter's contracts (pyproject.toml) hold, and would catch a back-import."""
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
