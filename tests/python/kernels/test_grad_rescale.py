"""Gradient rescale (ADD input path): C kt_grad_rescale_s8 == golden grad_rescale, every byte and
the stats, over the whole exponent range (both shift_round branches and their saturation)."""

from __future__ import annotations

import numpy as np
import pytest
from grad_strategies import GRAD_SETTINGS, assert_stats_equal, exponents
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import int8s, rng, shapes

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels.forward import KernelError
from kilotrain.reference.grad_rescale import grad_rescale


@GRAD_SETTINGS
@given(data=st.data(), shape=shapes(max_dim=8), e_in=exponents, delta=st.integers(-10, 10), wide=st.booleans())
def test_grad_rescale_matches_golden(data, shape, e_in, delta, wide) -> None:
    g = int8s(rng(data.draw), shape)  # includes -128 (saturates to -127)
    e_out = data.draw(exponents) if wide else int(np.clip(e_in + delta, -64, 64))
    want, ws = grad_rescale(g, e_in, e_out)
    got, gs = ckernels_train.grad_rescale(g, e_in, e_out)
    np.testing.assert_array_equal(got, want)
    assert_stats_equal(gs, ws)


def test_grad_rescale_rounding() -> None:
    g = np.array([3, -3, 1, -1, 5, -5, 100, -100], np.int8)
    for impl in (grad_rescale, ckernels_train.grad_rescale):
        out, st_ = impl(g, 0, 1)  # halve, ties away from zero
        assert out.tolist() == [2, -2, 1, -1, 3, -3, 50, -50]
        out, st_ = impl(g, 1, 0)  # double, saturating
        assert out.tolist() == [6, -6, 2, -2, 10, -10, 127, -127] and st_.saturated == 2
    with pytest.raises(KernelError):
        ckernels_train.grad_rescale(g, 0, 65)
    with pytest.raises(ValueError):
        grad_rescale(g, 0, 65)
