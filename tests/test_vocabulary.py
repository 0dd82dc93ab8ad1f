"""The studio's words live in engine/vocabulary.py alone: no module keeps its own list of them."""
import ast
import re
from pathlib import Path

from engine import vocabulary as v

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = {
    "session status": set(v.SESSION_STATUSES),
    "item status": {*v.ITEM_OUTCOMES, *v.ITEM_OPEN},
    "job status": set(v.JOB_STATUSES),
    "approval status": set(v.APPROVAL_STATUSES),
    "stage": set(v.STAGES),
    "speed": set(v.SPEEDS),
    "provider": set(v.PROVIDERS),
    "control command": set(v.CONTROL_COMMANDS),
    "decision action": set(v.DECISION_ACTIONS),
    "competitor model": set(v.DEFAULT_COMPETITORS),
}
SQL_IN = re.compile(r"IN \(((?:'[a-z_]+'(?:, )?){3,})\)")


def sources():
    for folder in ("engine", "console"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name != "vocabulary.py":
                yield path
    yield ROOT / "app.py"


def word_lists(path: Path):
    """Every literal tuple, list or set of three or more strings, and every such SQL IN list. (Two words are a
    local condition, `in ("failed", "interrupted")`; a dict maps each word to a meaning of its own.)"""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(words) >= 3 and len(words) == len(node.elts):
                yield node.lineno, set(words)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in SQL_IN.finditer(node.value):
                yield node.lineno, set(re.findall(r"'([a-z_]+)'", match[1]))


def test_no_module_keeps_its_own_copy_of_a_vocabulary_list():
    copies = []
    for path in sources():
        for line, words in word_lists(path):
            for family, vocabulary in FAMILIES.items():
                if words <= vocabulary:
                    copies.append(f"{path.relative_to(ROOT)}:{line}: {family} list {sorted(words)}")
    assert not copies, "import these from engine.vocabulary instead:\n" + "\n".join(copies)


def test_the_check_finds_a_copy_when_there_is_one(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('SPEEDS = ("slow", "normal", "fast")\n'
                       'Q = "SELECT 1 WHERE status IN (\'queued\', \'running\', \'done\')"\n')
    found = [words for _, words in word_lists(planted)]
    assert {"slow", "normal", "fast"} in found and {"queued", "running", "done"} in found


def test_sql_list_quotes_each_word():
    assert v.sql_list(("a", "o'b")) == "('a', 'o''b')"
