"""Sparse-update search: the paper's contribution analysis and evolutionary search (its
Sec. 3.3), released; random search as the baseline. Pure algorithms: what an evaluation costs
(training runs, the planner's memory) is the caller's (:mod:`kilotrain.jobs.search`).

**Contribution analysis.** From the score ``base`` of fine-tuning the classifier alone (a
score is higher-is-better: the caller's validation accuracy, or its loss negated):

* ``bias[k]``: the score gained by also updating the biases of the last ``k`` conv layers;
* ``weight[(i, r)]``: the score gained by also updating the weights of conv layer ``i`` on the
  fraction ``r`` of its output channels (``r`` in 1/8, 1/4, 1/2, 1), over the model whose biases
  are all updated (the caller's analysis measures it so).

**Search.** A candidate is a bias depth ``k`` (one of the analysed depths) and a ratio per
searchable layer (0: frozen). Its score is ``bias[k] + sum weight[(i, r_i)]`` (the contributions
are taken as additive, as in the paper); it is feasible when the memory the caller measures for
its scheme (the all-in peak SRAM of :func:`kilotrain.jobs.plan.run_plan`) is within the budget.
:func:`evolutionary_search` keeps a population of feasible candidates and breeds it by crossover
and mutation; :func:`random_search` draws candidates uniformly. Both count an *evaluation* as one
candidate's memory measured (repeats are cached and free), so they can be compared at the same
number of evaluations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kilotrain.training.scheme import RATIOS

#: A candidate's ratio choices per layer: 0 (frozen) or one of the scheme ratios.
CHOICES: tuple[float, ...] = (0.0, *RATIOS)


@dataclass(frozen=True)
class Contributions:
    """The contribution analysis of one model on one task (see the module docstring)."""

    base: float
    bias: dict[int, float]
    weight: dict[tuple[int, float], float]

    @property
    def layers(self) -> tuple[int, ...]:
        """The layers with a weight contribution, in order."""
        return tuple(sorted({i for i, _ in self.weight}))

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "bias": {str(k): v for k, v in sorted(self.bias.items())},
            "weight": {f"{i}:{r}": v for (i, r), v in sorted(self.weight.items())},
        }


@dataclass(frozen=True)
class Candidate:
    """A bias depth and a ratio per searchable layer (``Contributions.layers`` order)."""

    n_bias: int
    ratios: tuple[float, ...]

    def scheme(self, layers: tuple[int, ...]) -> dict[str, Any]:
        """The scheme JSON (``kilotrain plan`` / ``train`` / ``compile`` take it)."""
        chosen = [(i, r) for i, r in zip(layers, self.ratios) if r > 0]
        return {"n_bias_update": self.n_bias, "weight_layers": [i for i, _ in chosen], "ratios": [r for _, r in chosen]}

    def score(self, c: Contributions, layers: tuple[int, ...]) -> float:
        return c.bias.get(self.n_bias, 0.0) + sum(c.weight[(i, r)] for i, r in zip(layers, self.ratios) if r > 0)


@dataclass
class SearchResult:
    """The best feasible candidate found, its score and memory, and the best score after each
    evaluation (``trace``; -inf while nothing feasible was found)."""

    best: Candidate | None
    score: float
    memory: int | None
    evaluations: int
    trace: list[float] = field(default_factory=list)
    feasible: dict[Candidate, int] = field(default_factory=dict)  # every feasible candidate seen: memory

    def top(self, c: Contributions, k: int) -> list[Candidate]:
        """The ``k`` best feasible candidates seen, by score (then the smaller memory)."""
        layers = c.layers
        return sorted(self.feasible, key=lambda x: (-x.score(c, layers), self.feasible[x]))[:k]


class _Evaluator:
    """Memory of candidates, cached; counts evaluations and traces the best feasible score."""

    def __init__(
        self,
        c: Contributions,
        memory: Callable[[dict[str, Any]], int],
        budget: int,
        limit: int,
        on_eval: Callable[[SearchResult], None] | None = None,
    ) -> None:
        self.c, self.memory, self.budget, self.limit, self.on_eval = c, memory, budget, limit, on_eval
        self.layers = c.layers
        self.seen: dict[Candidate, int] = {}
        self.result = SearchResult(None, float("-inf"), None, 0)

    @property
    def exhausted(self) -> bool:
        return self.result.evaluations >= self.limit

    def feasible(self, cand: Candidate) -> bool:
        if cand not in self.seen:
            if self.exhausted:
                return False
            self.seen[cand] = self.memory(cand.scheme(self.layers))
            self.result.evaluations += 1
            mem = self.seen[cand]
            s = cand.score(self.c, self.layers)
            if mem <= self.budget:
                self.result.feasible[cand] = mem
                if s > self.result.score:
                    self.result.best, self.result.score, self.result.memory = cand, s, mem
            self.result.trace.append(self.result.score)
            if self.on_eval is not None:
                self.on_eval(self.result)
        return self.seen[cand] <= self.budget


def _draw(rng: random.Random, biases: list[int], n_layers: int, p_update: float) -> Candidate:
    return Candidate(
        rng.choice(biases), tuple(rng.choice(CHOICES[1:]) if rng.random() < p_update else 0.0 for _ in range(n_layers))
    )


def random_search(
    c: Contributions,
    memory: Callable[[dict[str, Any]], int],
    budget: int,
    evaluations: int,
    seed: int = 0,
    on_eval: Callable[[SearchResult], None] | None = None,
) -> SearchResult:
    """Candidates drawn at random (each layer updated with probability 1/4, its ratio uniform;
    the bias depth uniform over the analysed ones) until ``evaluations`` memories were measured;
    ``on_eval`` sees the result so far after each."""
    rng = random.Random(seed)
    ev = _Evaluator(c, memory, budget, evaluations, on_eval)
    biases = sorted(c.bias)
    tries = 0
    while not ev.exhausted and tries < 100 * evaluations:
        ev.feasible(_draw(rng, biases, len(ev.layers), 0.25))
        tries += 1
    return ev.result


def contribution_seeds(c: Contributions) -> list[Candidate]:
    """Candidates built from the analysis alone: the weights of the ``m`` layers whose best
    ratio contributes most (each at that ratio; only layers that contribute more than 0), for
    ``m`` = 1, 2, 4, ... up to every such layer, each with two bias depths: the shallowest that
    reaches the deepest chosen layer (backpropagation goes there anyway, so it is the cheapest)
    and the best-scoring one from there down. They put schemes that update many layers, which
    mutation reaches only after many generations, into the first population; whether they fit
    the budget is the search's to measure."""
    layers = c.layers
    if not c.bias or not layers:
        return []
    n = max(c.bias)
    best = {i: max(RATIOS, key=lambda r: c.weight[(i, r)]) for i in layers}
    ranked = sorted((i for i in layers if c.weight[(i, best[i])] > 0), key=lambda i: -c.weight[(i, best[i])])
    out: list[Candidate] = []
    m = 1
    while ranked and m < 2 * len(ranked):
        chosen = set(ranked[:m])
        genes = tuple(best[i] if i in chosen else 0.0 for i in layers)
        deep = [k for k in c.bias if k >= n - min(chosen)]  # holds n at least
        for depth in (min(deep), max(deep, key=lambda k: c.bias[k])):
            if Candidate(depth, genes) not in out:
                out.append(Candidate(depth, genes))
        m *= 2
    return out


