"""The float reference: its forward tracks the int8 forward, and its backward is the true
gradient (finite differences)."""

from __future__ import annotations

import numpy as np

from kilotrain.reference import executor
from kilotrain.training.float_reference import FloatTrainer
from kilotrain.training.scheme import SparseScheme


def test_fake_quant_forward_tracks_int8(tiny, digits_tiny) -> None:  # type: ignore[no-untyped-def]
    ft = FloatTrainer.create(tiny, "bias-only")
    lt = tiny.tensors[ft.st.logits]
    for x in digits_tiny.x_test[:10]:
        q = executor.run(tiny, x).astype(np.float64).ravel()
        env, _ = ft.forward(x)
        zf = ft.logits(env) / lt.s + lt.zp
        assert np.max(np.abs(zf - q)) <= 2.0  # a couple of LSB of requantization rounding


def test_backward_matches_finite_differences(tiny, digits_tiny) -> None:  # type: ignore[no-untyped-def]
    scheme = SparseScheme(5, (0, 1, 4), (1.0, 1.0, 0.5))
    ft = FloatTrainer.create(tiny, scheme, dtype=np.float64, fake_quant=False)
    x, y = digits_tiny.x_train[3], int(digits_tiny.y_train[3])
    env, masks = ft.forward(x)
    _, pg, _loss, _ = ft.backward(env, masks, y)
    rng = np.random.default_rng(0)

    def loss_at() -> float:
        e, m = ft.forward(x)
        return ft.backward(e, m, y)[2]

    checked = 0
    for pos, (dw, db) in pg.items():
        layer = ft.layers[pos]
        for arr, grad in ((layer.b, db), (layer.w, dw)):
            for _ in range(3):
                idx = tuple(int(rng.integers(s)) for s in arr.shape)
                if (
                    arr is layer.w
                    and tiny.ops[pos].kind != "DEPTHWISE_CONV_2D"
                    and idx[0] >= ft.st.updates[pos].n_channels
                ):
                    continue
                old = arr[idx]
                eps = 1e-6 * max(1.0, abs(old))
                arr[idx] = old + eps
                lp = loss_at()
                arr[idx] = old - eps
                lm = loss_at()
                arr[idx] = old
                fd = (lp - lm) / (2 * eps)
                assert abs(fd - grad[idx]) <= 1e-4 + 1e-3 * abs(fd), (pos, idx, fd, grad[idx])
                checked += 1
    assert checked >= 15


def test_float_training_learns(tiny, digits_tiny) -> None:  # type: ignore[no-untyped-def]
    ft = FloatTrainer.create(tiny, "last-layer")
    xs, ys = digits_tiny.x_test[:80], digits_tiny.y_test[:80]
    l0, a0 = ft.evaluate(xs, ys)
    for i in np.random.default_rng(0).permutation(len(digits_tiny.y_train))[:300]:
        ft.step(digits_tiny.x_train[i], int(digits_tiny.y_train[i]), 0.05)
    l1, a1 = ft.evaluate(xs, ys)
    assert l1 < l0 and a1 > a0
