"""Python-built int8 models as IR graphs: MobileNetV2 and ProxylessNAS-Mobile at any width and
input size (the paper's ``mbv2-w0.35`` and ``proxyless-w0.3``), and small nets for tests.

Recipe (floats at build time only): float weights from a seeded RNG (He-normal, small biases);
a float forward pass over a seeded calibration batch gives every activation's [min, max] (0 always
included); activations are quantized asymmetric per-tensor, ``scale = (max - min) / 255``,
``zero_point = round(-128 - min / scale)``; weights symmetric per output channel into [-127, 127];
biases int32 with scale ``s_in * s_w``. Kernel parameters come from the same TFLM ``Prepare``
formulas the TFLite importer uses. Layout: NHWC int8 input ``[1, H, W, 3]``; SAME padding;
ReLU6 after every conv except the linear projection of an inverted-residual block; global
average pool = MEAN over H, W; classifier = FULLY_CONNECTED.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kilotrain.model.geometry import compute_out_size, compute_padding, im2col
from kilotrain.model.ir import Graph, ModelError, Op, Tensor
from kilotrain.model.params import ConvParams, DepthwiseConvParams, FullyConnectedParams
from kilotrain.model.quantize import (
    activation_range,
    add_params,
    conv_multipliers,
    fc_multipliers,
    mean_params,
)

F64 = npt.NDArray[np.float64]


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor``, never below 90% of ``v`` (TF/torchvision rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _bias_int32(b: F64) -> npt.NDArray[np.int32]:
    """A bias in units of input scale x weight scale, rounded and saturated to int32 (a dead input
    or channel has a tiny scale, so its bias can exceed the range)."""
    return np.clip(np.round(b), -(2**31), 2**31 - 1).astype(np.int32)


def _act_quant(a: F64) -> tuple[float, int]:
    lo = min(float(a.min()), 0.0)
    hi = max(float(a.max()), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zp


class GraphBuilder:
    """Build an int8 graph layer by layer while running the float model on a calibration batch."""

    def __init__(self, x_calib: F64, seed: int = 0, name: str = "") -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []
        self.f: dict[int, F64] = {}
        self.name = name
        self.input = self._act(x_calib, "input")

    # -- tensors
    def _act(self, f: F64, name: str) -> int:
        s, zp = _act_quant(f)
        t = Tensor(name, (1, *tuple(f.shape[1:])), "int8", np.array([s], np.float32), np.array([zp], np.int64))
        self.tensors.append(t)
        self.f[len(self.tensors) - 1] = f
        return len(self.tensors) - 1

    def _const(self, name: str, data: np.ndarray, scale: np.ndarray | None = None, qdim: int = 0) -> int:
        dtype = "int8" if data.dtype == np.int8 else "int32"
        zp = None if scale is None else np.zeros(scale.size, np.int64)
        self.tensors.append(Tensor(name, tuple(data.shape), dtype, scale, zp, qdim, data))
        return len(self.tensors) - 1

    def _quant_weights(self, w: F64, axis: int) -> tuple[np.ndarray, np.ndarray]:
        red = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.maximum(np.abs(w).max(axis=red), 1e-12)
        s = (amax / 127.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / s.astype(np.float64).reshape(shape)), -127, 127).astype(np.int8)
        return q, s

    # -- layers
    def conv(
        self,
        x: int,
        cout: int,
        k: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        act: str = "RELU6",
        depthwise: bool = False,
        weight: F64 | None = None,
        bias: F64 | None = None,
        padding: tuple[int, int] | None = None,
    ) -> int:
        """CONV_2D (or DEPTHWISE_CONV_2D, multiplier 1) with a fused activation. Without
        ``weight`` / ``bias`` they are drawn at random (He init); given, they are the float filter
        in kilotrain's layout ((Cout, KH, KW, Cin), depthwise (1, KH, KW, C)) and bias (Cout,).
        ``padding`` (top, left) with PyTorch's output size ((H + 2 p - K) // S + 1); without it
        TFLite's SAME."""
        xf = self.f[x]
        n, h, w, cin = xf.shape
        kh, kw = (k, k) if isinstance(k, int) else k
        s_h, s_w = (stride, stride) if isinstance(stride, int) else stride
        if depthwise:
            cout = cin
        if padding is None:
            oh, ow = compute_out_size("SAME", h, kh, s_h, 1), compute_out_size("SAME", w, kw, s_w, 1)
            pad = (compute_padding(s_h, 1, h, kh, oh), compute_padding(s_w, 1, w, kw, ow))
        else:
            pad = (int(padding[0]), int(padding[1]))
            oh, ow = (h + 2 * pad[0] - kh) // s_h + 1, (w + 2 * pad[1] - kw) // s_w + 1
        fan_in = kh * kw * (1 if depthwise else cin)
        wshape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
        if weight is None:
            wf = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), wshape)
        else:
            wf = np.asarray(weight, np.float64)
            if wf.shape != wshape:
                raise ModelError(f"conv weight of shape {wf.shape}; expected {wshape}")
        bf = self.rng.normal(0.0, 0.05, cout) if bias is None else np.asarray(bias, np.float64).reshape(cout)
        cols = im2col(xf, (kh, kw), (s_h, s_w), pad, (1, 1), (oh, ow))
        if depthwise:
            yf = np.einsum("nhwijc,ijc->nhwc", cols, wf[0]) + bf
        else:
            yf = cols.reshape(n * oh * ow, -1) @ wf.reshape(cout, -1).T
            yf = yf.reshape(n, oh, ow, cout) + bf
        if act == "RELU6":
            yf = np.clip(yf, 0.0, 6.0)
        elif act == "RELU":
            yf = np.maximum(yf, 0.0)
        xt = self.tensors[x]
        qw, sw = self._quant_weights(wf, 3 if depthwise else 0)
        y = self._act(yf, f"conv{len(self.ops)}")
        yt = self.tensors[y]
        bq = _bias_int32(bf / (xt.s * sw.astype(np.float64)))
        wt = self._const(f"w{len(self.ops)}", qw, sw, 3 if depthwise else 0)
        bt = self._const(f"b{len(self.ops)}", bq, (xt.s * sw).astype(np.float32))
        mult, shift = conv_multipliers(xt.s, sw, yt.s, cout)
        act_min, act_max = activation_range(act, yt.s, yt.zp)
        common = {
            "stride": (s_h, s_w),
            "padding": pad,
            "dilation": (1, 1),
            "input_offset": -xt.zp,
            "output_offset": yt.zp,
            "multiplier": mult,
            "shift": shift,
            "act_min": act_min,
            "act_max": act_max,
        }
        params = DepthwiseConvParams(depth_multiplier=1, **common) if depthwise else ConvParams(**common)  # type: ignore[arg-type]
        kind = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
        self.ops.append(Op(kind, [x, wt, bt], [y], params, act, index=len(self.ops)))
        return y

    def add(self, a: int, b: int, act: str = "NONE") -> int:
        """Residual ADD with a fused activation (NONE, RELU or RELU6)."""
        yf = self.f[a] + self.f[b]
        if act == "RELU6":
            yf = np.clip(yf, 0.0, 6.0)
        elif act == "RELU":
            yf = np.maximum(yf, 0.0)
        y = self._act(yf, f"add{len(self.ops)}")
        ta, tb, ty = self.tensors[a], self.tensors[b], self.tensors[y]
        params = add_params(ta.s, ta.zp, tb.s, tb.zp, ty.s, ty.zp, act)
        self.ops.append(Op("ADD", [a, b], [y], params, act, index=len(self.ops)))
        return y

    def mean(self, x: int) -> int:
        """Global average pool: MEAN over H, W, keep dims."""
        yf = self.f[x].mean(axis=(1, 2), keepdims=True)
        axis = self._const(f"axis{len(self.ops)}", np.array([1, 2], np.int32))
        y = self._act(yf, f"mean{len(self.ops)}")
        tx, ty = self.tensors[x], self.tensors[y]
        self.ops.append(Op("MEAN", [x, axis], [y], mean_params(tx.s, tx.zp, ty.s, ty.zp), index=len(self.ops)))
        return y

    def fc(self, x: int, cout: int, weight: F64 | None = None, bias: F64 | None = None) -> int:
        """Classifier FULLY_CONNECTED (per-channel weights, no activation), output (1, cout);
        ``weight`` (Cout, Cin) and ``bias`` (Cout,) in float, else drawn at random."""
        xf = self.f[x].reshape(self.f[x].shape[0], -1)
        cin = xf.shape[1]
        if weight is None:
            wf = self.rng.normal(0.0, np.sqrt(1.0 / cin), (cout, cin))
        else:
            wf = np.asarray(weight, np.float64)
            if wf.shape != (cout, cin):
                raise ModelError(f"fully-connected weight of shape {wf.shape}; expected {(cout, cin)}")
        bf = self.rng.normal(0.0, 0.05, cout) if bias is None else np.asarray(bias, np.float64).reshape(cout)
        yf = xf @ wf.T + bf
        xt = self.tensors[x]
        qw, sw = self._quant_weights(wf, 0)
        s, zp = _act_quant(yf)
        self.tensors.append(
            Tensor(f"logits{len(self.ops)}", (1, cout), "int8", np.array([s], np.float32), np.array([zp], np.int64))
        )
        y = len(self.tensors) - 1
        self.f[y] = yf
        wt = self._const(f"w{len(self.ops)}", qw, sw)
        bq = _bias_int32(bf / (xt.s * sw.astype(np.float64)))
        bt = self._const(f"b{len(self.ops)}", bq, (xt.s * sw).astype(np.float32))
        mult, shift = fc_multipliers(xt.s, sw, s)
        params = FullyConnectedParams(input_offset=-xt.zp, output_offset=zp, multiplier=mult, shift=shift)
        self.ops.append(Op("FULLY_CONNECTED", [x, wt, bt], [y], params, index=len(self.ops)))
        return y

    def inverted_residual(self, x: int, cout: int, k: int, stride: int, expand: int) -> int:
        """MBConv: [1x1 expand, ReLU6] -> kxk depthwise, ReLU6 -> 1x1 linear projection [+ residual]."""
        cin = self.tensors[x].shape[3]
        h = x
        if expand != 1:
            h = self.conv(h, cin * expand, 1)
        h = self.conv(h, 0, k, stride, depthwise=True)
        h = self.conv(h, cout, 1, act="NONE")
        if stride == 1 and cin == cout:
            h = self.add(h, x)
        return h

    def graph(self, output: int) -> Graph:
        """The finished Graph (conv layers numbered in network order)."""
        g = Graph(self.tensors, self.ops, [self.input], [output], name=self.name)
        g.number_convs()
        return g


