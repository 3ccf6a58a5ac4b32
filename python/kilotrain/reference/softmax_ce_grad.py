"""Softmax cross-entropy loss gradient from int8 logits (docs/numerics.md, "Loss")::

    d_i = max(z) - z_i in [0, 255]
    S   = sum E[d_i]                          (uint32; E = p.exp_table, E[0] = 32768)
    p_i = (E[d_i] * 2**15 + S // 2) // S      (Q15)
    g_i = p_i - 2**15 * [i == label]          (dL/dz_real * 2**15, in [-2**15, 2**15])
    gz  = to_grad8(shift_round(g_i, 15 + e_z))

so gz * 2**e_z ~= g_i * 2**-15. (docs/numerics.md writes the shift as ``-15 - e_z``; shift_round
multiplies by 2**-n, so the consistent amount is ``15 + e_z``.) Also returns p_label (Q15) and
whether argmax z == label (the first maximum wins a tie).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.reference._grad_common import check_exponents
from kilotrain.reference.grad_params import SoftmaxCeParams
from kilotrain.reference.grad_quant import GradStats, shift_round, to_grad8


def softmax_ce_grad(
    z: npt.NDArray[np.int8],
    labels: npt.ArrayLike,
    p: SoftmaxCeParams,
    e_z: int,
) -> tuple[npt.NDArray[np.int8], GradStats, npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """z (N, C) int8 logits (1 <= C <= 32768), labels (N,) ints in [0, C) -> (gz (N, C) int8 with exponent e_z,
    GradStats over all rows, p_label (N,) int32 Q15 in [0, 32768], correct (N,) bool)."""
    z = np.asarray(z)
    lab = np.asarray(labels, dtype=np.int64).ravel()
    if z.ndim != 2 or not 1 <= z.shape[1] <= 32768 or lab.shape != (z.shape[0],):
        raise ValueError(f"softmax_ce_grad: logits {z.shape} (N, C), labels {lab.shape} (N,)")
    if np.any(lab < 0) or np.any(lab >= z.shape[1]):
        raise ValueError(f"softmax_ce_grad: labels must be in [0, {z.shape[1]})")
    table = np.asarray(p.exp_table, dtype=np.int64).ravel()
    if table.shape != (256,) or table[0] < 1 or np.any(table < 0) or np.any(table > 65535):
        raise ValueError("softmax_ce_grad: exp_table must be 256 uint16 entries, entry 0 > 0")
    check_exponents("softmax_ce_grad", e_z=e_z)
    zi = z.astype(np.int64)
    d = zi.max(axis=1, keepdims=True) - zi
    e = table[d]
    s = e.sum(axis=1, keepdims=True)
    prob = (e * 32768 + s // 2) // s
    rows = np.arange(z.shape[0])
    g = prob.copy()
    g[rows, lab] -= 32768
    gz, stats = to_grad8(shift_round(g, 15 + int(e_z)))
    p_label = prob[rows, lab].astype(np.int32)
    correct = np.argmax(zi, axis=1) == lab
    return gz, stats, p_label, correct
