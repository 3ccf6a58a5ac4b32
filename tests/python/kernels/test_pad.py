"""PAD: C kt_pad_s8 == golden pad, and its gradient kt_pad_grad_s8 == golden pad_grad (the padded
gradient cropped back), every byte (rank 1-4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS, int8s, rng, shapes

from kilotrain.kernels import backward as cbackward
from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import PadParams
from kilotrain.reference.pad import pad as golden_pad
from kilotrain.reference.pad_grad import pad_grad as golden_pad_grad


@st.composite
def pad_cases(draw: st.DrawFn):
    r = rng(draw)
    shape = draw(shapes())
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in shape)
    return int8s(r, shape), PadParams(paddings=pads, pad_value=draw(st.integers(-128, 127)))


@KERNEL_SETTINGS
@given(case=pad_cases())
def test_pad_matches_golden(case) -> None:
    x, p = case
    np.testing.assert_array_equal(ckernels.pad(x, p), golden_pad(x, p))


def test_pad_rejects_negative_padding() -> None:
    x = np.zeros((2, 2), np.int8)
    with pytest.raises(ValueError):
        ckernels.pad(x, PadParams(((0, -1), (0, 0)), 0))


@KERNEL_SETTINGS
@given(case=pad_cases())
def test_pad_grad_matches_golden(case) -> None:
    x, p = case
    r = np.random.default_rng(int(x.size))
    g = r.integers(-128, 128, golden_pad(x, p).shape).astype(np.int8)  # a gradient of the padded output
    got = cbackward.pad_grad(g, p)
    np.testing.assert_array_equal(got, golden_pad_grad(g, p))
    assert got.shape == x.shape


def test_pad_grad_rejects_what_the_padding_does_not_fit() -> None:
    with pytest.raises(ValueError, match="smaller than paddings"):
        cbackward.pad_grad(np.zeros((2, 3), np.int8), PadParams(((1, 1), (0, 0)), 0))
