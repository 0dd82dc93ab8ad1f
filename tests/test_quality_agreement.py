"""Judge-vs-human agreement: Cohen's κ and Spearman's ρ per judge model and criterion, with counts."""
from __future__ import annotations

import pytest

from engine.quality.agreement import agreement_table, cohen_kappa, spearman
from engine.quality.store import add_rating


def test_cohen_kappa_matches_the_textbook_example():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 -> po 0.7, pe 0.5, kappa 0.4
    a = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([True, True], [True, True]) is None  # no variation: undefined, not 1


def test_spearman_is_one_for_the_same_order_and_none_without_variation():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([3, 3, 3], [1, 2, 3]) is None


def _score(con, path: str, model: str, criterion: str, value: float) -> None:
    con.execute("INSERT INTO scores (score_id, image_path, kind, name, judge_model, value, threshold) "
                "VALUES (?, ?, 'judge', ?, ?, ?, 3.0)", [f"{path}/{model}/{criterion}", path, criterion, model, value])


def test_agreement_per_judge_and_criterion_with_counts_and_advisory_below_the_bar(store):
    humans = [5, 4, 4, 2, 1, 5, 3, 2, 1, 4, 5, 2]
    with store.write() as con:
        for i, rating in enumerate(humans):
            _score(con, f"/img/{i}.png", "good/judge", "overall", rating)  # agrees with the people
            _score(con, f"/img/{i}.png", "bad/judge", "overall", 6 - rating)  # the opposite
    for i, rating in enumerate(humans):
        add_rating(store, image_path=f"/img/{i}.png", rating=rating, rated_by="ana")
    table = {(a.judge_model, a.criterion): a for a in agreement_table(store)}
    good, bad = table[("good/judge", "overall")], table[("bad/judge", "overall")]
    assert good.n == bad.n == len(humans)
    assert good.spearman_rho == pytest.approx(1.0) and good.cohen_kappa == pytest.approx(1.0)
    assert bad.spearman_rho == pytest.approx(-1.0) and bad.cohen_kappa < 0
    assert not good.advisory and bad.advisory
