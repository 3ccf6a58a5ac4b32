"""Parameter records of the integer backward / update kernels (docs/numerics.md, "Backward and
update: the integer training contract"), shared by the numpy golden ops (``kilotrain.reference.*_grad``,
``*_update``), the C kernels (``include/kt_train_kernels.h``) and their ctypes wrappers
(``kilotrain.kernels.backward``).

Records hold only *compile-time* integers, derived from float scales by the builder functions at
the bottom of this module (the only place floats appear). Run-time gradient exponents (``e_gy``,
``e_gx``, ``e_z`` ...) are plain int arguments of the ops, never part of a record.

Conventions:

* a gradient tensor ``g`` is int8 in [-127, 127] with a power-of-two scale: ``real = g * 2**e``;
* a ``(multiplier, shift)`` pair is a QuantizeMultiplier result: ``real ~= multiplier *
  2**(shift - 31)``, ``multiplier`` in ``[2**30, 2**31 - 1]`` or 0; compile-time shifts are in
  ``[-31, 63]`` (:data:`SHIFT_MIN`, :data:`SHIFT_MAX`); run-time exponents are in ``[-64, 64]``
  (:data:`EXP_MIN`, :data:`EXP_MAX`; the scale policy keeps them in ``[-24, 8]``);
* padding fields give the *top/left* padding; shapes come from the tensors and the ``in_hw``
  argument, so SAME padding with an odd total needs no extra field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from kilotrain.contract import (
    EXP_MAX,
    EXP_MIN,
    HEADROOM_MAX,
    SHIFT_MAX,
    SHIFT_MIN,
)
from kilotrain.model.geometry import pair
from kilotrain.model.quantize import quantize_multiplier, quantize_multipliers
from kilotrain.reference.grad_quant import GradStats  # noqa: F401  (re-exported; defined with to_grad8)

I32 = npt.NDArray[np.int32]


@dataclass(frozen=True)
class ConvGradParams:
    """CONV_2D input gradient. gy (N,OH,OW,Cout) int8, filter (Cout,KH,KW,Cin) int8.

    ``chan_multiplier/chan_shift`` (Cout,) = QuantizeMultiplier(s_W[co] / max s_W) (<= 1);
    ``headroom`` H in [0, 8]; ``x_multiplier/x_shift`` = QuantizeMultiplier(max s_W).
    """

    stride: tuple[int, int]  # (h, w) >= 1
    padding: tuple[int, int]  # (top, left) >= 0
    dilation: tuple[int, int]  # >= 1
    chan_multiplier: I32  # (Cout,)
    chan_shift: I32  # (Cout,)
    headroom: int
    x_multiplier: int
    x_shift: int


@dataclass(frozen=True)
class DepthwiseConvGradParams:
    """DEPTHWISE_CONV_2D input gradient. gy (N,OH,OW,Cout), filter (1,KH,KW,Cout),
    Cout = Cin * depth_multiplier; fields as :class:`ConvGradParams`."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    depth_multiplier: int  # >= 1
    chan_multiplier: I32  # (Cout,)
    chan_shift: I32  # (Cout,)
    headroom: int
    x_multiplier: int
    x_shift: int


@dataclass(frozen=True)
class FullyConnectedGradParams:
    """FULLY_CONNECTED input gradient. gy (N,Cout), weights (Cout,Cin); fields as
    :class:`ConvGradParams` (the conv formula on a 1x1 image)."""

    chan_multiplier: I32  # (Cout,)
    chan_shift: I32  # (Cout,)
    headroom: int
    x_multiplier: int
    x_shift: int


@dataclass(frozen=True)
class UpdateParams:
    """Fused QAS SGD update of a conv / depthwise / FC layer (weights of the first
    ``n_weight_channels`` output channels, bias of all).

    ``weight_multiplier/weight_shift`` (Cout,) = QuantizeMultiplier(lr * s_x / s_W[co]) (QAS)
    (entries >= n_weight_channels are unused); ``bias_multiplier/bias_shift`` (Cout,) =
    QuantizeMultiplier(lr / (s_x * s_W[co])); ``input_zero_point`` zx of the saved input x.
    Geometry (``stride``, ``padding``, ``dilation``, ``depth_multiplier``) is the forward op's;
    FC ignores it. ``stochastic``: the weight deltas are rounded stochastically with the update
    kernel's run-time ``key`` (docs/numerics.md); else to nearest. Biases always round to nearest.
    """

    n_weight_channels: int  # [0, Cout]; 0 = bias only
    weight_multiplier: I32  # (Cout,)
    weight_shift: I32  # (Cout,)
    bias_multiplier: I32  # (Cout,)
    bias_shift: I32  # (Cout,)
    input_zero_point: int  # [-128, 127]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    depth_multiplier: int = 1  # depthwise only
    stochastic: bool = False  # weights: stochastic rounding with the step's key (else nearest)