#: MobileNetV2 (torchvision layout): (expansion, channels, repeats, first stride) per stage.
MBV2_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
#: ProxylessNAS-Mobile's units (channels, kernel, expansion, present) per stage; the first unit of
#: stages 1..4 has stride 2 (the published ``proxyless_mobile``; skipped units are not present).
PROXYLESS_STAGES = (
    ((16, 3, 1, 1),),
    ((32, 5, 3, 1), (32, 3, 3, 1), (32, 3, 3, 0), (32, 3, 3, 0)),
    ((40, 7, 3, 1), (40, 3, 3, 1), (40, 5, 3, 1), (40, 5, 3, 1)),
    (
        (80, 7, 6, 1),
        (80, 5, 3, 1),
        (80, 5, 3, 1),
        (80, 5, 3, 1),
        (96, 5, 6, 1),
        (96, 5, 3, 1),
        (96, 5, 3, 1),
        (96, 5, 3, 1),
    ),
    ((192, 7, 6, 1), (192, 7, 6, 1), (192, 7, 3, 1), (192, 7, 3, 1), (320, 7, 6, 1)),
)


def mbv2_blocks(width: float) -> list[tuple[int, int, int, int]]:
    """MobileNetV2's inverted-residual blocks at ``width``: (out channels, kernel, stride, expansion)."""
    return [(make_divisible(c * width), 3, s if i == 0 else 1, t) for t, c, n, s in MBV2_SETTING for i in range(n)]


