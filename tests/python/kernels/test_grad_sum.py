"""Fan-out sum: C kt_grad_sum_s8 == golden grad_sum, every byte and the stats."""

from __future__ import annotations

import numpy as np
from grad_strategies import GRAD_SETTINGS, assert_stats_equal, exponents
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import int8s, rng, shapes

from kilotrain.kernels import backward as ckernels_train
from kilotrain.reference.grad_sum import grad_sum


@GRAD_SETTINGS
@given(
    data=st.data(),
    shape=shapes(max_dim=8),
    e1=exponents,
    d2=st.integers(-6, 6),
    d=st.integers(-3, 6),
    wide=st.booleans(),
)
def test_grad_sum_matches_golden(data, shape, e1, d2, d, wide) -> None:
    r = rng(data.draw)
    g1, g2 = int8s(r, shape), int8s(r, shape)
    if wide:
        e2, e = data.draw(exponents), data.draw(exponents)
    else:
        e2 = int(np.clip(e1 + d2, -64, 64))
        e = int(np.clip(max(e1, e2) + d, -64, 64))
    want, ws = grad_sum(g1, e1, g2, e2, e)
    got, gs = ckernels_train.grad_sum(g1, e1, g2, e2, e)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)


def test_grad_sum_example() -> None:
    g1 = np.array([10, -10, 100], np.int8)  # exponent -4
    g2 = np.array([3, 3, 100], np.int8)  # exponent -3 (worth 6 at -4)
    for impl in (grad_sum, ckernels_train.grad_sum):
        out, st_ = impl(g1, -4, g2, -3, -4)
        assert out.tolist() == [16, -4, 127] and st_.saturated == 1 and st_.amax == 127
