"""Shared argument checks of the backward golden ops (private)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.contract import CHAN_SHIFT_MAX, HEADROOM_MAX
from kilotrain.reference.grad_params import UpdateParams, check_exponent, check_shifts


def check_fold(
    name: str, chan_multiplier: npt.ArrayLike, chan_shift: npt.ArrayLike, headroom: int, x_shift: int, cout: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the per-channel fold of an input-gradient record; return int64 (Cout,) arrays."""
    cm = np.asarray(chan_multiplier, dtype=np.int64).ravel()
    cs = np.asarray(chan_shift, dtype=np.int64).ravel()
    if cm.shape != (cout,) or cs.shape != (cout,):
        raise ValueError(f"{name}: chan_multiplier/chan_shift need {cout} entries, got {cm.size}/{cs.size}")
    check_shifts(f"{name}: chan_shift", cs)
    if cs.size and cs.max() > CHAN_SHIFT_MAX:
        raise ValueError(f"{name}: chan_shift > {CHAN_SHIFT_MAX} (fold ratio > 1)")
    check_shifts(f"{name}: x_shift", [x_shift])
    if not 0 <= int(headroom) <= HEADROOM_MAX:
        raise ValueError(f"{name}: headroom {headroom} not in [0, {HEADROOM_MAX}]")
    return cm, cs


def check_exponents(name: str, **exps: int) -> None:
    for k, v in exps.items():
        check_exponent(f"{name}: {k}", v)


def check_geometry(name: str, stride: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: stride {stride} / dilation {dilation} must be >= 1 and padding {padding} >= 0")


def scatter_size(size: int, pad: int, out: int, k: int, s: int, d: int) -> int:
    """Rows of the zero-padded accumulator that every tap position of the forward op fits in."""
    return max(pad + size, (out - 1) * s + (k - 1) * d + 1)


def check_update(name: str, p: UpdateParams, cout: int) -> tuple[np.ndarray, ...]:
    """Validate an UpdateParams for Cout channels; return int64 (wm, ws, bm, bs)."""
    arrs = []
    for f in ("weight_multiplier", "weight_shift", "bias_multiplier", "bias_shift"):
        a = np.asarray(getattr(p, f), dtype=np.int64).ravel()
        if a.shape != (cout,):
            raise ValueError(f"{name}: {f} needs {cout} entries, got {a.size}")
        arrs.append(a)
    check_shifts(f"{name}: weight_shift", arrs[1])
    check_shifts(f"{name}: bias_shift", arrs[3])
    if not 0 <= int(p.n_weight_channels) <= cout:
        raise ValueError(f"{name}: n_weight_channels {p.n_weight_channels} not in [0, {cout}]")
    if int(p.stochastic) not in (0, 1):
        raise ValueError(f"{name}: stochastic {p.stochastic} not 0 or 1")
    if not -128 <= int(p.input_zero_point) <= 127:
        raise ValueError(f"{name}: input_zero_point {p.input_zero_point} not in [-128, 127]")
    return tuple(arrs)


def apply_update(
    w_cfirst: np.ndarray,
    acc_w: np.ndarray,
    bias: npt.ArrayLike | None,
    acc_b: np.ndarray,
    wm: np.ndarray,
    ws: np.ndarray,
    bm: np.ndarray,
    bs: np.ndarray,
    e_gy: int,
    stochastic: bool = False,
    key: int = 0,
    index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The fused update tail. ``w_cfirst`` (Cout, ...) int8 weights (channel axis first),
    ``acc_w`` (n, ...) int64 weight-gradient accumulators of the first n channels, ``acc_b``
    (Cout,) bias accumulators (both wrapped to int32 here, as C's int32 accumulators).
    ``stochastic``: round the weight deltas stochastically with ``u = hash32(key ^ i)``, ``i`` =
    ``index`` (shape of ``acc_w``: each element's flat index in the layer's weight tensor;
    default the C-order index of ``w_cfirst``). Returns (new weights (Cout, ...) int8, new bias
    int32 or None)."""
    from kilotrain.reference.grad_quant import (
        INT32_MAX,
        INT32_MIN,
        _wrap32,
        hash32,
        scale_round,
        scale_round_stochastic,
    )

    nw = acc_w.shape[0]
    new_w = np.array(w_cfirst, dtype=np.int8, copy=True)
    if nw:
        bshape = (nw,) + (1,) * (acc_w.ndim - 1)
        if stochastic:
            if index is None:
                index = np.arange(acc_w.size, dtype=np.int64).reshape(acc_w.shape)
            u = hash32(np.asarray(index, dtype=np.int64) ^ (int(key) & 0xFFFFFFFF))
            delta = scale_round_stochastic(
                _wrap32(acc_w), wm[:nw].reshape(bshape), (ws[:nw] + e_gy).reshape(bshape), u.astype(np.int64)
            )
        else:
            delta = scale_round(_wrap32(acc_w), wm[:nw].reshape(bshape), (ws[:nw] + e_gy).reshape(bshape))
        new_w[:nw] = np.clip(w_cfirst[:nw].astype(np.int64) - delta, -127, 127)
    new_b = None
    if bias is not None:
        b = np.asarray(bias, dtype=np.int64)
        if b.shape != acc_b.shape:
            raise ValueError(f"update: bias shape {b.shape} != ({acc_b.shape[0]},)")
        delta = scale_round(_wrap32(acc_b), bm, bs + e_gy)
        new_b = np.clip(b - delta, INT32_MIN, INT32_MAX).astype(np.int32)
    return new_w, new_b
