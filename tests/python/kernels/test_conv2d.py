"""CONV_2D: C kt_conv2d_s8 (and its 1x1 fast path, and kt_conv2d_packed_s8 with a packed frozen
filter) == golden conv2d, every byte."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given
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

from kilotrain.contract import PACKED_MAX_K
from kilotrain.kernels import forward as ckernels
from kilotrain.kernels.build import KernelError
from kilotrain.kernels.packed import pack_conv, packed_k, why_not_packed
from kilotrain.model.params import ConvParams
from kilotrain.reference.conv2d import conv2d as golden_conv2d


@st.composite
def conv_cases(draw: st.DrawFn, one_by_one: bool = False):
    r = rng(draw)
    n = draw(st.integers(1, 2))
    # wide layers sometimes: the host path's tiles of 32 output channels (and a partial one), and
    # 1x1 inputs wider than its 64 channels (the portable loop)
    cin = draw(st.one_of(st.integers(1, 8), st.integers(60, 70))) if one_by_one else draw(st.integers(1, 8))
    cout = draw(st.one_of(st.integers(1, 8), st.integers(30, 40)))
    if one_by_one:
        gh = gw = None
        h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        kh = kw = 1
        stride, padding, dilation, out_hw = (1, 1), (0, 0), (1, 1), (h, w)
    else:
        gh, gw = draw(geometries()), draw(geometries())
        h, w, kh, kw = gh.size, gw.size, gh.kernel, gw.kernel
        stride, padding = (gh.stride, gw.stride), (gh.pad_before, gw.pad_before)
        dilation, out_hw = (gh.dilation, gw.dilation), (gh.out, gw.out)
    x = int8s(r, (n, h, w, cin))
    filt = weights(r, (cout, kh, kw, cin))
    bias = biases(draw, r, cout)
    mult, shift = per_channel(draw, cout, kh * kw * cin)
    lo, hi = draw(activations())
    p = ConvParams(
        stride=stride,
        padding=padding,
        dilation=dilation,
        input_offset=draw(input_offsets),
        output_offset=draw(output_offsets),
        multiplier=mult,
        shift=shift,
        act_min=lo,
        act_max=hi,
    )
    return x, filt, bias, p, out_hw


@KERNEL_SETTINGS
@given(case=conv_cases(), s=st.integers(0, 1 << 16))
def test_conv2d_matches_golden(case, s: int) -> None:
    x, filt, bias, p, out_hw = case
    want = golden_conv2d(x, filt, bias, p, out_hw)
    np.testing.assert_array_equal(ckernels.conv2d(x, filt, bias, p, out_hw), want)
    # the filter in two parts (trainable rows in SRAM, frozen rows in flash) gives the same output
    split = s % (filt.shape[0] + 1)
    np.testing.assert_array_equal(ckernels.conv2d(x, filt, bias, p, out_hw, split=split), want)


@KERNEL_SETTINGS
@given(case=conv_cases(one_by_one=True), s=st.integers(0, 1 << 16))
def test_conv2d_1x1_fast_path_matches_golden(case, s: int) -> None:
    x, filt, bias, p, out_hw = case
    want = golden_conv2d(x, filt, bias, p, out_hw)
    np.testing.assert_array_equal(ckernels.conv2d(x, filt, bias, p, out_hw), want)  # wrapper
    np.testing.assert_array_equal(ckernels.conv2d_1x1(x, filt, bias, p), want)  # direct
    split = s % (filt.shape[0] + 1)
    np.testing.assert_array_equal(ckernels.conv2d(x, filt, bias, p, out_hw, split=split), want)
    np.testing.assert_array_equal(ckernels.conv2d_1x1(x, filt, bias, p, split=split), want)


def test_conv2d_mobilenet_like_layer() -> None:
    """A larger realistic layer: 3x3 stride 2 SAME (odd total), 16 -> 24 channels."""
    r = np.random.default_rng(7)
    x = int8s(r, (1, 17, 17, 16))
    filt = weights(r, (24, 3, 3, 16))
    bias = r.integers(-5000, 5000, 24).astype(np.int32)
    mult = r.integers(1 << 30, 1 << 31, 24).astype(np.int32)
    shift = r.integers(-10, -6, 24).astype(np.int32)
    p = ConvParams((2, 2), (1, 1), (1, 1), 3, -5, mult, shift, 0, 127)
    np.testing.assert_array_equal(ckernels.conv2d(x, filt, bias, p, (9, 9)), golden_conv2d(x, filt, bias, p, (9, 9)))


def test_conv2d_rejects_bad_arguments() -> None:
    r = np.random.default_rng(0)
    x, filt = int8s(r, (1, 4, 4, 3)), weights(r, (2, 3, 3, 3))
    m, s = np.full(2, 1 << 30, np.int32), np.full(2, -3, np.int32)
    bad = [
        ConvParams((0, 1), (0, 0), (1, 1), 0, 0, m, s),  # stride 0
        ConvParams((1, 1), (0, 0), (0, 1), 0, 0, m, s),  # dilation 0
        ConvParams((1, 1), (0, 0), (1, 1), 129, 0, m, s),  # input offset out of range
        ConvParams((1, 1), (0, 0), (1, 1), 0, 0, m, np.full(2, 31, np.int32)),  # shift
        ConvParams((1, 1), (0, 0), (1, 1), 0, 0, m, s, act_min=10, act_max=9),
    ]
    for p in bad:
        with pytest.raises(ckernels.KernelError):
            ckernels.conv2d(x, filt, None, p, (2, 2))
    with pytest.raises(ckernels.KernelError):  # Cin mismatch
        ckernels.conv2d(x, weights(r, (2, 3, 3, 4)), None, bad[0].__class__((1, 1), (0, 0), (1, 1), 0, 0, m, s), (2, 2))
    with pytest.raises(ckernels.KernelError):  # the 1x1 path refuses a strided call
        ckernels.conv2d_1x1(x, weights(r, (2, 1, 1, 3)), None, ConvParams((2, 2), (0, 0), (1, 1), 0, 0, m, s))


@st.composite
def packed_cases(draw: st.DrawFn, one_by_one: bool = False):
    """Layers the packer takes: windows of up to PACKED_MAX_K bytes, every channel in the short
    output stage (shift <= -2, multiplier >= 0), the whole int8 range as the clamp."""
    x, filt, bias, p, out_hw = draw(conv_cases(one_by_one=one_by_one))
    assume(packed_k(filt.shape) <= PACKED_MAX_K)
    mult, shift = per_channel(draw, filt.shape[0], filt[0].size)
    p = replace(p, multiplier=mult, shift=np.minimum(shift, -2).astype(np.int32), act_min=-128, act_max=127)
    assert why_not_packed(filt.shape, p) is None
    return x, filt, bias, p, out_hw


@KERNEL_SETTINGS
@given(case=packed_cases(), runtime_bias=st.booleans())
def test_packed_conv2d_matches_golden(case, runtime_bias: bool) -> None:
    """The bias folded into the records, or added at run time (a trained bias)."""
    x, filt, bias, p, out_hw = case
    want = golden_conv2d(x, filt, bias, p, out_hw)
    np.testing.assert_array_equal(ckernels.conv2d_packed(x, filt, bias, p, out_hw, runtime_bias=runtime_bias), want)


@KERNEL_SETTINGS
@given(case=packed_cases(one_by_one=True), runtime_bias=st.booleans())
def test_packed_conv2d_1x1_matches_golden(case, runtime_bias: bool) -> None:
    """1x1 layers: a window of whole pixels (8 or more channels read in place, the 8-byte loop of
    the DSP build) or of a few channels padded to 8."""
    x, filt, bias, p, out_hw = case
    want = golden_conv2d(x, filt, bias, p, out_hw)
    np.testing.assert_array_equal(ckernels.conv2d_packed(x, filt, bias, p, out_hw, runtime_bias=runtime_bias), want)


def _packable_layer() -> tuple:
    r = np.random.default_rng(5)
    x = r.integers(-128, 128, (1, 6, 6, 8), dtype=np.int64).astype(np.int8)
    filt = r.integers(-127, 128, (5, 3, 3, 8), dtype=np.int64).astype(np.int8)
    bias = r.integers(-(1 << 12), 1 << 12, 5).astype(np.int32)
    p = ConvParams(
        stride=(1, 1),
        padding=(1, 1),
        dilation=(1, 1),
        input_offset=7,
        output_offset=-3,
        multiplier=np.full(5, 1 << 30, np.int32),
        shift=np.full(5, -9, np.int32),
    )
    return x, filt, bias, p


def test_packer_refuses_what_the_short_form_does_not_cover() -> None:
    _, filt, bias, p = _packable_layer()
    assert why_not_packed(filt.shape, p) is None
    assert "clamp" in str(why_not_packed(filt.shape, replace(p, act_min=0)))
    assert "short form" in str(why_not_packed(filt.shape, replace(p, shift=np.full(5, -1, np.int32))))
    assert "short form" in str(why_not_packed(filt.shape, replace(p, multiplier=np.full(5, -(1 << 30), np.int32))))
    assert "window of 136 bytes" in str(why_not_packed((5, 1, 1, 129), p))
    with pytest.raises(ValueError, match="cannot pack"):
        pack_conv(filt, bias, replace(p, act_max=6))


def test_packed_kernel_refuses_a_bad_table_or_clamp() -> None:
    """The kernel checks every record's output stage and the clamp (KT_ARG_ERROR, nothing run)."""
    x, filt, bias, p = _packable_layer()
    want = golden_conv2d(x, filt, bias, p, (6, 6))
    records, k = pack_conv(filt, bias, p)
    np.testing.assert_array_equal(ckernels.conv2d_packed(x, filt, bias, p, (6, 6), records), want)
    bad = records.copy()
    bad[3, k // 2 + 2] += 1  # c_hi no longer 2^(sh - 1)
    with pytest.raises(KernelError):
        ckernels.conv2d_packed(x, filt, bias, p, (6, 6), bad)
    bad = records.copy()
    bad[0, k // 2 + 4] = 0  # another output offset than the call's
    with pytest.raises(KernelError):
        ckernels.conv2d_packed(x, filt, bias, p, (6, 6), bad)
    with pytest.raises(KernelError):
        ckernels.conv2d_packed(x, filt, bias, replace(p, act_min=-100), (6, 6), records)
