"""AVERAGE_POOL_2D: C kt_avg_pool_s8 == golden avg_pool, every byte."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS, activations, geometries, int8s, rng

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import AvgPoolParams
from kilotrain.reference.avg_pool import avg_pool as golden_avg_pool


@st.composite
def pool_cases(draw: st.DrawFn):
    r = rng(draw)
    gh = draw(geometries(max_size=12, max_kernel=6, max_stride=3, max_dilation=1))
    gw = draw(geometries(max_size=12, max_kernel=6, max_stride=3, max_dilation=1))
    x = int8s(r, (draw(st.integers(1, 2)), gh.size, gw.size, draw(st.integers(1, 12))))
    lo, hi = draw(activations())
    p = AvgPoolParams(
        filter=(gh.kernel, gw.kernel),
        stride=(gh.stride, gw.stride),
        padding=(gh.pad_before, gw.pad_before),
        act_min=lo,
        act_max=hi,
    )
    return x, p, (gh.out, gw.out)


@KERNEL_SETTINGS
@given(case=pool_cases())
def test_avg_pool_matches_golden(case) -> None:
    x, p, out_hw = case
    np.testing.assert_array_equal(ckernels.avg_pool(x, p, out_hw), golden_avg_pool(x, p, out_hw))


def test_avg_pool_global_7x7() -> None:
    """The classifier's global average pool (7x7 VALID) and rounding ties of both signs."""
    r = np.random.default_rng(9)
    x = int8s(r, (1, 7, 7, 64))
    p = AvgPoolParams((7, 7), (1, 1), (0, 0))
    np.testing.assert_array_equal(ckernels.avg_pool(x, p, (1, 1)), golden_avg_pool(x, p, (1, 1)))
    ties = np.array([1, 2, -1, -2], np.int8).reshape(1, 2, 2, 1)  # sums 3, -3 over 2 taps
    p2 = AvgPoolParams((1, 2), (1, 2), (0, 0))
    got = ckernels.avg_pool(ties, p2, (2, 1))
    np.testing.assert_array_equal(got, golden_avg_pool(ties, p2, (2, 1)))
    assert got.ravel().tolist() == [2, -2]  # 1.5 -> 2, -1.5 -> -2


def test_avg_pool_all_padding_window_is_an_error() -> None:
    x = np.zeros((1, 2, 2, 1), np.int8)
    p = AvgPoolParams((2, 2), (2, 2), (0, 0))
    with pytest.raises(ValueError):
        golden_avg_pool(x, p, (2, 1))
    with pytest.raises(ckernels.KernelError):
        ckernels.avg_pool(x, p, (2, 1))
