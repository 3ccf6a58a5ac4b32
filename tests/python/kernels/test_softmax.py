"""SOFTMAX int8: C kt_softmax_s8 == golden softmax, every byte."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS, int8s, rng

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import SoftmaxParams
from kilotrain.model.quantize import quantize_multiplier_greater_than_one
from kilotrain.reference.softmax import softmax as golden_softmax


def tflm_params(input_scale: float, beta: float = 1.0) -> SoftmaxParams:
    """TFLM's PreprocessSoftmaxScaling + CalculateInputRadius for int8 input (5 integer bits)."""
    real = min(beta * input_scale * float(1 << 26), float((1 << 31) - 1))
    mult, left = quantize_multiplier_greater_than_one(real)
    radius = math.floor(31.0 * float(1 << 26) / float(1 << left))
    return SoftmaxParams(input_multiplier=mult, input_left_shift=left, diff_min=-radius)


@st.composite
def softmax_cases(draw: st.DrawFn):
    r = rng(draw)
    outer = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    depth = draw(st.one_of(st.integers(1, 16), st.integers(100, 300)))
    x = int8s(r, (*outer, depth))
    if draw(st.booleans()):  # spread the logits more sometimes
        x = np.clip(x.astype(np.int64) * draw(st.integers(1, 3)) // 2, -128, 127).astype(np.int8)
    if draw(st.booleans()):
        p = tflm_params(2.0 ** draw(st.floats(-8.0, 0.0)), draw(st.sampled_from([1.0, 0.5, 2.0])))
    else:
        p = SoftmaxParams(
            input_multiplier=draw(st.integers(1 << 30, (1 << 31) - 1)),
            input_left_shift=draw(st.integers(0, 23)),
            diff_min=draw(st.integers(-256, 0)),
        )
    return x, p


@KERNEL_SETTINGS
@given(case=softmax_cases())
def test_softmax_matches_golden(case) -> None:
    x, p = case
    np.testing.assert_array_equal(ckernels.softmax(x, p), golden_softmax(x, p))


def test_softmax_classifier_row() -> None:
    r = np.random.default_rng(4)
    x = int8s(r, (3, 1000))
    x[:, 7] = 127  # one clear winner per row
    p = tflm_params(1 / 16)
    np.testing.assert_array_equal(ckernels.softmax(x, p), golden_softmax(x, p))


def test_softmax_reciprocal_exponent_out_of_range() -> None:
    """A huge row of equal logits makes TFLM's exponent check fail: both refuse."""
    x = np.zeros((1, 1024), np.int8)
    p = tflm_params(1 / 16)
    with pytest.raises(ValueError):
        golden_softmax(x, p)
    with pytest.raises(ckernels.KernelError):
        ckernels.softmax(x, p)
