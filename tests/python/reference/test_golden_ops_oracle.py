"""Every golden op, through the importer and executor, against TFLite Micro on single-op
models with random shapes, quantization and data (hypothesis drives the parameters)."""

from __future__ import annotations

import numpy as np
import pytest
from golden_testutil import ModelBuilder, act_code, tflm_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

from kilotrain.model.geometry import compute_out_size
from kilotrain.model.tflite import read_tflite
from kilotrain.reference import executor

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
OP = fb.BuiltinOperator
BO = fb.BuiltinOptions


def _scale(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def _check(model: bytes, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
    ref, _ = tflm_run(model, x)
    g = read_tflite(model)
    xs = x if isinstance(x, list) else [x]
    if len(xs) == 1:
        out = executor.run(g, xs[0])
    else:  # multi-input graphs: feed the extra inputs as constants of the IR
        for t, a in zip(g.inputs[1:], xs[1:]):
            g.tensors[t].data = a
        out = executor.run(g, xs[0])
    np.testing.assert_array_equal(out, ref.reshape(out.shape))
    return out


def _conv_model(rng: np.random.Generator, depthwise: bool, dm: int = 1) -> tuple[bytes, np.ndarray]:
    h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
    cin = int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    same = bool(rng.integers(0, 2))
    if not same:  # VALID needs the dilated filter to fit
        h = max(h, (kh - 1) * dh + 1)
        w = max(w, (kw - 1) * dw + 1)
    cout = cin * dm if depthwise else int(rng.integers(1, 9))
    pad = "SAME" if same else "VALID"
    oh, ow = compute_out_size(pad, h, kh, sh, dh), compute_out_size(pad, w, kw, sw, dw)
    s_in = _scale(rng, 1e-3, 1.0)
    zp_in = int(rng.integers(-128, 128))
    per_channel = bool(rng.integers(0, 4))  # mostly per-channel
    s_w = np.array([_scale(rng, 1e-3, 0.1) for _ in range(cout if per_channel else 1)], np.float32)
    k = kh * kw * (1 if depthwise else cin)
    s_out = float(np.float32(s_in * s_w.max() * 128 * np.sqrt(k) / 127 * rng.uniform(0.01, 1.0)))
    zp_out = int(rng.integers(-128, 128))
    act = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"][int(rng.integers(0, 4))]
    b = ModelBuilder()
    x_t = b.tensor((1, h, w, cin), scale=s_in, zp=zp_in)
    if depthwise:
        filt = rng.integers(-127, 128, (1, kh, kw, cout)).astype(np.int8)
        f_t = b.tensor(filt.shape, scale=s_w, qdim=3, data=filt)
    else:
        filt = rng.integers(-127, 128, (cout, kh, kw, cin)).astype(np.int8)
        f_t = b.tensor(filt.shape, scale=s_w, qdim=0, data=filt)
    inputs = [x_t, f_t]
    # TFLM's DEPTHWISE_CONV_2D crashes (segfault) without a bias tensor, so it always gets one.
    if depthwise or rng.integers(0, 4):
        bias = rng.integers(-(2**16), 2**16, cout).astype(np.int32)
        s_b = np.broadcast_to(s_in * s_w, (cout,))
        inputs.append(b.tensor((cout,), "int32", scale=s_b, zp=np.zeros(cout, int), data=bias))
    else:
        inputs.append(-1)
    y_t = b.tensor((1, oh, ow, cout), scale=s_out, zp=zp_out)
    if depthwise:
        o = fb.DepthwiseConv2DOptionsT()
        o.depthMultiplier = dm
        code, ot = OP.DEPTHWISE_CONV_2D, BO.DepthwiseConv2DOptions
    else:
        o = fb.Conv2DOptionsT()
        code, ot = OP.CONV_2D, BO.Conv2DOptions
    o.padding = fb.Padding.SAME if same else fb.Padding.VALID
    o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = sh, sw, dh, dw
    o.fusedActivationFunction = act_code(act)
    b.op(code, inputs, [y_t], ot, o)
    x = rng.integers(-128, 128, (1, h, w, cin)).astype(np.int8)
    return b.build([x_t], [y_t]), x


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_conv2d_matches_tflm(seed: int) -> None:
    model, x = _conv_model(np.random.default_rng(seed), depthwise=False)
    _check(model, x)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 1, 2, 3]))
