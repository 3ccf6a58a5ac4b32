"""AVERAGE_POOL_2D / MEAN input gradient: C kt_avg_pool_grad_s8 == golden avg_pool_grad, every
byte and the stats."""

from __future__ import annotations

import numpy as np
import pytest
from grad_strategies import (
    GRAD_SETTINGS,
    assert_stats_equal,
    exponents,
    grads,
    out_exponent,
)
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import rng

from kilotrain import contract
from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.avg_pool_grad import avg_pool_grad
from kilotrain.reference.grad_params import PoolGradParams


@st.composite
def cases(draw: st.DrawFn):
    r = rng(draw)
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 12))
    if draw(st.integers(0, 3)) == 0:  # MEAN: one global window
        h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        fh, fw, sh, sw, oh, ow = h, w, h, w, 1, 1
    else:
        fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        oh, ow = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        h = (oh - 1) * sh + fh + draw(st.integers(0, sh - 1))  # leftover rows get 0
        w = (ow - 1) * sw + fw + draw(st.integers(0, sw - 1))
    gy = grads(draw, r, (n, oh, ow, c))
    if draw(st.booleans()):
        p = gp.pool_grad_params((fh, fw), (sh, sw))
    else:
        p = PoolGradParams(
            (fh, fw),
            (sh, sw),
            draw(st.integers(1 << 30, (1 << 31) - 1)),
            draw(st.integers(contract.SHIFT_MIN, contract.SHIFT_MAX)),
        )
    e_gy = draw(exponents)
    e_gx = out_exponent(draw, p.count_shift, e_gy, np.log2(73.0 * 4))
    return gy, p, (h, w), e_gy, e_gx


@GRAD_SETTINGS
@given(case=cases())
def test_avg_pool_grad_matches_golden(case) -> None:
    gy, p, in_hw, e_gy, e_gx = case
    want, ws = avg_pool_grad(gy, p, in_hw, e_gy, e_gx)
    got, gs = ckernels_train.avg_pool_grad(gy, p, in_hw, e_gy, e_gx)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)


def test_mean_grad_spreads_evenly() -> None:
    """MEAN over 4x4: each input gets gy / 16 (same exponent): 64 / 16 = 4."""
    gy = np.full((1, 1, 1, 2), 64, np.int8)
    p = gp.pool_grad_params((4, 4), (4, 4))
    for impl in (avg_pool_grad, ckernels_train.avg_pool_grad):
        gx, st_ = impl(gy, p, (4, 4), -3, -3)
        assert (gx == 4).all() and st_.amax == 4 and st_.saturated == 0


def test_avg_pool_grad_refuses_windows_outside_the_input() -> None:
    p = gp.pool_grad_params((3, 3), (2, 2))
    gy = np.ones((1, 3, 3, 1), np.int8)
    with pytest.raises(ValueError):
        avg_pool_grad(gy, p, (6, 7), 0, 0)  # needs 7 rows
    with pytest.raises(KernelError):
        ckernels_train.avg_pool_grad(gy, p, (6, 7), 0, 0)
