"""The golden integer training step: determinism, parameter hash, gradients against the float
reference, and learning on real data."""

from __future__ import annotations

import numpy as np
import pytest

from kilotrain.training import step as tg
from kilotrain.training.gradcheck import gradient_cosines as float_gradient_cosines
from kilotrain.training.plan import build_plan


def _run(plan, data, n, seed=0):  # type: ignore[no-untyped-def]
    st = tg.init_state(plan)
    order = np.random.default_rng(seed).permutation(len(data.y_train))[:n]
    res = [tg.step(plan, st, data.x_train[i], int(data.y_train[i])) for i in order]
    return st, res


def test_step_is_deterministic(tiny, digits_tiny) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(tiny, "last-layer", 0.05)
    a, ra = _run(plan, digits_tiny, 30)
    b, rb = _run(plan, digits_tiny, 30)
    assert tg.params_sha256(a) == tg.params_sha256(b) and a.exps == b.exps
    assert [r.p_label for r in ra] == [r.p_label for r in rb]
    c, _ = _run(plan, digits_tiny, 30, seed=1)
    assert tg.params_sha256(c) != tg.params_sha256(a)
    assert tg.params_sha256(tg.init_state(plan)) != tg.params_sha256(a)
    # the step changed exactly the trainable tensors, never the graph's constants
    st0 = tg.init_state(plan)
    for pos in a.biases:
        assert not np.array_equal(a.biases[pos], st0.biases[pos])


def test_step_result_and_bad_label(tiny, digits_tiny) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(tiny, "classifier-only", 0.05)
    st = tg.init_state(plan)
    r = tg.step(plan, st, digits_tiny.x_train[0], int(digits_tiny.y_train[0]))
    assert 0 <= r.p_label <= 32768 and r.loss == pytest.approx(-np.log(max(r.p_label, 1) / 32768))
    assert st.step == 1
    before = tg.params_sha256(st)
    with pytest.raises(ValueError, match="label 7 out of range"):
        tg.step(plan, st, digits_tiny.x_train[0], 7)
    assert tg.params_sha256(st) == before and st.step == 1


def test_params_sha256_byte_order(tiny) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    plan = build_plan(tiny, "last-layer", 0.05)
    st = tg.init_state(plan)
    h = hashlib.sha256()
    for pos in sorted(st.biases):
        if pos in st.weights:
            h.update(st.weights[pos].astype(np.int8).tobytes())
        h.update(st.biases[pos].astype("<i4").tobytes())
    assert tg.params_sha256(st) == h.hexdigest()


def gradient_cosines(plan, data, warm: int, n: int):  # type: ignore[no-untyped-def]
    """Min cosine per gradient tensor over n samples, after ``warm`` steps (scale policy settled)."""
    st = tg.init_state(plan)
    for i in range(warm):
        tg.step(plan, st, data.x_train[i], int(data.y_train[i]))
    return float_gradient_cosines(plan, st, [(data.x_train[i], int(data.y_train[i])) for i in range(warm, warm + n)])


def test_gradients_match_float_on_mbv2_digits(mbv2_48) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("sklearn")
    from kilotrain.data import datasets

    data = datasets.load("digits", mbv2_48.input, seed=0, limit=120)
    # warm-up with round-to-nearest updates: the documented state (docs/training.md, "Gradient
    # check"); with the stochastic default the warmed-up weights differ (min cosine 0.945)
    plan = build_plan(
        mbv2_48, "99kb", 0.001, calib=[(data.x_train[i], int(data.y_train[i])) for i in range(8)], rounding="nearest"
    )
    cos = gradient_cosines(plan, data, warm=10, n=3)
    assert len(cos) == len([g for g in plan.grads if g.role != "view"])
    assert min(cos.values()) >= 0.97, cos  # measured 0.977 (docs/training.md)
    assert sum(c >= 0.99 for c in cos.values()) >= len(cos) // 2
    assert cos[plan.logits_grad] >= 0.999