def proxyless_blocks(width: float) -> list[tuple[int, int, int, int]]:
    """ProxylessNAS-Mobile's blocks at ``width``: (out channels, kernel, stride, expansion)."""
    return [
        (make_divisible(c * width), k, 2 if (ui == 0 and si > 0) else 1, e)
        for si, stage in enumerate(PROXYLESS_STAGES)
        for ui, (c, k, e, present) in enumerate(stage)
        if present
    ]


def last_channels(width: float) -> int:
    """The channels of the 1x1 conv before the pool (1280, scaled only above width 1)."""
    return make_divisible(1280 * width) if width > 1.0 else 1280


def _calibration(input_size: int, batch: int, seed: int, channels: int = 3) -> F64:
    rng = np.random.default_rng(seed + 10_000)
    return np.clip(rng.normal(0.0, 1.0, (batch, input_size, input_size, channels)), -2.5, 2.5)


def mobilenet_v2(
    width: float = 0.35, input_size: int = 128, num_classes: int = 1000, seed: int = 0, calib: int = 2
) -> Graph:
    """MobileNetV2 (torchvision layout) at ``width``; 52 conv layers, conv 0 = the 3x3 stem."""
    b = GraphBuilder(_calibration(input_size, calib, seed), seed, f"mbv2-w{width}-r{input_size}")
    x = b.conv(b.input, make_divisible(32 * width), 3, 2)
    for cout, k, stride, expand in mbv2_blocks(width):
        x = b.inverted_residual(x, cout, k, stride, expand)
    x = b.conv(x, last_channels(width), 1)
    return b.graph(b.fc(b.mean(x), num_classes))


