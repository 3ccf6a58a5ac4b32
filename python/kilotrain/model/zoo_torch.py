"""The zoo's architectures as float PyTorch modules, to train (or load trained weights into) and
convert with :func:`kilotrain.model.torch_import.from_torch`: the same layers in the same order
as :mod:`kilotrain.model.zoo` builds them (its block tables: ``mbv2_blocks``, ``proxyless_blocks``),
each convolution followed by a batch norm that the import folds. PyTorch pads symmetrically
(``k // 2``), so a stride-2 layer's padding differs from the random zoo's TFLite SAME padding;
everything else is the same graph. PyTorch is an optional extra.

``kilotrain convert zoo:mbv2-w0.35 --weights ckpt.pt --dataset lfw --out mbv2.ktm`` loads a
state dict (or a checkpoint holding one under ``state_dict`` or ``model``) into
:func:`zoo_module` and converts it (docs/custom-models.md).
"""

from __future__ import annotations

from typing import Any

from kilotrain.extras import require
from kilotrain.model.ir import ModelError
from kilotrain.model.zoo import last_channels, make_divisible, mbv2_blocks, proxyless_blocks

#: The zoo names :func:`zoo_module` builds, with their default input size.
ZOO_MODULES = {"tiny_cnn": 16, "resnet8": 32, "mbv2-w0.35": 128, "proxyless-w0.3": 128}


def _layers(nn: Any) -> tuple[Any, Any, Any]:
    """The three block classes, defined once torch is imported."""
    Module: Any = nn.Module
    Sequential: Any = nn.Sequential

    class ConvBN(Sequential):
        def __init__(self, cin: int, cout: int, k: int, stride: int, act: str, groups: int = 1) -> None:
            layers: list[Any] = [
                nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout),
            ]
            if act == "RELU6":
                layers.append(nn.ReLU6())
            elif act == "RELU":
                layers.append(nn.ReLU())
            super().__init__(*layers)

    class InvertedResidual(Module):
        def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
            super().__init__()
            mid = cin * expand
            layers: list[Any] = [ConvBN(cin, mid, 1, 1, "RELU6")] if expand != 1 else []
            layers += [ConvBN(mid, mid, k, stride, "RELU6", groups=mid), ConvBN(mid, cout, 1, 1, "NONE")]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: Any) -> Any:
            h = self.body(x)
            return h + x if self.residual else h

    class BasicBlock(Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(ConvBN(cin, cout, 3, stride, "RELU"), ConvBN(cout, cout, 3, 1, "NONE"))
            self.shortcut = ConvBN(cin, cout, 1, stride, "NONE") if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x: Any) -> Any:
            h = self.body(x)
            return self.relu(h + self.shortcut(x))

    return ConvBN, InvertedResidual, BasicBlock


def zoo_module(name: str, num_classes: int = 10, channels: int = 3) -> Any:
    """The float ``torch.nn.Module`` of zoo model ``name`` (``tiny_cnn``, ``resnet8``,
    ``mbv2-w0.35``, ``proxyless-w0.3``), freshly initialised, taking (N, ``channels``, H, W)."""
    torch = require("torch", "torch", f"the PyTorch twin of zoo:{name}")
    nn = torch.nn
    ConvBN, InvertedResidual, BasicBlock = _layers(nn)
    layers: list[Any] = []
    if name == "tiny_cnn":
        out = 16
        layers = [ConvBN(channels, 8, 3, 2, "RELU6"), InvertedResidual(8, 8, 3, 1, 2), ConvBN(8, out, 1, 1, "RELU6")]
    elif name == "resnet8":
        layers = [ConvBN(channels, 16, 3, 1, "RELU")]
        out = 16
        for stage, c in enumerate((16, 32, 64)):
            layers.append(BasicBlock(out, c, 1 if stage == 0 else 2))
            out = c
    elif name in ("mbv2-w0.35", "proxyless-w0.3"):
        width = 0.35 if name.startswith("mbv2") else 0.3
        cin = make_divisible(32 * width)
        layers = [ConvBN(channels, cin, 3, 2, "RELU6")]
        for cout, k, stride, expand in mbv2_blocks(width) if name.startswith("mbv2") else proxyless_blocks(width):
            layers.append(InvertedResidual(cin, cout, k, stride, expand))
            cin = cout
        out = last_channels(width)
        layers.append(ConvBN(cin, out, 1, 1, "RELU6"))
    else:
        raise ModelError(f"zoo:{name} has no PyTorch twin; known: {', '.join('zoo:' + z for z in ZOO_MODULES)}")

    Module: Any = nn.Module

    class ZooNet(Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(out, num_classes)

        def forward(self, x: Any) -> Any:
            return self.classifier(torch.flatten(self.pool(self.features(x)), 1))

    return ZooNet()


def load_weights(module: Any, path: str) -> Any:
    """``module`` with the state dict in ``path`` (a bare state dict, or a checkpoint dict holding
    it under ``state_dict`` or ``model``); ModelError naming the first mismatch otherwise."""
    torch = require("torch", "torch", "loading PyTorch weights")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as e:
        raise ModelError(f"--weights {path}: cannot read it ({e})") from None
    state = ckpt
    if isinstance(ckpt, dict):
        for key in ("state_dict", "model"):
            if isinstance(ckpt.get(key), dict):
                state = ckpt[key]
    if not isinstance(state, dict):
        raise ModelError(f"--weights {path}: not a state dict (a {type(state).__name__})")
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise ModelError(f"--weights {path}: does not fit this model: {first}") from None
    return module