@dataclass(frozen=True)
class ReluMaskParams:
    """ReLU mask of a forward op with a fused RELU/RELU6: bit = act_min < y (RELU) or
    act_min < y < act_max (``relu6``)."""

    act_min: int  # [-128, 127]
    act_max: int  # [act_min, 127]
    relu6: bool


@dataclass(frozen=True)
class PoolGradParams:
    """AVERAGE_POOL_2D / MEAN input gradient (windows of equal size n = filter_h * filter_w, no
    padding). ``count_multiplier/count_shift`` = QuantizeMultiplier(1 / n)."""

    filter: tuple[int, int]  # (h, w) >= 1
    stride: tuple[int, int]  # >= 1
    count_multiplier: int
    count_shift: int


@dataclass(frozen=True)
class SoftmaxCeParams:
    """Softmax cross-entropy from int8 logits: ``exp_table[d] = round(2**15 * exp(-d * s_z))``,
    d in [0, 255], uint16 (entry 0 is 32768)."""

    exp_table: npt.NDArray[np.uint16]  # (256,)


# --- compile-time builders (floats allowed here only) -------------------------------------------


def headroom(k: int) -> int:
    """H = min(8, floor(log2((2**31 - 1) / (K * 127 * 128)))) for K terms per accumulator;
    ValueError if H < 0 (the layer's input gradient cannot be accumulated in int32)."""
    if k < 1:
        raise ValueError(f"headroom: K = {k} terms, expected >= 1")
    if k * 127 * 128 > 2**31 - 1:
        raise ValueError(
            f"input gradient: K = {k} terms per accumulator need |acc| <= K*127*128 = "
            f"{k * 127 * 128} >= 2^31 (headroom H < 0); expected K <= {(2**31 - 1) // (127 * 128)}"
        )
    h = 0
    while h < HEADROOM_MAX and k * 127 * 128 * (1 << (h + 1)) <= 2**31 - 1:
        h += 1
    return h


