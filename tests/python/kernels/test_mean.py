"""MEAN over H and W: C kt_mean_s8 == golden mean, every byte."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import (
    KERNEL_SETTINGS,
    input_offsets,
    int8s,
    multipliers,
    output_offsets,
    rng,
    shifts,
)

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import MeanParams
from kilotrain.model.quantize import quantize_multiplier
from kilotrain.reference.mean import mean as golden_mean


@st.composite
def mean_cases(draw: st.DrawFn):
    r = rng(draw)
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 12)),
        draw(st.integers(1, 12)),
        draw(st.one_of(st.integers(1, 8), st.integers(30, 70))),
    )
    kind = draw(st.sampled_from(["same", "scaled", "raw"]))
    in_off, out_off = draw(input_offsets), draw(output_offsets)
    if kind == "same":  # equal quantization: multiplier 1.0
        mult, shift = quantize_multiplier(1.0)
        out_off = -in_off if in_off != 128 else -127
    elif kind == "scaled":
        mult, shift = quantize_multiplier(2.0 ** draw(st.floats(-4.0, 4.0)))
    else:
        mult, shift = draw(multipliers), draw(shifts)
    return int8s(r, shape), MeanParams(in_off, out_off, mult, shift)


@KERNEL_SETTINGS
@given(case=mean_cases())
def test_mean_matches_golden(case) -> None:
    x, p = case
    np.testing.assert_array_equal(ckernels.mean(x, p), golden_mean(x, p))


def test_mean_mobilenet_head() -> None:
    """MobileNetV2's global mean: 7x7x1280, equal quantization."""
    r = np.random.default_rng(11)
    x = int8s(r, (1, 7, 7, 1280))
    m, s = quantize_multiplier(1.0)
    p = MeanParams(128, -128, m, s)
    np.testing.assert_array_equal(ckernels.mean(x, p), golden_mean(x, p))
