"""ADD: C kt_add_s8 == golden add, every byte (same shapes and numpy broadcasting)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import (
    KERNEL_SETTINGS,
    activations,
    input_offsets,
    int8s,
    multipliers,
    output_offsets,
    rng,
    shapes,
)

from kilotrain.kernels import forward as ckernels
from kilotrain.model.params import AddParams
from kilotrain.model.quantize import quantize_multiplier
from kilotrain.reference.add import add as golden_add

log_scales = st.floats(min_value=-10.0, max_value=2.0).map(lambda e: 2.0**e)


@st.composite
def add_params(draw: st.DrawFn) -> AddParams:
    lo, hi = draw(activations())
    common = {
        "input1_offset": draw(input_offsets),
        "input2_offset": draw(input_offsets),
        "output_offset": draw(output_offsets),
        "act_min": lo,
        "act_max": hi,
    }
    if draw(st.booleans()):
        # derived from float scales the way TFLM's Prepare does it (left_shift 20)
        s1, s2, so = draw(log_scales), draw(log_scales), draw(log_scales)
        twice_max = 2.0 * max(s1, s2)
        m1, sh1 = quantize_multiplier(s1 / twice_max)
        m2, sh2 = quantize_multiplier(s2 / twice_max)
        mo, sho = quantize_multiplier(twice_max / ((1 << 20) * so))
        return AddParams(
            left_shift=20,
            input1_multiplier=m1,
            input1_shift=sh1,
            input2_multiplier=m2,
            input2_shift=sh2,
            output_multiplier=mo,
            output_shift=sho,
            **common,
        )
    # raw: any multipliers, right shifts (MultiplyByQuantizedMultiplierSmallerThanOneExp)
    right = st.integers(-31, 0)
    return AddParams(
        left_shift=draw(st.integers(0, 22)),
        input1_multiplier=draw(multipliers),
        input1_shift=draw(right),
        input2_multiplier=draw(multipliers),
        input2_shift=draw(right),
        output_multiplier=draw(multipliers),
        output_shift=draw(right),
        **common,
    )


@st.composite
def add_cases(draw: st.DrawFn):
    r = rng(draw)
    out = draw(shapes())

    def operand() -> tuple[int, ...]:
        dims = [d if draw(st.booleans()) else 1 for d in out]
        drop = draw(st.integers(0, len(dims) - 1))  # broadcasting also pads missing leading axes
        return tuple(dims[drop:])

    same = draw(st.booleans())
    sa, sb = (out, out) if same else (operand(), operand())
    return int8s(r, sa), int8s(r, sb), draw(add_params())


@KERNEL_SETTINGS
@given(case=add_cases())
def test_add_matches_golden(case) -> None:
    a, b, p = case
    np.testing.assert_array_equal(ckernels.add(a, b, p), golden_add(a, b, p))


@KERNEL_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    left=st.integers(0, 22),
    in_shifts=st.tuples(st.integers(-2, 0), st.integers(-2, 0)),
    in_mults=st.tuples(multipliers, multipliers),
    out_mult=multipliers,
    out_shift=st.integers(-31, -2),
    act=activations(),
)
def test_add_short_form_on_the_small_input_shifts(
    seed: int,
    left: int,
    in_shifts: tuple[int, int],
    in_mults: tuple[int, int],
    out_mult: int,
    out_shift: int,
    act: tuple[int, int],
) -> None:
    """The same-shape path's short form (kt_add_short) on input shifts 0, -1 and -2, each its own
    constant words, with any multipliers and left shifts: equal to golden."""
    r = np.random.default_rng(seed)
    p = AddParams(
        input1_offset=int(r.integers(-127, 129)),
        input2_offset=int(r.integers(-127, 129)),
        output_offset=int(r.integers(-128, 128)),
        left_shift=left,
        input1_multiplier=in_mults[0],
        input1_shift=in_shifts[0],
        input2_multiplier=in_mults[1],
        input2_shift=in_shifts[1],
        output_multiplier=out_mult,
        output_shift=out_shift,
        act_min=act[0],
        act_max=act[1],
    )
    a, b = int8s(r, (1, 4, 4, 8)), int8s(r, (1, 4, 4, 8))
    np.testing.assert_array_equal(ckernels.add(a, b, p), golden_add(a, b, p))


def test_add_broadcast_channel_vector() -> None:
    r = np.random.default_rng(5)
    a, b = int8s(r, (2, 7, 7, 16)), int8s(r, (16,))
    p = AddParams(3, -9, 4, 20, 1073741824, -1, 1518500250, -2, 1431655765, -17)
    np.testing.assert_array_equal(ckernels.add(a, b, p), golden_add(a, b, p))
    np.testing.assert_array_equal(ckernels.add(b, a, p), golden_add(b, a, p))


def test_add_rejects_incompatible_shapes() -> None:
    r = np.random.default_rng(6)
    p = AddParams(0, 0, 0, 20, 1 << 30, -1, 1 << 30, -1, 1 << 30, -20)
    with pytest.raises(ValueError):
        ckernels.add(int8s(r, (2, 3)), int8s(r, (3, 2)), p)
    with pytest.raises(ckernels.KernelError):
        ckernels.add(int8s(r, (2, 3)), int8s(r, (2, 3)), AddParams(0, 0, 0, 23, 0, 0, 0, 0, 0, 0))
