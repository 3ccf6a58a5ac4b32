"""FULLY_CONNECTED input gradient: C kt_fully_connected_input_grad_s8 == golden, every byte and
the stats."""

from __future__ import annotations

import numpy as np
import pytest
from grad_strategies import (
    GRAD_SETTINGS,
    assert_stats_equal,
    chan_fold,
    exponents,
    grads,
    input_grad_tail,
)
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import rng, weights

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.fully_connected_input_grad import fully_connected_input_grad
from kilotrain.reference.grad_params import FullyConnectedGradParams


@st.composite
def cases(draw: st.DrawFn):
    r = rng(draw)
    n = draw(st.integers(1, 4))
    cin = draw(st.integers(1, 80))
    cout = draw(st.sampled_from([1, 2, 10, 64, 300]))
    gy = grads(draw, r, (n, cout))
    w = weights(r, (cout, cin))
    cm, cs = chan_fold(draw, r, cout)
    e_gy = draw(exponents)
    hr, xm, xs, e_gx = input_grad_tail(draw, cout, e_gy, gy, cm, cs)
    return gy, w, FullyConnectedGradParams(cm, cs, hr, xm, xs), e_gy, e_gx


@GRAD_SETTINGS
@given(case=cases(), s=st.integers(0, 1 << 16))
def test_fully_connected_input_grad_matches_golden(case, s: int) -> None:
    gy, w, p, e_gy, e_gx = case
    want, ws = fully_connected_input_grad(gy, w, p, e_gy, e_gx)
    got, gs = ckernels_train.fully_connected_input_grad(gy, w, p, e_gy, e_gx)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)
    split = s % (w.shape[0] + 1)
    got, gs = ckernels_train.fully_connected_input_grad(gy, w, p, e_gy, e_gx, split=split)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)


def test_fully_connected_input_grad_builder_and_errors() -> None:
    p = gp.fully_connected_grad_params([0.01, 0.005, 0.02], 3)
    assert p.headroom == 8
    assert list(p.chan_shift) == [0, -1, 1] and p.chan_multiplier[2] == 1 << 30
    with pytest.raises(ValueError, match="weight scales"):
        gp.fully_connected_grad_params([0.01, 0.02], 3)
    gy = np.ones((1, 3), np.int8)
    w = np.ones((3, 5), np.int8)
    with pytest.raises(KernelError):
        ckernels_train.fully_connected_input_grad(gy, w, p, 0, 100)
    with pytest.raises(ValueError):
        fully_connected_input_grad(gy, w, p, 0, 100)
