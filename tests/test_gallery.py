"""The Gallery's read model (engine/read/gallery.py) on real DuckDB files, and the page under AppTest.

The studio is built from real events (console_fixtures.Emitter -> Projector -> Ticker): two sessions
with different image models, template versions and winning prompt models, scored images, a failed
item and a skipped one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from console_fixtures import Emitter, write_png
from engine import events as ev
from engine.read import gallery as g
from engine.store.database import Store

APP = Path(__file__).resolve().parent.parent / "app.py"
OLD, NEW = "s-gal-old", "s-gal-new"
CLAUDE, GPT = "anthropic/claude-sonnet-4.5", "openai/gpt-5-mini"
GEMINI_IMAGE, GPT_IMAGE = "google/gemini-2.5-flash-image", "openai/gpt-image-1"
# (asset, type, tier, outcome, winning prompt model, quality verdict or None)
OLD_ITEMS = [("icon-will", "icon", "core", "saved", CLAUDE, "passed"),
             ("icon-trust", "icon", "premium", "saved", GPT, "failed"),
             ("icon-heir", "icon", "core", "failed", CLAUDE, None)]
NEW_ITEMS = [("hero-family", "hero", "luxury", "saved", GPT, None),
             ("hero-home", "hero", "core", "saved", CLAUDE, "passed"),
             ("hero-vault", "hero", "core", "skipped", None, None)]


@dataclass
class GalleryStudio:
    db_path: Path
    data_dir: Path
    images: dict[str, Path] = field(default_factory=dict)


def _session(em: Emitter, data_dir: Path, session_id: str, items, *, image_model: str, template_version: int,
             images: dict) -> None:
    em.emit(ev.GenerationStart(
        session_id=session_id, total=len(items), provider="standin", speed="normal", concurrency=2, budget_usd=1.0,
        catalog="data/catalogs/estate_planning_v4.toml", simulated=True,
        items=[{"item_id": f"{session_id}:{a}", "asset_id": a, "asset_type": t, "tier": tier, "title": a.title()}
               for a, t, tier, *_ in items],
        params={"image_model": image_model, "template_version": template_version}))
    for n, (asset, kind, tier, outcome, prompt_model, verdict) in enumerate(items):
        item_id = f"{session_id}:{asset}"
        em.emit(ev.ItemStarted(session_id=session_id, item_id=item_id, asset_id=asset, asset_type=kind, tier=tier,
                               title=asset.title()), after_s=30)
        if prompt_model is None:  # skipped before its prompt was written
            em.emit(ev.ItemFinished(session_id=session_id, item_id=item_id, outcome=outcome, reason="operator skip",
                                    cost_usd=0.0))
            continue
        em.emit(ev.PromptTemplateStart(session_id=session_id, item_id=item_id, asset_id=asset, asset_type=kind,
                                       template_version=template_version))
        prompt = f"{prompt_model.split('/')[1]}: a calm heirloom {asset}, v{template_version}"
        em.emit(ev.ModelWinnerSelected(session_id=session_id, item_id=item_id, model=prompt_model, prompt=prompt,
                                       score=0.8, confidence=0.8))
        em.emit(ev.OpenrouterApiCall(session_id=session_id, item_id=item_id, call_id=f"{item_id}-img",
                                     purpose="image", model=image_model, attempt=1, estimated_cost_usd=0.04))
        if outcome != "saved":
            em.emit(ev.ItemFinished(session_id=session_id, item_id=item_id, outcome=outcome,
                                    reason="image model refused", cost_usd=0.002))
            continue
        path = write_png(data_dir / "assets" / session_id / f"{asset}.png",
                         {"session_id": session_id, "item_id": item_id, "prompt": prompt, "winner_model": prompt_model,
                          "image_model": image_model, "template_version": template_version, "seed": 7 + n,
                          "costs": {"total_usd": 0.041, "image_usd": 0.039}},
                         colour=(40 * n, 90, 160))
        images[item_id] = path
        em.emit(ev.ImageSaved(session_id=session_id, item_id=item_id, path=str(path), width=32, height=32,
                              bytes=path.stat().st_size, model=image_model, seed=7 + n, sha256="0" * 64))
        if verdict is not None:
            em.emit(ev.QualityScored(
                session_id=session_id, item_id=item_id, attempt=1, image_path=str(path), asset_id=asset,
                asset_type=kind, verdict=verdict, failing=[] if verdict == "passed" else ["palette"],
                checks=[{"name": "palette", "value": 0.9 if verdict == "passed" else 0.2, "threshold": 0.6,
                         "op": ">=", "passed": verdict == "passed"}],
                judges=[{"model": CLAUDE, "scores": {"brand": {"score": 4, "reason": "on brand"}}, "mean": 4.0,
                         "passed": True}],
                phash="0" * 16, template_version=template_version))
        em.emit(ev.ItemFinished(session_id=session_id, item_id=item_id, outcome="saved", reason="", cost_usd=0.041,
                                image_path=str(path)))
    em.emit(ev.GenerationComplete(session_id=session_id, outcome="completed_with_failures", counts={}, cost_usd=0.2,
                                  duration_s=300.0))


def build_gallery_db(tmp_path: Path) -> GalleryStudio:
    """Two finished sessions: OLD (template v1, Gemini image) then NEW (template v2, GPT image)."""
    data_dir = tmp_path / "data"
    studio = GalleryStudio(db_path=data_dir / "studio.duckdb", data_dir=data_dir)
    store = Store(studio.db_path)
    em = Emitter(store)
    em.at(datetime.now(timezone.utc) - timedelta(hours=3))
    _session(em, data_dir, OLD, OLD_ITEMS, image_model=GEMINI_IMAGE, template_version=1, images=studio.images)
    em.at(datetime.now(timezone.utc) - timedelta(hours=1))
    _session(em, data_dir, NEW, NEW_ITEMS, image_model=GPT_IMAGE, template_version=2, images=studio.images)
    em.flush()
    store.close()
    return studio


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> GalleryStudio:
    return build_gallery_db(tmp_path_factory.mktemp("gallery"))


@pytest.fixture
def store(studio):
    s = Store(studio.db_path)
    yield s
    s.close()


def ids(frame) -> list[str]:
    return [i.split(":")[1] for i in frame["item_id"]]


# -- cards and filters ---------------------------------------------------------------------------------
def test_cards_are_newest_first_and_carry_version_both_models_session_date_and_quality(store):
    page = g.gallery_page(store, g.GalleryFilter(statuses=g.DEFAULT_STATUSES))
    assert ids(page.items) == ["hero-home", "hero-family", "icon-trust", "icon-will"]
    card = page.items.set_index("item_id").loc[f"{NEW}:hero-family"]
    assert (card["template_version"], card["winner_model"], card["image_model"], card["session_id"]) == (
        2, GPT, GPT_IMAGE, NEW)
    assert card["finished_at"] is not None and not card["scored"]
    trust = page.items.set_index("item_id").loc[f"{OLD}:icon-trust"]
    assert (bool(trust["quality_passed"]), trust["quality_failing"], trust["judge_mean"]) == (False, "palette", 4.0)


def test_each_filter_narrows_the_cards(store):
    cases = {
        "prompt_models": ([CLAUDE], ["hero-home", "icon-heir", "icon-will"]),
        "image_models": ([GEMINI_IMAGE], ["icon-heir", "icon-trust", "icon-will"]),
        "template_versions": ([2], ["hero-home", "hero-family"]),
        "tiers": (["luxury"], ["hero-family"]),
        "statuses": (["failed", "skipped"], ["hero-vault", "icon-heir"]),
        "qualities": (["review"], ["icon-trust"]),
        "session_ids": ([OLD], ["icon-heir", "icon-trust", "icon-will"]),
        "asset_types": (["hero"], ["hero-vault", "hero-home", "hero-family"]),
    }
    for name, (values, expected) in cases.items():
        assert sorted(ids(g.gallery_page(store, g.GalleryFilter(**{name: values})).items)) == sorted(expected), name
    both = g.GalleryFilter(prompt_models=[GPT], image_models=[GPT_IMAGE])
    assert ids(g.gallery_page(store, both).items) == ["hero-family"]


def test_filters_are_combined_with_images_only_and_unknown_status_is_refused(store):
    assert len(g.gallery_page(store, g.GalleryFilter(with_image=True)).items) == 4
    assert ids(g.gallery_page(store, g.GalleryFilter(qualities=[g.UNSCORED], with_image=True)).items) == ["hero-family"]
    with pytest.raises(ValueError, match="unknown item status 'done'.*saved"):
        g.GalleryFilter(statuses=["done"])
    with pytest.raises(ValueError, match="whole numbers"):
        g.GalleryFilter(template_versions=["v2"])


def test_choices_come_from_the_data_in_vocabulary_order_and_newest_session_first(store):
    choices = g.gallery_choices(store)
    assert choices["sessions"] == [NEW, OLD]
    assert choices["statuses"] == ["saved", "skipped", "failed"]
    assert choices["prompt_models"] == [CLAUDE, GPT]
    assert choices["image_models"] == [GEMINI_IMAGE, GPT_IMAGE]
    assert choices["template_versions"] == [1, 2]
    assert set(choices["qualities"]) == {"passed", "review", g.UNSCORED}
    assert choices["types"] == ["hero", "icon"] and choices["tiers"] == ["core", "luxury", "premium"]


def test_choices_and_pages_stay_bounded_on_a_big_items_table(tmp_path):
    """300 sessions of 40 items: each choice list stops at its limit; a page holds page_size cards."""
    store = Store(tmp_path / "big.duckdb")
    store.migrate()
    store.execute(
        "INSERT INTO items (session_id, item_id, asset_id, asset_type, tier, status, winner_model, image_path, "
        "template_version, finished_at) SELECT 's-' || (n // 40), 's-' || (n // 40) || ':a-' || n, 'a-' || n, "
        "'icon', 'core', 'saved', 'm/model-' || (n % 250), 'x.png', n % 7, now() - to_seconds(n) "
        "FROM range(12000) t(n)")
    choices = g.gallery_choices(store, limit=50)
    assert len(choices["sessions"]) == 50 and choices["sessions"][0] == "s-0"  # the newest session first
    assert len(choices["prompt_models"]) == 50 and choices["template_versions"] == list(range(7))
    page = g.gallery_page(store, page=3, page_size=100)
    assert (len(page.items), page.total, page.pages, page.first, page.last) == (100, 12000, 120, 201, 300)
    assert page.items["item_id"].iloc[0] == "s-5:a-200"
    assert g.gallery_page(store, page=999, page_size=100).page == 120  # past the end: the last page
    with pytest.raises(ValueError, match="page_size must be between 1 and 400"):
        g.gallery_page(store, page_size=10_000)
    store.close()


def test_an_empty_studio_has_no_cards_no_choices_and_no_neighbours(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    page = g.gallery_page(store)
    assert page.items.empty and (page.total, page.page, page.pages, page.first, page.last) == (0, 1, 1, 0, 0)
    assert all(v == [] for v in g.gallery_choices(store).values())
    assert g.gallery_neighbours(store, None, "nope") == g.Neighbours(None, None, None, 0)
    assert g.gallery_item(store, "nope") is None
    store.close()


# -- the lightbox's neighbours --------------------------------------------------------------------------
def test_neighbours_follow_the_filtered_order_across_pages(store):
    only_saved = g.GalleryFilter(statuses=g.DEFAULT_STATUSES)
    first = g.gallery_neighbours(store, only_saved, f"{NEW}:hero-home")
    assert first == g.Neighbours(None, f"{NEW}:hero-family", 1, 4)
    middle = g.gallery_neighbours(store, only_saved, f"{NEW}:hero-family")
    assert middle == g.Neighbours(f"{NEW}:hero-home", f"{OLD}:icon-trust", 2, 4)
    assert g.gallery_neighbours(store, only_saved, f"{OLD}:icon-will").next is None
    # page 2 of 2-card pages starts at icon-trust: "next" from the last card of page 1 reaches it
    assert g.gallery_page(store, only_saved, page=2, page_size=2).items["item_id"].iloc[0] == middle.next


def test_neighbours_respect_the_filters_and_an_item_left_out_has_none(store):
    claude = g.GalleryFilter(prompt_models=[CLAUDE], with_image=True)
    assert g.gallery_neighbours(store, claude, f"{NEW}:hero-home") == g.Neighbours(None, f"{OLD}:icon-will", 1, 2)
    assert g.gallery_neighbours(store, claude, f"{NEW}:hero-family") == g.Neighbours(None, None, None, 2)


def test_one_card_by_id_whatever_the_filters(store):
    card = g.gallery_item(store, f"{OLD}:icon-heir")
    assert (card["status"], card["reason"], card["image_path"], card["image_model"]) == (
        "failed", "image model refused", None, GEMINI_IMAGE)


# -- compare --------------------------------------------------------------------------------------------
def test_provenance_diff_flattens_and_marks_what_differs():
    a = {"prompt": "a key", "seed": 7, "costs": {"total_usd": 0.04, "image_usd": 0.039},
         "candidates": [{"model": CLAUDE, "score": 0.8}], "only_a": True}
    b = {"prompt": "a lock", "seed": 7, "costs": {"total_usd": 0.05, "image_usd": 0.039},
         "candidates": [{"model": GPT, "score": 0.8}], "only_b": "x"}
    diff = g.provenance_diff(a, b).set_index("field")
    assert list(diff.index) == ["prompt", "seed", "costs.total_usd", "costs.image_usd", "candidates[0].model",
                                "candidates[0].score", "only_a", "only_b"]
    assert diff.loc[diff["differs"]].index.tolist() == ["prompt", "costs.total_usd", "candidates[0].model",
                                                        "only_a", "only_b"]
    assert diff.loc["seed", "a"] == "7" and pd.isna(diff.loc["only_a", "b"]) and pd.isna(diff.loc["only_b", "a"])
    assert g.provenance_diff(None, None).empty


def test_diff_of_two_saved_images_provenance(studio):
    from engine.read.archive import read_provenance

    left = read_provenance(studio.images[f"{OLD}:icon-will"])
    right = read_provenance(studio.images[f"{NEW}:hero-home"])
    changed = set(g.provenance_diff(left, right).query("differs")["field"])
    assert {"image_model", "template_version", "prompt", "session_id"} <= changed and "winner_model" not in changed


# -- the page under AppTest -----------------------------------------------------------------------------
def open_gallery(monkeypatch, studio) -> AppTest:
    monkeypatch.setenv("ASSETGEN_DATA_DIR", str(studio.data_dir))
    monkeypatch.setenv("ASSETGEN_DB", str(studio.db_path))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.switch_page("console/gallery.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.slow
def test_page_cards_show_version_models_session_and_filter_by_model(monkeypatch, studio):
    at = open_gallery(monkeypatch, studio)
    captions = " ".join(c.value for c in at.caption)
    assert "template v2" in captions and "gpt-image-1" in captions and NEW in captions
    assert "Images 1–4 of 4" in captions
    at.multiselect(key="gal_prompt_model").select(CLAUDE).run()
    _ok(at)
    assert at.selectbox(key="gal_detail").options == [f"hero-home · {NEW}", f"icon-will · {OLD}"]


@pytest.mark.slow
def test_page_lightbox_opens_a_card_and_steps_to_the_next(monkeypatch, studio):
    at = open_gallery(monkeypatch, studio)
    _ok(at.button(key="gal_open_0").click().run())
    assert any("1 of 4" in c.value for c in at.caption)
    assert at.button(key="gal_prev").disabled and not at.button(key="gal_next").disabled
    _ok(at.button(key="gal_next").click().run())
    assert any("2 of 4" in c.value for c in at.caption)
    assert any("Hero-Family" in m.value for m in at.markdown)


@pytest.mark.slow
def test_page_compare_shows_both_and_the_differing_fields(monkeypatch, studio):
    at = open_gallery(monkeypatch, studio)
    at.selectbox(key="gal_cmp_a").select(f"{OLD}:icon-will").run()
    at.selectbox(key="gal_cmp_b").select(f"{NEW}:hero-home").run()
    _ok(at)
    fields = list(at.table[-1].value.index)
    assert {"image_model", "template_version", "prompt"} <= set(fields)
    assert "winner_model" not in fields  # "only the fields that differ" is the default
    at.toggle(key="gal_cmp_only").set_value(False).run()
    assert "winner_model" in list(_ok(at).table[-1].value.index)
