"""The search algorithms (training/search.py) on synthetic contributions and a synthetic memory
model: what they return fits the budget, respects the evaluation limit and repeats with the seed,
and the evolutionary search beats random search at the same number of evaluations."""

from __future__ import annotations

import random
from typing import Any

from kilotrain.training.scheme import RATIOS
from kilotrain.training.search import (
    Candidate,
    Contributions,
    contribution_seeds,
    evolutionary_search,
    random_search,
)

LAYERS = 16


def _synthetic(seed: int) -> tuple[Contributions, Any]:
    """Contributions that grow with depth and ratio (with noise); memory that grows with them too,
    plus an interaction (the deepest updated layer sets the backward's depth)."""
    rng = random.Random(seed)
    bias = {k: 0.01 * k + rng.uniform(-0.005, 0.005) for k in range(1, LAYERS + 1)}
    weight = {
        (i, r): (0.002 + 0.004 * i / LAYERS) * (r**0.5) + rng.uniform(0, 0.003) for i in range(LAYERS) for r in RATIOS
    }
    cost = {(i, r): int(800 * r * (1 + i % 4)) for i in range(LAYERS) for r in RATIOS}

    def memory(scheme: dict[str, Any]) -> int:
        depth = max([LAYERS - i for i in scheme["weight_layers"]] + [scheme["n_bias_update"], 0])
        return 10_000 + 300 * depth + sum(cost[(i, r)] for i, r in zip(scheme["weight_layers"], scheme["ratios"]))

    return Contributions(0.5, bias, weight), memory


def test_results_fit_the_budget_and_the_evaluation_limit() -> None:
    c, memory = _synthetic(0)
    for search in (evolutionary_search, random_search):
        r = search(c, memory, 16_000, 200, seed=1)
        assert r.best is not None and r.memory is not None and r.memory <= 16_000
        assert r.memory == memory(r.best.scheme(c.layers)) and r.score == r.best.score(c, c.layers)
        assert r.evaluations <= 200 and len(r.trace) == r.evaluations
        assert r.trace == sorted(r.trace)  # the best so far never gets worse
        again = search(c, memory, 16_000, 200, seed=1)
        assert (again.best, again.score) == (r.best, r.score)


def test_scheme_of_a_candidate() -> None:
    c, _ = _synthetic(0)
    cand = Candidate(3, tuple(0.5 if i in (2, 7) else 0.0 for i in range(LAYERS)))
    assert cand.scheme(c.layers) == {"n_bias_update": 3, "weight_layers": [2, 7], "ratios": [0.5, 0.5]}
    assert cand.score(c, c.layers) == c.bias[3] + (c.weight[(2, 0.5)] + c.weight[(7, 0.5)])


def test_nothing_fits_a_budget_below_every_candidate() -> None:
    c, memory = _synthetic(0)
    for search in (evolutionary_search, random_search):
        r = search(c, memory, 5_000, 50, seed=0)
        assert r.best is None and r.memory is None


def test_evolution_beats_random_search_at_equal_evaluations() -> None:
    wins = 0
    for seed in range(5):
        c, memory = _synthetic(seed)
        evo = evolutionary_search(c, memory, 18_000, 300, seed=seed)
        rnd = random_search(c, memory, 18_000, 300, seed=seed)
        assert evo.evaluations == rnd.evaluations == 300
        wins += evo.score > rnd.score
    assert wins == 5


def test_evolution_leaves_a_best_seed_whose_every_neighbour_many_changes_away_is_worse() -> None:
    """The MNIST 5-9 shape (docs/accuracy.md): every bias helps, most layers' weights hurt and
    a few help a little. A child that changes many genes at once nearly always switches on a
    harmful layer, so with a per-gene mutation probability of 0.15 and only bias depths in the
    first population the search never left "every bias" (+0 on every seed); the contribution
    seeds and a rate of one gene per child find the helpful layers."""
    n = 52
    for seed in range(5):
        rng = random.Random(seed)
        good = set(rng.sample(range(n), 4))
        weight = {
            (i, r): rng.uniform(0.02, 0.06) if i in good else -rng.uniform(0.05, 0.3) for i in range(n) for r in RATIOS
        }
        c = Contributions(0.0, {k: 0.3 * k / n for k in range(1, n + 1)}, weight)

        def memory(scheme: dict[str, Any]) -> int:
            return 10_000 + 100 * scheme["n_bias_update"] + sum(int(500 * r) for r in scheme["ratios"])

        r = evolutionary_search(c, memory, 20_000, 200, seed=seed)
        assert r.best is not None and r.score > c.bias[n] + 0.02, seed
        assert set(r.best.scheme(c.layers)["weight_layers"]) <= good


def test_contribution_seeds_take_the_best_layers_at_their_best_ratios() -> None:
    # 6 layers: 4 and 1 help (4 more, at 1/2; 1 at 1/8), 5 helps least, 0, 2 and 3 hurt;
    # the bias depths score best at 5 (of 6)
    weight = {(i, r): -0.1 for i in range(6) for r in RATIOS}
    weight.update({(4, 0.5): 0.3, (4, 1.0): 0.2, (1, 0.125): 0.2, (5, 1.0): 0.05})
    c = Contributions(0.0, {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.35, 5: 0.4, 6: 0.38}, weight)
    schemes = [s.scheme(c.layers) for s in contribution_seeds(c)]
    seeds = [(s["n_bias_update"], s["weight_layers"], s["ratios"]) for s in schemes]
    assert seeds == [
        (2, [4], [0.5]),  # reaches layer 4: the last 2 layers' biases
        (5, [4], [0.5]),  # the best depth from there down
        (5, [1, 4], [0.125, 0.5]),  # layer 1 needs 5 layers' biases, the best one too
        (5, [1, 4, 5], [0.125, 0.5, 1.0]),
    ]
    assert contribution_seeds(Contributions(0.0, {1: 0.1}, {(0, r): -0.1 for r in RATIOS})) == []
