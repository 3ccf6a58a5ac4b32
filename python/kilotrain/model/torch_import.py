"""A float PyTorch ``nn.Module`` -> a kilotrain int8 :class:`~kilotrain.model.ir.Graph` that
``plan``, ``train`` and ``compile`` accept (docs/custom-models.md). PyTorch is an optional extra.

The module is traced with ``torch.fx`` (``symbolic_trace``) and rebuilt layer by layer by the
zoo's :class:`~kilotrain.model.zoo.GraphBuilder` on a calibration batch, so the quantisation is
the zoo's recipe (the numeric contract of docs/numerics.md): per-output-channel symmetric int8
weights, int32 biases at the input scale times the weight scale, per-tensor asymmetric int8
activations whose range is the float activations' on the calibration batch, TFLite's multipliers.

Supported layers (anything else is refused in one line naming the node and the layer):

* ``Conv2d`` with ``groups`` 1 or equal to its input channels (depthwise, multiplier 1), zero
  padding (an int, a pair or ``"same"``), dilation 1, with or without a bias;
* ``BatchNorm2d`` right after a convolution that nothing else reads: folded into its weights;
* ``ReLU`` / ``ReLU6`` (modules, ``F.relu``, ``torch.relu``, ``F.relu6``, ``x.relu()``) right after
  a convolution or an addition that nothing else reads: fused into it;
* the residual addition (``a + b``, ``torch.add``, ``x.add``) of two tensors of one shape;
* global average pooling: ``AdaptiveAvgPool2d(1)``, ``F.adaptive_avg_pool2d(x, 1)``,
  ``x.mean((2, 3))`` (with or without ``keepdim``);
* ``flatten`` / ``Flatten`` / ``view`` / ``reshape`` to (N, features) before the classifier;
* one ``Linear`` classifier, the model's output (its input a flattened pooled vector or a
  flattened feature map, whose columns are reordered from PyTorch's C, H, W to kilotrain's
  H, W, C).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.extras import require
from kilotrain.model.ir import Graph, ModelError
from kilotrain.model.zoo import GraphBuilder

#: The layers :func:`from_torch` converts, as its error messages list them.
SUPPORTED_LAYERS = (
    "Conv2d (groups 1 or depthwise), BatchNorm2d after a conv (folded), ReLU/ReLU6 after a conv or "
    "an add (fused), residual add, AdaptiveAvgPool2d(1) or mean over H and W, flatten/view/reshape, "
    "Linear (the classifier, last)"
)


class TorchImportError(ModelError):
    """A module cannot be converted; the message names the node and what is supported."""


def _unsupported(node: Any, what: str) -> TorchImportError:
    return TorchImportError(
        f"node {node.name!r} ({what}) is not supported by the PyTorch import; supported: {SUPPORTED_LAYERS}"
    )


class _Importer:
    def __init__(self, torch: Any, module: Any, calib_nhwc: npt.NDArray[np.float64], name: str) -> None:
        self.torch, self.nn, self.F = torch, torch.nn, torch.nn.functional
        self.gm = torch.fx.symbolic_trace(module)
        self.modules = dict(self.gm.named_modules())
        self.b = GraphBuilder(calib_nhwc, name=name)
        self.env: dict[Any, int] = {}  # fx node -> tensor id
        self.flat: dict[Any, int] = {}  # flatten nodes -> the tensor they flatten
        self.done: set[Any] = set()  # nodes fused into an earlier layer

    # -- what a node is
    def _module(self, node: Any) -> Any:
        return self.modules.get(node.target) if node.op == "call_module" else None

    def _activation(self, node: Any) -> str | None:
        """RELU / RELU6 if ``node`` is a ReLU or ReLU6 in any spelling, else None."""
        m = self._module(node)
        if m is not None:
            if isinstance(m, self.nn.ReLU6):
                return "RELU6"
            if isinstance(m, self.nn.ReLU):
                return "RELU"
            if isinstance(m, self.nn.Hardtanh) and (m.min_val, m.max_val) == (0.0, 6.0):
                return "RELU6"
            return None
        if node.op == "call_function":
            if node.target in (self.F.relu, self.torch.relu):
                return "RELU"
            if node.target is self.F.relu6:
                return "RELU6"
            if node.target is self.F.hardtanh and tuple(node.args[1:3]) == (0.0, 6.0):
                return "RELU6"
        if node.op == "call_method" and node.target in ("relu", "relu_"):
            return "RELU"
        return None

    def _only_user(self, node: Any) -> Any | None:
        users = list(node.users)
        return users[0] if len(users) == 1 else None

    def _fused_activation(self, node: Any) -> tuple[str, Any]:
        """(activation, last node) of ``node`` followed by a ReLU / ReLU6 that only it feeds."""
        nxt = self._only_user(node)
        if nxt is not None and self._activation(nxt) is not None:
            self.done.add(nxt)
            return str(self._activation(nxt)), nxt
        return "NONE", node

    def _arg(self, node: Any, v: Any) -> int:
        if v not in self.env:
            raise _unsupported(node, f"reads {v!r}, which is not a tensor the import produced")
        return self.env[v]

    # -- layers
    def _conv(self, node: Any, conv: Any) -> None:
        torch = self.torch
        x = self._arg(node, node.args[0])
        cin = self.b.tensors[x].shape[3]
        if conv.padding_mode != "zeros" or tuple(conv.dilation) != (1, 1):
            raise _unsupported(node, f"Conv2d with padding_mode={conv.padding_mode!r}, dilation={conv.dilation}")
        depthwise = conv.groups == cin and conv.groups > 1
        if conv.groups != 1 and not (depthwise and conv.out_channels == cin):
            raise _unsupported(node, f"Conv2d with groups={conv.groups} (1 or depthwise with multiplier 1)")
        w = conv.weight.detach().to(torch.float64).cpu().numpy()  # (Cout, Cin/groups, KH, KW)
        cout = w.shape[0]
        bias = (
            conv.bias.detach().to(torch.float64).cpu().numpy() if conv.bias is not None else np.zeros(cout, np.float64)
        )
        last = node
        bn_node = self._only_user(node)
        bn = self._module(bn_node) if bn_node is not None else None
        if isinstance(bn, self.nn.BatchNorm2d):
            if bn.running_mean is None or bn.running_var is None:
                raise _unsupported(bn_node, "BatchNorm2d without running statistics")
            mean = bn.running_mean.detach().to(torch.float64).cpu().numpy()
            var = bn.running_var.detach().to(torch.float64).cpu().numpy()
            gamma = bn.weight.detach().to(torch.float64).cpu().numpy() if bn.weight is not None else np.ones(cout)
            beta = bn.bias.detach().to(torch.float64).cpu().numpy() if bn.bias is not None else np.zeros(cout)
            scale = gamma / np.sqrt(var + bn.eps)
            w = w * scale[:, None, None, None]
            bias = (bias - mean) * scale + beta
            self.done.add(bn_node)
            last = bn_node
        act, last = self._fused_activation(last)
        kh, kw = w.shape[2], w.shape[3]
        stride = (int(conv.stride[0]), int(conv.stride[1]))
        if conv.padding == "same":
            if stride != (1, 1):
                raise _unsupported(node, "Conv2d with padding='same' and a stride")
            pad = ((kh - 1) // 2, (kw - 1) // 2)
        elif conv.padding == "valid":
            pad = (0, 0)
        else:
            pad = (int(conv.padding[0]), int(conv.padding[1]))
        # kilotrain's layouts: depthwise (1, KH, KW, C), else (Cout, KH, KW, Cin)
        wk = w[:, 0].transpose(1, 2, 0)[None] if depthwise else w.transpose(0, 2, 3, 1)
        y = self.b.conv(x, cout, (kh, kw), (stride[0], stride[1]), act, depthwise, weight=wk, bias=bias, padding=pad)
        self.env[node] = self.env[last] = y

    def _add(self, node: Any) -> None:
        a, c = node.args[0], node.args[1]
        if node.kwargs.get("alpha", 1) != 1:
            raise _unsupported(node, "add with alpha")
        ta, tc = self._arg(node, a), self._arg(node, c)
        if self.b.tensors[ta].shape != self.b.tensors[tc].shape:
            raise _unsupported(node, f"add of shapes {self.b.tensors[ta].shape} and {self.b.tensors[tc].shape}")
        act, last = self._fused_activation(node)
        y = self.b.add(ta, tc, act)
        self.env[node] = self.env[last] = y

    def _mean(self, node: Any) -> None:
        self.env[node] = self.b.mean(self._arg(node, node.args[0]))

    def _linear(self, node: Any, lin: Any) -> None:
        torch = self.torch
        src = node.args[0]
        x = self.flat.get(src, self.env.get(src))
        if x is None:
            raise _unsupported(node, "Linear reading a tensor the import did not produce")
        _, h, w, c = self.b.tensors[x].shape
        wf = lin.weight.detach().to(torch.float64).cpu().numpy()  # (Cout, C*H*W) in PyTorch's C, H, W order
        if wf.shape[1] != h * w * c:
            raise _unsupported(node, f"Linear of {wf.shape[1]} inputs after a {h}x{w}x{c} map")
        if h * w > 1:  # PyTorch flattens C, H, W; kilotrain's map is H, W, C
            wf = wf.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(wf.shape[0], -1)
        bias = lin.bias.detach().to(torch.float64).cpu().numpy() if lin.bias is not None else np.zeros(wf.shape[0])
        self.env[node] = self.b.fc(x, wf.shape[0], weight=wf, bias=bias)

    def _is_flatten(self, node: Any) -> bool:
        m = self._module(node)
        if isinstance(m, self.nn.Flatten):
            return True
        if node.op == "call_function" and node.target is self.torch.flatten:
            return True
        return node.op == "call_method" and node.target in ("flatten", "view", "reshape", "squeeze")

    def _is_shape_query(self, node: Any) -> bool:
        """x.shape, x.size(), x.dim() and items of them: sizes for a view, no tensor."""
        if node.op == "call_function" and node.target is getattr:
            return node.args[1] in ("shape",)
        if node.op == "call_function" and node.target is operator.getitem:
            src = node.args[0]
            return hasattr(src, "op") and self._is_shape_query(src)
        return node.op == "call_method" and node.target in ("size", "dim")

    def _is_mean(self, node: Any) -> bool:
        m = self._module(node)
        if isinstance(m, self.nn.AdaptiveAvgPool2d):
            return m.output_size in (1, (1, 1))
        if node.op == "call_function" and node.target is self.F.adaptive_avg_pool2d:
            return node.args[1] in (1, (1, 1))
        if node.op == "call_method" and node.target == "mean":
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            return isinstance(dims, (tuple, list)) and sorted(int(d) % 4 for d in dims) == [2, 3]
        return False

    def run(self) -> Graph:
        out: int | None = None
        for node in self.gm.graph.nodes:
            if node in self.done:
                continue
            m = self._module(node)
            if node.op == "placeholder":
                if self.env:
                    raise _unsupported(node, "a second input")
                self.env[node] = self.b.input
            elif node.op == "output":
                res = node.args[0]
                if res not in self.env:
                    raise _unsupported(node, "an output that is not the classifier's")
                out = self.env[res]
            elif isinstance(m, self.nn.Conv2d):
                self._conv(node, m)
            elif isinstance(m, self.nn.Linear):
                self._linear(node, m)
            elif self._is_shape_query(node):
                continue
            elif isinstance(m, (self.nn.Dropout, self.nn.Identity)):
                self.env[node] = self._arg(node, node.args[0])
            elif self._is_mean(node):
                self._mean(node)
            elif self._is_flatten(node):
                self.flat[node] = self._arg(node, node.args[0])
            elif (node.op == "call_function" and node.target in (operator.add, self.torch.add)) or (
                node.op == "call_method" and node.target in ("add", "add_", "__add__")
            ):
                self._add(node)
            elif self._activation(node) is not None:
                raise _unsupported(node, "a ReLU that does not follow a conv or an add read by nothing else")
            elif isinstance(m, self.nn.BatchNorm2d):
                raise _unsupported(node, "a BatchNorm2d that does not follow a conv read by nothing else")
            else:
                what = (
                    type(m).__name__ if m is not None else f"{node.op} {getattr(node.target, '__name__', node.target)}"
                )
                raise _unsupported(node, what)
        if out is None or self.b.ops[-1].kind != "FULLY_CONNECTED" or out != self.b.ops[-1].outputs[0]:
            raise TorchImportError(f"the model's output must be its Linear classifier; supported: {SUPPORTED_LAYERS}")
        return self.b.graph(out)


def from_torch(module: Any, calib: npt.ArrayLike, name: str = "torch") -> Graph:
    """The int8 graph of a float ``module`` (eval mode is set), quantised on ``calib``: float
    inputs (N, C, H, W) as the module takes them, e.g. a few hundred training images."""
    torch = require("torch", "torch", "importing a PyTorch model")
    require("torch.fx", "torch", "importing a PyTorch model")
    x = np.asarray(calib, np.float64)
    if x.ndim != 4 or x.shape[0] < 1:
        raise TorchImportError(f"calibration inputs of shape {x.shape}; expected (N, C, H, W) floats")
    module.eval()
    try:
        return _Importer(torch, module, np.ascontiguousarray(x.transpose(0, 2, 3, 1)), name).run()
    except torch.fx.proxy.TraceError as e:
        raise TorchImportError(f"torch.fx cannot trace the model ({e}); supported: {SUPPORTED_LAYERS}") from None
