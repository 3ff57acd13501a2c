"""Root cause: one alert on the slice that explains the move."""

from __future__ import annotations

from warroom.detect.rootcause import Candidate, explain_all


def c(i: int, dev: float, score: float = 0.6, **scope: str) -> Candidate:
    return Candidate(i, frozenset(scope.items()), dev, score)


def test_parent_explained_by_one_child_goes_down_to_the_child() -> None:
    market = c(0, 100.0)
    card_us = c(1, 95.0, method="card", country="US")
    card_us_ca = c(2, 92.0, method="card", region="US-CA", country="US")
    card = c(3, 96.0, method="card")
    chosen = explain_all([market, card], [market, card_us, card_us_ca, card])
    assert [x.index for x in chosen] == [2]


def test_children_of_a_wide_move_go_up_to_the_parent() -> None:
    web = c(1, 100.0, 0.3, channel="web")  # elevated, not yet alarmed
    kids = [c(10 + k, 100.0 / 8, channel="web", region=f"CN-{k}") for k in range(8)]
    chosen = explain_all(kids[:3], [web, *kids])
    assert [x.index for x in chosen] == [1]


def test_two_unrelated_moves_give_two_alerts() -> None:
    a = c(1, 50.0, region="CN-GD")
    b = c(2, 40.0, merchant="m-3")
    assert sorted(x.index for x in explain_all([a, b], [a, b])) == [1, 2]


def test_an_overlapping_smaller_slice_is_folded_into_the_bigger() -> None:
    card_ca = c(1, 30.0, method="card", region="US-CA", country="US")
    app_ca = c(2, 18.0, channel="app", region="US-CA", country="US")
    assert [x.index for x in explain_all([card_ca, app_ca], [card_ca, app_ca])] == [1]


def test_across_dimensions_a_finer_slice_holding_the_move_is_the_cause() -> None:
    category = c(1, 30.0, category="jewelry")
    merchant = c(2, 27.0, 0.3, merchant="m-33")  # elevated, not yet alarmed
    other = c(3, 10.0, 0.3, merchant="m-34")
    sizes = {"category": 15, "merchant": 3000}

    def finer(a: Candidate, b: Candidate) -> bool:
        return sizes[next(iter(dict(a.scope)))] > sizes[next(iter(dict(b.scope)))]

    pool = [category, merchant, other]
    assert [x.index for x in explain_all([category], pool, finer=finer)] == [2]
    assert [x.index for x in explain_all([category], pool)] == [1]  # without: stays
    weak = c(2, 12.0, 0.3, merchant="m-33")  # holds too little of the move
    assert [x.index for x in explain_all([category], [category, weak], finer=finer)] == [1]
