"""How the search scores analysis runs (jobs/search.py): contributions from the runs' validation
loss or accuracy, and the order in which measured schemes are chosen."""

from __future__ import annotations

import pytest

from kilotrain.jobs.search import METRICS, analysis_schemes, canonical, contributions, ranking
from kilotrain.training.scheme import RATIOS


def _done(n_layers: int) -> dict[str, dict[str, float]]:
    """Analysis results where accuracy is saturated past depth 1 but the loss keeps falling with
    the bias depth, and layer 0's weights help (lower loss) while layer 1's hurt."""
    out: dict[str, dict[str, float]] = {}
    for s in analysis_schemes(n_layers):
        k, layers, ratios = s["n_bias_update"], s["weight_layers"], s["ratios"]
        loss = 1.0 - 0.1 * k
        if layers:
            loss += (-0.05 if layers[0] == 0 else 0.02) * ratios[0]
        out[canonical(s)] = {"acc": 0.5 if k == 0 else 1.0, "loss": loss}
    return out


def test_loss_contributions_keep_ranking_where_accuracy_saturates() -> None:
    done = _done(3)
    acc = contributions(done, 3, "accuracy")
    assert acc.bias == {1: 0.5, 2: 0.5, 3: 0.5} and set(acc.weight.values()) == {0.0}
    loss = contributions(done, 3, "loss")
    assert loss.base == -1.0
    assert loss.bias == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3})
    for r in RATIOS:
        assert loss.weight[(0, r)] == pytest.approx(0.05 * r) and loss.weight[(1, r)] == pytest.approx(-0.02 * r)
    assert set(loss.weight) == {(i, r) for i in range(3) for r in RATIOS}


def test_ranking_orders_by_the_metric_then_the_other_then_memory() -> None:
    rows = [
        {"name": "a", "acc": 1.0, "loss": 0.30, "peak_sram_bytes": 100},
        {"name": "b", "acc": 0.9, "loss": 0.20, "peak_sram_bytes": 100},
        {"name": "c", "acc": 1.0, "loss": 0.30, "peak_sram_bytes": 50},
        {"name": "d", "acc": 0.9, "loss": 0.20, "peak_sram_bytes": 90},
    ]
    assert [r["name"] for r in sorted(rows, key=ranking("loss"))] == ["d", "b", "c", "a"]
    assert [r["name"] for r in sorted(rows, key=ranking("accuracy"))] == ["c", "a", "d", "b"]
    assert set(METRICS) == {"loss", "accuracy"}
