"""The same training run with the C kernels (ckernels + ckernels_train via ctypes) gives the same
parameters, bit for bit, as the numpy golden step."""

from __future__ import annotations

import numpy as np
import pytest

from kilotrain.training import step as tg
from kilotrain.training.plan import build_plan


@pytest.fixture(scope="module")
def c_engines():  # type: ignore[no-untyped-def]
    try:
        from kilotrain.kernels import backward as ckernels_train
        from kilotrain.kernels import forward as ckernels
    except Exception as e:
        pytest.skip(f"C kernels unavailable: {e}")
    return ckernels, ckernels_train


def _both(plan, data, n, c_engines):  # type: ignore[no-untyped-def]
    fwd_c, bwd_c = c_engines
    a, b = tg.init_state(plan), tg.init_state(plan)
    for i in np.random.default_rng(0).permutation(len(data.y_train))[:n]:
        ra = tg.step(plan, a, data.x_train[i], int(data.y_train[i]))
        rb = tg.step(plan, b, data.x_train[i], int(data.y_train[i]), fwd=fwd_c, bwd=bwd_c)
        assert (ra.p_label, ra.correct, ra.saturations) == (rb.p_label, rb.correct, rb.saturations)
        assert a.exps == b.exps
    assert tg.params_sha256(a) == tg.params_sha256(b)
    return a


@pytest.mark.parametrize("scheme", ["bias-only", "last-layer"])
def test_c_equals_golden_tiny_digits(scheme, tiny, digits_tiny, c_engines) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(tiny, scheme, 0.05)
    st = _both(plan, digits_tiny, 40, c_engines)
    assert tg.params_sha256(st) != tg.params_sha256(tg.init_state(plan))


@pytest.mark.slow
def test_c_equals_golden_person_detect(person_detect, lfw_pd, c_engines) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(person_detect, "last-layer", 0.01)
    _both(plan, lfw_pd, 12, c_engines)
