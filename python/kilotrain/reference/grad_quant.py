"""Fixed-point primitives of the integer backward pass (docs/numerics.md, "Fixed-point
primitives (backward only)"), vectorised numpy, exact in int64. The C twins are the inline
functions of ``firmware/kernels/internal/kt_grad_quant.h``.

* :func:`scale_round` — ``acc * m * 2**(shift - 31)`` with one rounding (ties away from zero),
  saturated to int32;
* :func:`shift_round` — ``x * 2**-n`` rounded (ties away from zero) or a saturating left shift;
* :func:`hash32`, :func:`update_key` and :func:`scale_round_stochastic` — the stochastic rounding
  of the int8 weight update (docs/numerics.md, "fused QAS update");
* :func:`to_grad8` — saturate to the symmetric int8 gradient range [-127, 127], with
  :class:`GradStats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GradStats:
    """Statistics of one int8 gradient tensor for the scale policy.

    ``saturated``: elements clamped by to_grad8 (|v| > 127); ``amax``: max |g| after clamping
    (0 for an empty tensor), in [0, 127].
    """

    saturated: int
    amax: int


def _wrap32(x: npt.ArrayLike) -> I64:
    return np.asarray(x, dtype=np.int64).astype(np.int32).astype(np.int64)


def _sat_shl(p: I64, k: I64) -> I64:
    """p * 2**k (k >= 0) saturated to int32, for int64 p; exact."""
    kc = np.minimum(k, 31)
    hi = np.int64(INT32_MAX) >> kc
    lo = np.int64(INT32_MIN) >> kc
    big = k >= 32
    out = np.where(p > hi, INT32_MAX, np.where(p < lo, INT32_MIN, p << kc))
    out = np.where(big & (p > 0), INT32_MAX, np.where(big & (p < 0), INT32_MIN, np.where(big, 0, out)))
    return out.astype(np.int64)


def _round_shr(p: I64, r: I64) -> I64:
    """p / 2**r (r >= 1, < 63) rounded to nearest, ties away from zero: (p + 2^(r-1) - (p<0)) >> r."""
    return (p + (np.int64(1) << (r - 1)) - (p < 0).astype(np.int64)) >> r


def scale_round(acc: npt.ArrayLike, m: npt.ArrayLike, shift: npt.ArrayLike) -> I64:
    """``round(acc * m * 2**(shift - 31))``, ties away from zero, saturated to int32.

    ``acc`` int32-valued (wrapped to int32 as C's int32 argument), ``m`` a Q31 multiplier
    (int32), ``shift`` any int (scalars or arrays broadcasting together). With ``p = acc * m``
    (``|p| <= 2**62``) and ``r = 31 - shift``: ``r >= 63`` gives 0; ``0 < r < 63`` gives
    ``(p + 2**(r-1) - (p < 0)) >> r``; ``r <= 0`` gives ``p * 2**-r``; the result saturates to
    int32. Returns int64 (int32 values).
    """
    a = _wrap32(acc)
    mm = np.asarray(m, dtype=np.int64)
    r = 31 - np.asarray(shift, dtype=np.int64)
    p, r = np.broadcast_arrays(a * mm, r)
    pos = _round_shr(p, np.clip(r, 1, 62))
    pos = np.clip(pos, INT32_MIN, INT32_MAX)
    neg = _sat_shl(p, np.maximum(-r, 0))
    return np.where(r >= 63, 0, np.where(r > 0, pos, neg)).astype(np.int64)


_M32 = np.uint64(0xFFFFFFFF)


def hash32(x: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """The "lowbias32" integer hash of uint32 values (mod 2**32): ``x ^= x >> 16;
    x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``. Returns uint64 arrays holding
    uint32 values (any integer input is first reduced mod 2**32)."""
    v = np.asarray(np.asarray(x, dtype=np.int64) & 0xFFFFFFFF, dtype=np.uint64)
    v = v ^ (v >> np.uint64(16))
    v = (v * np.uint64(0x7FEB352D)) & _M32
    v = v ^ (v >> np.uint64(15))
    v = (v * np.uint64(0x846CA68B)) & _M32
    v = v ^ (v >> np.uint64(16))
    return v


def update_key(step: int, op_position: int) -> int:
    """The per-layer, per-step key of the stochastic weight rounding:
    ``hash32(step * 0x85EBCA6B + op_position)`` (uint32 wrap-around); ``step`` = steps done
    before this one, ``op_position`` = the layer's index in ``graph.ops``."""
    return int(hash32((int(step) * 0x85EBCA6B + int(op_position)) & 0xFFFFFFFF))


def scale_round_stochastic(acc: npt.ArrayLike, m: npt.ArrayLike, shift: npt.ArrayLike, u: npt.ArrayLike) -> I64:
    """``floor(acc * m * 2**(shift - 31) + u * 2**-32)``, saturated to int32: stochastic
    rounding with the uint32 random value ``u``. With ``p = acc * m`` and ``r = 31 - shift``:
    ``r <= 0`` gives ``p * 2**-r`` (exact, saturating, as :func:`scale_round`);
    ``0 < r <= 32`` gives ``(p + (u >> (32 - r))) >> r``; ``r > 32`` gives
    ``((p >> (r - 32)) + u) >> 32`` (= ``(p + u * 2**(r - 32)) >> r`` exactly, without
    overflow). Shifts are arithmetic (floor). Returns int64 (int32 values)."""
    a = _wrap32(acc)
    mm = np.asarray(m, dtype=np.int64)
    r = 31 - np.asarray(shift, dtype=np.int64)
    uu = np.asarray(np.asarray(u, dtype=np.int64) & 0xFFFFFFFF, dtype=np.int64)
    p, r, uu = np.broadcast_arrays(a * mm, r, uu)
    small = (p + (uu >> (32 - np.clip(r, 1, 32)))) >> np.clip(r, 1, 32)
    big = ((p >> np.clip(r - 32, 0, 63)) + uu) >> 32
    pos = np.clip(np.where(r > 32, big, small), INT32_MIN, INT32_MAX)
    neg = _sat_shl(p, np.maximum(-r, 0))
    return np.where(r > 0, pos, neg).astype(np.int64)


def shift_round(x: npt.ArrayLike, n: npt.ArrayLike) -> I64:
    """``x * 2**-n``: ``n > 0`` rounds to nearest, ties away from zero (``n >= 31`` gives 0);
    ``n <= 0`` is a left shift saturating to int32. ``x`` int32-valued (wrapped to int32), ``n``
    any int (broadcasting). Returns int64 (int32 values)."""
    xx = _wrap32(x)
    nn = np.asarray(n, dtype=np.int64)
    xx, nn = np.broadcast_arrays(xx, nn)
    pos = _round_shr(xx, np.clip(nn, 1, 30))
    neg = _sat_shl(xx, np.maximum(-nn, 0))
    return np.where(nn >= 31, 0, np.where(nn > 0, pos, neg)).astype(np.int64)


def to_grad8(v: npt.ArrayLike) -> tuple[npt.NDArray[np.int8], GradStats]:
    """Saturate int values to [-127, 127] (-128 is never produced); returns (int8 array,
    GradStats(saturated = number of clamped elements, amax = max |g| after clamping))."""
    a = np.asarray(v, dtype=np.int64)
    g = np.clip(a, -127, 127)
    sat = int(np.count_nonzero(a != g))
    amax = int(np.max(np.abs(g))) if g.size else 0
    return g.astype(np.int8), GradStats(sat, amax)