def test_depthwise_conv2d_matches_tflm(seed: int, dm: int) -> None:
    model, x = _conv_model(np.random.default_rng(seed), depthwise=True, dm=dm)
    _check(model, x)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_fully_connected_matches_tflm(seed: int, per_channel: bool) -> None:
    rng = np.random.default_rng(seed)
    n, cin, cout = int(rng.integers(1, 4)), int(rng.integers(1, 64)), int(rng.integers(1, 32))
    s_in, zp_in = _scale(rng, 1e-3, 1.0), int(rng.integers(-128, 128))
    s_w = np.array([_scale(rng, 1e-3, 0.1) for _ in range(cout if per_channel else 1)], np.float32)
    s_out = float(np.float32(s_in * s_w.max() * 128 * np.sqrt(cin) / 127 * rng.uniform(0.01, 1.0)))
    zp_out = int(rng.integers(-128, 128))
    act = ["NONE", "RELU", "RELU6"][int(rng.integers(0, 3))]
    b = ModelBuilder()
    x_t = b.tensor((n, cin), scale=s_in, zp=zp_in)
    w = rng.integers(-127, 128, (cout, cin)).astype(np.int8)
    w_t = b.tensor(w.shape, scale=s_w, data=w)
    bias = rng.integers(-(2**16), 2**16, cout).astype(np.int32)
    b_t = b.tensor((cout,), "int32", scale=np.broadcast_to(s_in * s_w, (cout,)), data=bias)
    y_t = b.tensor((n, cout), scale=s_out, zp=zp_out)
    o = fb.FullyConnectedOptionsT()
    o.fusedActivationFunction = act_code(act)
    b.op(OP.FULLY_CONNECTED, [x_t, w_t, b_t], [y_t], BO.FullyConnectedOptions, o)
    x = rng.integers(-128, 128, (n, cin)).astype(np.int8)
    _check(b.build([x_t], [y_t]), x)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_add_matches_tflm(seed: int, broadcast: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 9)))
    shape_b = (1, 1, 1, shape[3]) if broadcast else shape
    s1, s2 = _scale(rng, 1e-3, 1.0), _scale(rng, 1e-3, 1.0)
    s_out = float(np.float32((s1 + s2) * rng.uniform(0.3, 2.0)))
    act = ["NONE", "RELU", "RELU6"][int(rng.integers(0, 3))]
    b = ModelBuilder()
    a_t = b.tensor(shape, scale=s1, zp=int(rng.integers(-128, 128)))
    bb = rng.integers(-128, 128, shape_b).astype(np.int8)
    b_t = b.tensor(shape_b, scale=s2, zp=int(rng.integers(-128, 128)), data=bb)
    y_t = b.tensor(shape, scale=s_out, zp=int(rng.integers(-128, 128)))
    o = fb.AddOptionsT()
    o.fusedActivationFunction = act_code(act)
    b.op(OP.ADD, [a_t, b_t], [y_t], BO.AddOptions, o)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    _check(b.build([a_t], [y_t]), x)


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_avg_pool_matches_tflm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(1, 12)), int(rng.integers(1, 12)), int(rng.integers(1, 6))
    fh, fw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    same = bool(rng.integers(0, 2))
    if not same:
        h, w = max(h, fh), max(w, fw)
    pad = "SAME" if same else "VALID"
    oh, ow = compute_out_size(pad, h, fh, sh, 1), compute_out_size(pad, w, fw, sw, 1)
    s, zp = _scale(rng, 1e-3, 1.0), int(rng.integers(-128, 128))
    act = ["NONE", "RELU", "RELU6"][int(rng.integers(0, 3))]
    b = ModelBuilder()
    x_t = b.tensor((1, h, w, c), scale=s, zp=zp)
    y_t = b.tensor((1, oh, ow, c), scale=s, zp=zp)
    o = fb.Pool2DOptionsT()
    o.padding = fb.Padding.SAME if same else fb.Padding.VALID
    o.strideH, o.strideW, o.filterHeight, o.filterWidth = sh, sw, fh, fw
    o.fusedActivationFunction = act_code(act)
    b.op(OP.AVERAGE_POOL_2D, [x_t], [y_t], BO.Pool2DOptions, o)
    x = rng.integers(-128, 128, (1, h, w, c)).astype(np.int8)
    _check(b.build([x_t], [y_t]), x)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_mean_matches_tflm(seed: int, same_quant: bool, keep_dims: bool) -> None:
    rng = np.random.default_rng(seed)
    n, h, w, c = int(rng.integers(1, 3)), int(rng.integers(1, 16)), int(rng.integers(1, 16)), int(rng.integers(1, 9))
    s_in, zp_in = _scale(rng, 1e-3, 1.0), int(rng.integers(-128, 128))
    if same_quant:
        s_out, zp_out = s_in, zp_in
    else:
        s_out, zp_out = float(np.float32(s_in * rng.uniform(0.2, 3.0))), int(rng.integers(-128, 128))
    b = ModelBuilder()
    x_t = b.tensor((n, h, w, c), scale=s_in, zp=zp_in)
    ax = np.array([1, 2] if rng.integers(0, 2) else [2, -3], np.int32)
    a_t = b.tensor((2,), "int32", data=ax)
    y_t = b.tensor((n, 1, 1, c) if keep_dims else (n, c), scale=s_out, zp=zp_out)
    o = fb.ReducerOptionsT()
    o.keepDims = keep_dims
    b.op(OP.MEAN, [x_t, a_t], [y_t], BO.ReducerOptions, o)
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    _check(b.build([x_t], [y_t]), x)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_pad_and_transpose_match_tflm(seed: int, v2: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 6, 4))
    pads = rng.integers(0, 3, (4, 2)).astype(np.int32)
    pshape = tuple(int(d + a + bb) for d, (a, bb) in zip(shape, pads))
    perm = tuple(int(v) for v in rng.permutation(4))
    s, zp = _scale(rng, 1e-3, 1.0), int(rng.integers(-128, 128))
    b = ModelBuilder()
    x_t = b.tensor(shape, scale=s, zp=zp)
    p_t = b.tensor((4, 2), "int32", data=pads)
    m_t = b.tensor(pshape, scale=s, zp=zp)
    if v2:
        cv = b.tensor((1,), scale=s, zp=zp, data=np.array([rng.integers(-128, 128)], np.int8))
        b.op(OP.PADV2, [x_t, p_t, cv], [m_t], BO.PadV2Options, fb.PadV2OptionsT())
    else:
        b.op(OP.PAD, [x_t, p_t], [m_t], BO.PadOptions, fb.PadOptionsT())
    perm_t = b.tensor((4,), "int32", data=np.array(perm, np.int32))
    y_t = b.tensor(tuple(pshape[i] for i in perm), scale=s, zp=zp)
    b.op(OP.TRANSPOSE, [m_t, perm_t], [y_t], BO.TransposeOptions, fb.TransposeOptionsT())
    x = rng.integers(-128, 128, shape).astype(np.int8)
    _check(b.build([x_t], [y_t]), x)


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_softmax_matches_tflm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, depth = int(rng.integers(1, 4)), int(rng.integers(1, 60))
    s_in, zp_in = _scale(rng, 5e-3, 0.5), int(rng.integers(-128, 128))
    beta = float(np.float32(rng.choice([1.0, rng.uniform(0.3, 2.0)])))
    b = ModelBuilder()
    x_t = b.tensor((rows, depth), scale=s_in, zp=zp_in)
    y_t = b.tensor((rows, depth), scale=1 / 256, zp=-128)
    o = fb.SoftmaxOptionsT()
    o.beta = beta
    b.op(OP.SOFTMAX, [x_t], [y_t], BO.SoftmaxOptions, o)
    x = rng.integers(-128, 128, (rows, depth)).astype(np.int8)
    if rng.integers(0, 3) == 0:  # many near-equal maxima
        x = np.clip(x // 16 + 100, -128, 127).astype(np.int8)
    _check(b.build([x_t], [y_t]), x)


@pytest.mark.parametrize("shift_sign", [-1, 1])
def test_conv2d_multiplier_above_and_below_one(shift_sign: int) -> None:
    """A 1x1 conv whose real multiplier is > 1 (positive shift, left-shift path) or tiny."""
    rng = np.random.default_rng(7 + shift_sign)
    b = ModelBuilder()
    s_in = 0.5
    s_w = np.array([0.9, 0.01, 0.3], np.float32)
    s_out = 0.05 if shift_sign > 0 else 40.0
    x_t = b.tensor((1, 4, 4, 2), scale=s_in, zp=3)
    f = rng.integers(-3, 4, (3, 1, 1, 2)).astype(np.int8)
    f_t = b.tensor(f.shape, scale=s_w, data=f)
    y_t = b.tensor((1, 4, 4, 3), scale=s_out, zp=-5)
    o = fb.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.dilationHFactor, o.dilationWFactor = fb.Padding.VALID, 1, 1, 1, 1
    b.op(OP.CONV_2D, [x_t, f_t, -1], [y_t], BO.Conv2DOptions, o)
    x = rng.integers(-10, 10, (1, 4, 4, 2)).astype(np.int8)
    _check(b.build([x_t], [y_t]), x)
