"""DEPTHWISE_CONV_2D: C kt_depthwise_conv2d_s8 == golden depthwise_conv2d, every byte."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import (
    KERNEL_SETTINGS,
    activations,
    biases,
    geometries,
    input_offsets,
    int8s,
    output_offsets,
    per_channel,
    rng,
    weights,
)

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import DepthwiseConvParams
from kilotrain.reference.depthwise_conv2d import depthwise_conv2d as golden_dw


@st.composite
def dw_cases(draw: st.DrawFn):
    r = rng(draw)
    n = draw(st.integers(1, 2))
    # many channels sometimes, to cross the C kernel's 32-channel accumulator blocks
    cin = draw(st.one_of(st.integers(1, 6), st.integers(30, 40)))
    dm = draw(st.one_of(st.integers(1, 3), st.integers(4, 40))) if cin <= 6 else draw(st.integers(1, 2))
    cout = cin * dm
    gh = draw(geometries(max_size=10, max_kernel=7, max_stride=2))
    gw = draw(geometries(max_size=10, max_kernel=7, max_stride=2))
    x = int8s(r, (n, gh.size, gw.size, cin))
    filt = weights(r, (1, gh.kernel, gw.kernel, cout))
    bias = biases(draw, r, cout)
    mult, shift = per_channel(draw, cout, gh.kernel * gw.kernel)
    lo, hi = draw(activations())
    p = DepthwiseConvParams(
        stride=(gh.stride, gw.stride),
        padding=(gh.pad_before, gw.pad_before),
        dilation=(gh.dilation, gw.dilation),
        depth_multiplier=dm,
        input_offset=draw(input_offsets),
        output_offset=draw(output_offsets),
        multiplier=mult,
        shift=shift,
        act_min=lo,
        act_max=hi,
    )
    return x, filt, bias, p, (gh.out, gw.out)


@KERNEL_SETTINGS
@given(case=dw_cases())
def test_depthwise_conv2d_matches_golden(case) -> None:
    x, filt, bias, p, out_hw = case
    np.testing.assert_array_equal(
        ckernels.depthwise_conv2d(x, filt, bias, p, out_hw), golden_dw(x, filt, bias, p, out_hw)
    )


@pytest.mark.parametrize("k,stride", [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (7, 2)])
def test_depthwise_mobilenet_like_layers(k: int, stride: int) -> None:
    """The MCUNet / MobileNet shapes: k x k, stride 1/2, SAME padding, 48 channels."""
    r = np.random.default_rng(k * 10 + stride)
    h = 15
    out = -(-h // stride)
    pad = max((out - 1) * stride + k - h, 0) // 2
    x = int8s(r, (1, h, h, 48))
    filt = weights(r, (1, k, k, 48))
    bias = r.integers(-3000, 3000, 48).astype(np.int32)
    mult = r.integers(1 << 30, 1 << 31, 48).astype(np.int32)
    shift = r.integers(-9, -5, 48).astype(np.int32)
    p = DepthwiseConvParams((stride, stride), (pad, pad), (1, 1), 1, 12, -7, mult, shift, -7, 127)
    np.testing.assert_array_equal(
        ckernels.depthwise_conv2d(x, filt, bias, p, (out, out)),
        golden_dw(x, filt, bias, p, (out, out)),
    )


def test_depthwise_rejects_channel_mismatch() -> None:
    r = np.random.default_rng(1)
    m, s = np.full(6, 1 << 30, np.int32), np.full(6, -3, np.int32)
    p = DepthwiseConvParams((1, 1), (0, 0), (1, 1), 2, 0, 0, m, s)
    with pytest.raises(ckernels.KernelError):  # Cout 6 != Cin 4 * 2
        ckernels.depthwise_conv2d(int8s(r, (1, 4, 4, 4)), weights(r, (1, 3, 3, 6)), None, p, (2, 2))
