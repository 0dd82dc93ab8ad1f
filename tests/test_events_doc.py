"""docs/events.md documents every event type once, with exactly its payload fields."""
import re
from pathlib import Path

from engine.events import EVENT_TYPES, payload_fields

DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"
SEED_CATALOG = [
    "generation_start", "generation_complete", "pipeline_stage_update", "progress_update", "cost_update",
    "control_flag_change", "model_competition_start", "prompt_generated", "model_winner_selected",
    "openrouter_api_call", "openrouter_cost", "model_decision", "prompt_template_start",
    "prompt_tier_selected", "adding_emotional_layer", "template_building", "style_elements_applied",
    "luxury_indicators_applied", "prompt_template_complete", "approval_request", "approve_batch",
    "reject_batch", "modify_batch", "approve_items", "threshold_approval_request", "approval_timeout",
    "batch_progress",
]


def documented() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^### `([a-z_0-9]+)`\s*$", line)
        if heading:
            assert heading[1] not in sections, f"{heading[1]} documented twice"
            current = heading[1]
            sections[current] = []
            continue
        if line.startswith("## "):
            current = None
        field = re.match(r"^\| `([a-z_0-9]+)` \|", line)
        if current and field:
            sections[current].append(field[1])
    return sections


def test_every_event_type_is_documented_with_its_payload_fields():
    docs = documented()
    assert sorted(docs) == sorted(EVENT_TYPES)
    for name, cls in EVENT_TYPES.items():
        assert docs[name] == list(payload_fields(cls)), f"docs/events.md disagrees with engine/events.py on {name}"


def test_seed_catalog_is_complete_and_spelled_as_in_the_seed():
    assert len(SEED_CATALOG) == 27
    missing = [name for name in SEED_CATALOG if name not in EVENT_TYPES]
    assert not missing


def test_lifecycle_events_exist():
    for name in ("item_started", "item_finished", "image_saved", "api_retry", "api_error"):
        assert name in EVENT_TYPES