def proxyless_nas(
    width: float = 0.3, input_size: int = 128, num_classes: int = 1000, seed: int = 0, calib: int = 2
) -> Graph:
    """ProxylessNAS-Mobile at ``width`` (stage layout of the published ``proxyless_mobile``: kernel
    sizes 3/5/7, expansions 3/6, skipped units omitted); conv 0 = the 3x3 stem."""
    b = GraphBuilder(_calibration(input_size, calib, seed), seed, f"proxyless-w{width}-r{input_size}")
    x = b.conv(b.input, make_divisible(32 * width), 3, 2)
    for cout, k, stride, expand in proxyless_blocks(width):
        x = b.inverted_residual(x, cout, k, stride, expand)
    x = b.conv(x, last_channels(width), 1)
    return b.graph(b.fc(b.mean(x), num_classes))


def tiny_cnn(input_size: int = 16, num_classes: int = 4, channels: int = 8, seed: int = 0, calib: int = 4) -> Graph:
    """A small test net: 3x3 stem (stride 2), one inverted-residual block with a residual ADD,
    a 1x1 conv, MEAN and a classifier (5 conv layers)."""
    b = GraphBuilder(_calibration(input_size, calib, seed), seed, f"tiny-r{input_size}")
    x = b.conv(b.input, channels, 3, 2)
    x = b.inverted_residual(x, channels, 3, 1, 2)
    x = b.conv(x, 2 * channels, 1)
    return b.graph(b.fc(b.mean(x), num_classes))


def resnet8(input_size: int = 32, num_classes: int = 10, width: int = 16, seed: int = 0, calib: int = 4) -> Graph:
    """A CIFAR-10-style ResNet-8 (MLPerf Tiny's image-classification net, SAME padding): a 3x3
    stem, three stages of one basic block (two 3x3 convolutions, the second without activation,
    then the residual ADD with a fused ReLU; the block of a stage that halves the map or widens
    the channels takes the shortcut through a 1x1 stride-2 convolution), MEAN and a classifier.
    9 conv layers."""
    b = GraphBuilder(_calibration(input_size, calib, seed), seed, f"resnet8-r{input_size}")
    x = b.conv(b.input, width, 3, 1, act="RELU")
    for stage, c in enumerate((width, 2 * width, 4 * width)):
        stride = 1 if stage == 0 else 2
        h = b.conv(x, c, 3, stride, act="RELU")
        h = b.conv(h, c, 3, 1, act="NONE")
        shortcut = x if stride == 1 and b.tensors[x].shape[3] == c else b.conv(x, c, 1, stride, act="NONE")
        x = b.add(h, shortcut, act="RELU")
    return b.graph(b.fc(b.mean(x), num_classes))