@pytest.mark.slow
def test_gradients_match_float_on_person_detect_lfw(person_detect, lfw_pd) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(
        person_detect, "bias-only", 0.0005, calib=[(lfw_pd.x_train[i], int(lfw_pd.y_train[i])) for i in range(8)]
    )
    cos = gradient_cosines(plan, lfw_pd, warm=30, n=3)
    by_depth = [cos[g] for g in sorted(cos)]  # production order: logits first, stem last
    # the last ten gradient tensors (back to Conv2d_9) stay >= 0.97; through all 27 layers to the
    # stem per-tensor int8 gradients still keep >= 0.8 (docs/training.md, "Gradient check")
    assert min(by_depth[:10]) >= 0.97, by_depth
    assert min(by_depth) >= 0.8, by_depth


@pytest.mark.slow
def test_learns_lfw_person_detect(person_detect, lfw_pd) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(
        person_detect, "last-layer", 0.01, calib=[(lfw_pd.x_train[i], int(lfw_pd.y_train[i])) for i in range(8)]
    )
    st = tg.init_state(plan)
    loss0, acc0 = tg.evaluate(plan, st, lfw_pd.x_test, lfw_pd.y_test)
    rng = np.random.default_rng(0)
    for i in rng.permutation(len(lfw_pd.y_train)).tolist():
        tg.step(plan, st, lfw_pd.x_train[i], int(lfw_pd.y_train[i]))
    loss1, acc1 = tg.evaluate(plan, st, lfw_pd.x_test, lfw_pd.y_test)
    assert loss1 < loss0 - 0.05 and acc1 >= acc0


def test_learns_digits_tiny_cnn(tiny, digits_tiny) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(tiny, "last-layer", 0.05)
    st = tg.init_state(plan)
    xs, ys = digits_tiny.x_test[:80], digits_tiny.y_test[:80]
    loss0, acc0 = tg.evaluate(plan, st, xs, ys)
    for i in np.random.default_rng(0).permutation(len(digits_tiny.y_train))[:300]:
        tg.step(plan, st, digits_tiny.x_train[i], int(digits_tiny.y_train[i]))
    loss1, acc1 = tg.evaluate(plan, st, xs, ys)
    assert loss1 < loss0 and acc1 > acc0 + 0.1, (loss0, acc0, loss1, acc1)


def test_gradients_match_float_through_add_relu() -> None:
    """ResNet-8's residual ADDs carry a fused ReLU: the integer backward masks their output
    gradient like a convolution's (measured: every gradient tensor >= 0.99 down to the stem; without
    the ADD's mask 0.28)."""
    pytest.importorskip("sklearn")
    from kilotrain.data import datasets
    from kilotrain.model import zoo

    graph = zoo.resnet8(16, 10)
    assert sum(op.kind == "ADD" and op.activation == "RELU" for op in graph.ops) == 3
    data = datasets.load("digits", graph.input, seed=0, num_classes=10, limit=400)
    plan = build_plan(graph, "bias-only", 0.01, calib=[(data.x_train[i], int(data.y_train[i])) for i in range(8)])
    assert sum(graph.ops[m.op_pos].kind == "ADD" for m in plan.masks) == 3
    cos = gradient_cosines(plan, data, warm=20, n=3)
    assert min(cos.values()) >= 0.98, cos


def test_every_backward_op_through_the_c_kernels(digits_tiny) -> None:  # type: ignore[no-untyped-def]
    """The capability table's example graph trained by the golden loop with the host C kernels
    (engine c: PAD's, TRANSPOSE's and the pools' gradients by their own kernels) == golden."""
    from kilotrain.kernels import backward as cbackward
    from kilotrain.kernels import forward as cforward
    from kilotrain.training.examples import every_op_graph

    plan = build_plan(every_op_graph(), "bias-only", 0.01, engine="c")
    gold, c = tg.init_state(plan), tg.init_state(plan)
    for i in range(20):
        x, y = digits_tiny.x_train[i], int(digits_tiny.y_train[i])
        r0 = tg.step(plan, gold, x, y)
        r1 = tg.step(plan, c, x, y, fwd=cforward, bwd=cbackward)
        assert (r0.p_label, r0.saturations) == (r1.p_label, r1.saturations), i
    assert tg.params_sha256(gold) == tg.params_sha256(c) != tg.params_sha256(tg.init_state(plan))