def evolutionary_search(
    c: Contributions,
    memory: Callable[[dict[str, Any]], int],
    budget: int,
    evaluations: int,
    seed: int = 0,
    population: int = 24,
    parents: int = 8,
    p_mutate: float | None = None,
    on_eval: Callable[[SearchResult], None] | None = None,
) -> SearchResult:
    """The evolutionary search of the paper: a population of feasible candidates (the seeds:
    classifier-only, every analysed bias depth alone, :func:`contribution_seeds`, then random
    draws); each generation keeps the ``parents`` best by score and fills the rest with
    children (uniform crossover of two parents, then each gene mutated with probability
    ``p_mutate``, by default 1 / the number of genes: one change per child on average) that
    fit the budget, until ``evaluations`` memories were measured; ``on_eval`` sees the result
    so far after each. Why these seeds and this rate: docs/training.md."""
    rng = random.Random(seed)
    ev = _Evaluator(c, memory, budget, evaluations, on_eval)
    n, biases = len(ev.layers), sorted(c.bias)
    p = 1.0 / (n + 1) if p_mutate is None else p_mutate
    pop: list[Candidate] = []
    for cand in [Candidate(k, (0.0,) * n) for k in [0, *biases]] + contribution_seeds(c):
        if cand not in pop and ev.feasible(cand):
            pop.append(cand)
    tries = 0
    while len(pop) < population and not ev.exhausted and tries < 50 * population:
        cand = _draw(rng, biases, n, 0.15)
        if cand not in pop and ev.feasible(cand):
            pop.append(cand)
        tries += 1
    key = lambda x: x.score(c, ev.layers)  # noqa: E731
    while not ev.exhausted and pop:
        elite = sorted(pop, key=key, reverse=True)[:parents]
        children: list[Candidate] = []
        tries = 0
        while len(children) < population - len(elite) and not ev.exhausted and tries < 50 * population:
            tries += 1
            a, b = rng.choice(elite), rng.choice(elite)
            n_bias = a.n_bias if rng.random() < 0.5 else b.n_bias
            if rng.random() < p:
                n_bias = rng.choice(biases or [0])
            genes = []
            for ra, rb in zip(a.ratios, b.ratios):
                g = ra if rng.random() < 0.5 else rb
                genes.append(rng.choice(CHOICES) if rng.random() < p else g)
            child = Candidate(n_bias, tuple(genes))
            if child not in elite and child not in children and ev.feasible(child):
                children.append(child)
        if not children and tries >= 50 * population:
            break  # nothing new fits
        pop = elite + children
    return ev.result
