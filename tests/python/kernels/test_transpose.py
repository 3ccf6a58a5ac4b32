"""TRANSPOSE: C kt_transpose_s8 == golden transpose, and its gradient kt_transpose_grad_s8 ==
golden transpose_grad (the inverse permutation), every byte (rank 1-4, every permutation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS, int8s, rng, shapes

from kilotrain.kernels import backward as cbackward
from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import TransposeParams
from kilotrain.reference.transpose import transpose as golden_transpose
from kilotrain.reference.transpose_grad import transpose_grad as golden_transpose_grad


@st.composite
def transpose_cases(draw: st.DrawFn):
    r = rng(draw)
    shape = draw(shapes(max_dim=6))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    return int8s(r, shape), TransposeParams(perm=perm)


@KERNEL_SETTINGS
@given(case=transpose_cases())
def test_transpose_matches_golden(case) -> None:
    x, p = case
    np.testing.assert_array_equal(ckernels.transpose(x, p), golden_transpose(x, p))


def test_transpose_rejects_non_permutation() -> None:
    with pytest.raises(ValueError):
        ckernels.transpose(np.zeros((2, 3), np.int8), TransposeParams((0, 0)))


@KERNEL_SETTINGS
@given(case=transpose_cases())
def test_transpose_grad_matches_golden(case) -> None:
    x, p = case
    g = golden_transpose(x, p)  # any tensor of the output's shape
    got = cbackward.transpose_grad(g, p)
    np.testing.assert_array_equal(got, golden_transpose_grad(g, p))
    np.testing.assert_array_equal(got, x)  # the inverse permutation undoes the forward


def test_transpose_grad_rejects_non_permutation() -> None:
    with pytest.raises(ValueError):
        cbackward.transpose_grad(np.zeros((2, 3), np.int8), TransposeParams((1, 1)))
