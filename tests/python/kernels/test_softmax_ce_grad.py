"""Softmax cross-entropy gradient: C kt_softmax_ce_grad_s8 == golden softmax_ce_grad: gradient
bytes, stats, p_label and argmax == label."""

from __future__ import annotations

import numpy as np
import pytest
from grad_strategies import GRAD_SETTINGS, assert_stats_equal, exponents
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import int8s, rng

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference import grad_params as gp
from kilotrain.reference.softmax_ce_grad import softmax_ce_grad


@st.composite
def cases(draw: st.DrawFn):
    r = rng(draw)
    rows = draw(st.integers(1, 4))
    depth = draw(st.sampled_from([1, 2, 3, 10, 37, 100, 1000]))
    z = int8s(r, (rows, depth))
    if draw(st.booleans()):  # ties for the maximum
        z[:, : max(1, depth // 3)] = 127
    labels = r.integers(0, depth, rows)
    s_z = draw(st.floats(1e-3, 2.0))
    p = gp.softmax_ce_params(s_z)
    e_z = draw(st.one_of(st.integers(-12, -4), exponents))
    return z, labels, p, e_z


@GRAD_SETTINGS
@given(case=cases())
def test_softmax_ce_grad_matches_golden(case) -> None:
    z, labels, p, e_z = case
    wg, ws, wp, wc = softmax_ce_grad(z, labels, p, e_z)
    cg, cs, cp, cc = ckernels_train.softmax_ce_grad(z, labels, p, e_z)
    np.testing.assert_array_equal(cg, wg)
    assert_stats_equal(cs, ws)
    np.testing.assert_array_equal(cp, wp)
    np.testing.assert_array_equal(cc, wc)
    assert ((wp >= 0) & (wp <= 32768)).all()


def test_softmax_ce_example() -> None:
    """Two classes with equal logits: p = 1/2 each; the gradient is +-1/2 = +-64 * 2^-7."""
    p = gp.softmax_ce_params(0.1)
    assert p.exp_table[0] == 32768 and p.exp_table.dtype == np.uint16
    z = np.array([[5, 5]], np.int8)
    for impl in (softmax_ce_grad, ckernels_train.softmax_ce_grad):
        g, st_, pl, ok = impl(z, [1], p, -7)
        assert g.tolist() == [[64, -64]] and pl.tolist() == [16384]
        assert ok.tolist() == [False]  # the first maximum (index 0) wins the tie
        assert st_.amax == 64 and st_.saturated == 0


def test_softmax_ce_rejects_bad_labels() -> None:
    p = gp.softmax_ce_params(0.1)
    z = np.zeros((1, 3), np.int8)
    with pytest.raises(ValueError):
        softmax_ce_grad(z, [3], p, 0)
    with pytest.raises(KernelError):
        ckernels_train.softmax_ce_grad(z, [3], p, 0)
    with pytest.raises(KernelError):
        ckernels_train.softmax_ce_grad(z, [-1], p, 0)