def taps_per_input(kernel: int, stride: int, dilation: int) -> int:
    """Max number of filter taps along one axis that read the same input position:
    taps kh with kh*dilation congruent mod stride, i.e. ceil(kernel / (stride / gcd(stride,
    dilation))) (= ceil(kernel/stride) for dilation 1)."""
    period = stride // math.gcd(stride, dilation)
    return -(-kernel // period)


def _scales(s_w: npt.ArrayLike, cout: int) -> npt.NDArray[np.float64]:
    s = np.asarray(s_w, dtype=np.float64).ravel()
    if s.size == 1:
        s = np.full(cout, s[0])
    if s.shape != (cout,):
        raise ValueError(f"weight scales: {np.size(s_w)} values for {cout} output channels")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("weight scales must be finite and > 0")
    return np.array(s, dtype=np.float64)


def _fold(s_w: npt.NDArray[np.float64], k: int) -> tuple[I32, I32, int, int, int]:
    smax = float(np.max(s_w))
    cm, cs = quantize_multipliers(s_w / smax)
    xm, xs = quantize_multiplier(smax)
    return cm, cs, headroom(k), xm, xs


def conv_grad_params(
    s_w: npt.ArrayLike,
    kernel: tuple[int, int],
    cout: int,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> ConvGradParams:
    """Build a :class:`ConvGradParams` from the weight scales s_w (scalar or (Cout,)).
    K = taps_per_input(KH) * taps_per_input(KW) * Cout; ValueError if H < 0."""
    s = _scales(s_w, cout)
    k = taps_per_input(kernel[0], stride[0], dilation[0]) * taps_per_input(kernel[1], stride[1], dilation[1]) * cout
    cm, cs, h, xm, xs = _fold(s, k)
    return ConvGradParams(pair(stride), pair(padding), pair(dilation), cm, cs, h, xm, xs)


def depthwise_conv_grad_params(
    s_w: npt.ArrayLike,
    kernel: tuple[int, int],
    cout: int,
    depth_multiplier: int = 1,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> DepthwiseConvGradParams:
    """Build a :class:`DepthwiseConvGradParams`; K = taps(KH) * taps(KW) * depth_multiplier."""
    s = _scales(s_w, cout)
    k = (
        taps_per_input(kernel[0], stride[0], dilation[0])
        * taps_per_input(kernel[1], stride[1], dilation[1])
        * depth_multiplier
    )
    cm, cs, h, xm, xs = _fold(s, k)
    return DepthwiseConvGradParams(
        pair(stride), pair(padding), pair(dilation), int(depth_multiplier), cm, cs, h, xm, xs
    )


def fully_connected_grad_params(s_w: npt.ArrayLike, cout: int) -> FullyConnectedGradParams:
    """Build a :class:`FullyConnectedGradParams`; K = Cout."""
    cm, cs, h, xm, xs = _fold(_scales(s_w, cout), cout)
    return FullyConnectedGradParams(cm, cs, h, xm, xs)


def n_channels(ratio: float, cout: int) -> int:
    """ceil(ratio * Cout) computed exactly (ratio in [0, 1], e.g. 1/8, 1/4, 1/2, 1)."""
    r = Fraction(ratio).limit_denominator(1 << 20)
    if not 0 <= r <= 1:
        raise ValueError(f"channel ratio {ratio} not in [0, 1]")
    return math.ceil(r * cout)


def update_params(
    lr: float,
    s_x: float,
    s_w: npt.ArrayLike,
    ratio: float,
    *,
    cout: int,
    input_zero_point: int,
    qas: bool = True,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    depth_multiplier: int = 1,
    out_pixels: int | None = None,
    stochastic: bool = True,
) -> UpdateParams:
    """Build an :class:`UpdateParams`: n = ceil(ratio * Cout) weight channels; QAS multipliers
    lr*s_x/s_W (weights) and lr/(s_x*s_W) (bias), or lr*s_x*s_W for both without QAS.
    ``out_pixels`` (P = N*OH*OW per step), when given, is checked against the overflow bound
    P*128*255 < 2**31 (ValueError otherwise). ``stochastic``: stochastic rounding of the weight
    update (default), else round to nearest."""
    s = _scales(s_w, cout)
    if not (lr > 0 and s_x > 0):
        raise ValueError(f"update_params: lr {lr} and s_x {s_x} must be > 0")
    if out_pixels is not None and out_pixels * 128 * 255 > 2**31 - 1:
        raise ValueError(
            f"update: {out_pixels} output pixels overflow the int32 weight-gradient accumulator "
            f"(P*128*255 >= 2^31); expected P <= {(2**31 - 1) // (128 * 255)}"
        )
    lr, s_x = float(lr), float(s_x)
    if qas:
        wreal = lr * s_x / s
        breal = lr / (s_x * s)
    else:
        wreal = lr * s_x * s
        breal = lr * s_x * s
    wm, ws = quantize_multipliers(wreal)
    bm, bs = quantize_multipliers(breal)
    for name, sh in (("weight", ws), ("bias", bs)):
        if np.any(sh > SHIFT_MAX):
            raise ValueError(f"update_params: {name} multiplier too large (shift > {SHIFT_MAX})")
    return UpdateParams(
        n_channels(ratio, cout),
        wm,
        ws,
        bm,
        bs,
        int(input_zero_point),
        pair(stride),
        pair(padding),
        pair(dilation),
        int(depth_multiplier),
        bool(stochastic),
    )


def pool_grad_params(filter_hw: tuple[int, int], stride: tuple[int, int]) -> PoolGradParams:
    """Build a :class:`PoolGradParams` (1/n with n = filter_h * filter_w). MEAN over (H, W) is
    ``pool_grad_params((H, W), (H, W))``."""
    n = int(filter_hw[0]) * int(filter_hw[1])
    if n < 1 or min(stride) < 1:
        raise ValueError(f"pool_grad_params: filter {filter_hw}, stride {stride}")
    m, s = quantize_multiplier(1.0 / n)
    return PoolGradParams(pair(filter_hw), pair(stride), m, s)


def softmax_ce_params(s_z: float) -> SoftmaxCeParams:
    """Build the 256-entry exp table E[d] = round(2**15 * exp(-d * s_z)) (float64, halves away
    from zero) of logits with scale s_z > 0."""
    if not (s_z > 0 and math.isfinite(s_z)):
        raise ValueError(f"softmax_ce_params: logit scale {s_z} must be finite and > 0")
    d = np.arange(256, dtype=np.float64)
    v = 32768.0 * np.exp(-d * float(s_z))
    table = np.floor(v + 0.5)
    return SoftmaxCeParams(table.astype(np.uint16))


def check_exponent(name: str, e: int) -> int:
    """Validate a run-time exponent argument (int in [EXP_MIN, EXP_MAX])."""
    if not EXP_MIN <= int(e) <= EXP_MAX:
        raise ValueError(f"{name} = {e} not in [{EXP_MIN}, {EXP_MAX}]")
    return int(e)


def check_shifts(name: str, shifts: npt.ArrayLike) -> None:
    """Validate compile-time shifts (in [SHIFT_MIN, SHIFT_MAX])."""
    a = np.asarray(shifts, dtype=np.int64)
    if a.size and (a.min() < SHIFT_MIN or a.max() > SHIFT_MAX):
        raise ValueError(f"{name} not in [{SHIFT_MIN}, {SHIFT_MAX}]")
