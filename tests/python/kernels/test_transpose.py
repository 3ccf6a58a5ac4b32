"""TRANSPOSE: C kt_transpose_s8 == golden transpose, every byte (rank 1-4, every permutation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS, int8s, rng, shapes

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import TransposeParams
from kilotrain.reference.transpose import transpose as golden_transpose


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
