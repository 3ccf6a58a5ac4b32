"""FULLY_CONNECTED: C kt_fully_connected_s8 == golden fully_connected, every byte."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import (
    KERNEL_SETTINGS,
    activations,
    biases,
    input_offsets,
    int8s,
    output_offsets,
    per_channel,
    rng,
    weights,
)

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import FullyConnectedParams
from kilotrain.reference.fully_connected import fully_connected as golden_fc


@st.composite
def fc_cases(draw: st.DrawFn):
    r = rng(draw)
    n = draw(st.integers(1, 4))
    cin = draw(st.integers(1, 64))
    cout = draw(st.integers(1, 40))
    x = int8s(r, (n, cin))
    w = weights(r, (cout, cin))
    bias = biases(draw, r, cout)
    mult, shift = per_channel(draw, cout if draw(st.booleans()) else 1, cin)
    lo, hi = draw(activations())
    p = FullyConnectedParams(
        input_offset=draw(input_offsets),
        output_offset=draw(output_offsets),
        multiplier=mult,
        shift=shift,
        act_min=lo,
        act_max=hi,
    )
    return x, w, bias, p


@KERNEL_SETTINGS
@given(case=fc_cases(), s=st.integers(0, 1 << 16))
def test_fully_connected_matches_golden(case, s: int) -> None:
    x, w, bias, p = case
    want = golden_fc(x, w, bias, p)
    np.testing.assert_array_equal(ckernels.fully_connected(x, w, bias, p), want)
    split = s % (w.shape[0] + 1)
    np.testing.assert_array_equal(ckernels.fully_connected(x, w, bias, p, split=split), want)


def test_fully_connected_classifier_head() -> None:
    """A realistic head: 1280 -> 10, per-tensor requantization."""
    r = np.random.default_rng(3)
    x, w = int8s(r, (2, 1280)), weights(r, (10, 1280))
    bias = r.integers(-20000, 20000, 10).astype(np.int32)
    p = FullyConnectedParams(-3, 11, np.array([1518500250], np.int32), np.array([-12], np.int32))
    np.testing.assert_array_equal(ckernels.fully_connected(x, w, bias, p), golden_fc(x, w, bias, p))


def test_fully_connected_rejects_bad_shapes() -> None:
    r = np.random.default_rng(2)
    p = FullyConnectedParams(0, 0, np.array([1 << 30], np.int32), np.array([-1], np.int32))
    with pytest.raises(ckernels.KernelError):
        ckernels.fully_connected(int8s(r, (1, 5)), weights(r, (3, 6)), None, p)
