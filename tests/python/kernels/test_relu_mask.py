"""ReLU masks: C kt_relu_mask_pack_s8 / kt_relu_mask_apply_s8 == golden relu_mask_pack /
relu_mask_apply, every byte (including the zero padding bits of the last byte)."""

from __future__ import annotations

import numpy as np
from grad_strategies import GRAD_SETTINGS, grads
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import activations, int8s, rng, shapes

from kilotrain.kernels import backward as ckernels_train
from kilotrain.reference.grad_params import ReluMaskParams
from kilotrain.reference.relu_mask import mask_bytes, relu_mask_apply, relu_mask_pack


@GRAD_SETTINGS
@given(data=st.data(), shape=shapes(min_rank=1, max_rank=4, max_dim=9), relu6=st.booleans())
def test_relu_mask_matches_golden(data: st.DataObject, shape, relu6: bool) -> None:
    r = rng(data.draw)
    lo, hi = data.draw(activations())
    p = ReluMaskParams(lo, hi, relu6)
    y = np.clip(int8s(r, shape), lo, hi).astype(np.int8)  # a forward output lies in [lo, hi]
    mask = relu_mask_pack(y, p)
    np.testing.assert_array_equal(ckernels_train.relu_mask_pack(y, p), mask)
    assert mask.shape == (mask_bytes(y.size),)
    g = grads(data.draw, r, shape)
    want = relu_mask_apply(g, mask)
    np.testing.assert_array_equal(ckernels_train.relu_mask_apply(g, mask), want)
    bits = (y > lo) & ((y < hi) if relu6 else True)
    np.testing.assert_array_equal(want, np.where(bits, g, 0))


def test_relu_mask_bit_order() -> None:
    y = np.array([1, 0, 0, 5, 0, 0, 0, 0, 9, 0], np.int8)  # RELU with act_min 0
    p = ReluMaskParams(0, 127, False)
    for impl in (relu_mask_pack, ckernels_train.relu_mask_pack):
        assert impl(y, p).tolist() == [0b00001001, 0b00000001]
    p6 = ReluMaskParams(0, 6, True)
    y6 = np.array([0, 3, 6, 5], np.int8)
    for impl in (relu_mask_pack, ckernels_train.relu_mask_pack):
        assert impl(y6, p6).tolist() == [0b1010]
    assert ckernels_train.relu_mask_pack(np.zeros(0, np.int8), p).shape == (0,)
