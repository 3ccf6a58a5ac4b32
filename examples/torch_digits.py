"""Bring your own PyTorch model (docs/custom-models.md): train a small float CNN with batch norm
and a residual block on scikit-learn's digits, on the CPU, in seconds; convert it to a kilotrain
int8 model; check the int8 model against the float one; save it as a .ktm that `kilotrain plan`,
`train` and `compile` take.

    python examples/torch_digits.py --out build/digits.ktm

Needs the torch and datasets extras (tools/setup installs both).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kilotrain.jobs.convert import float_split, top1_agreement
from kilotrain.model.irfile import save_graph
from kilotrain.model.torch_import import from_torch

#: The input kilotrain will give the model: 16 x 16 RGB (a 3-channel input takes the ImageNet
#: rule: resize, scale to [0, 1], normalise; images.imagenet_float is its float side).
SIZE = 16


class DigitsNet(nn.Module):
    """conv-BN-ReLU, strided conv-BN-ReLU, a residual block (conv-BN-ReLU, conv-BN, add, ReLU),
    global average pool, linear classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.c3, self.b3 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.c4, self.b4 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, classes)

    def forward(self, x: Any) -> Any:
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        h = F.relu(self.b3(self.c3(x)))
        x = F.relu(x + self.b4(self.c4(h)))
        return self.fc(torch.flatten(self.pool(x), 1))


def train(x: np.ndarray, y: np.ndarray, epochs: int = 6, seed: int = 0) -> nn.Module:
    """A DigitsNet (initialised from ``seed``) trained by Adam, batches of 64, cross-entropy; in
    eval mode."""
    torch.manual_seed(seed)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="build/digits.ktm", help="where to write the int8 model (.ktm)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--calib", type=int, default=256, help="training images the activation ranges come from")
    a = ap.parse_args()
    x, y, xte, yte = float_split("digits", SIZE)
    t0 = time.time()
    net = train(x, y, a.epochs)
    with torch.no_grad():
        acc = float(np.mean(net(torch.tensor(xte)).argmax(1).numpy() == yte))
    print(f"float model: {a.epochs} epochs in {time.time() - t0:.1f} s, test accuracy {acc:.1%}")
    graph = from_torch(net, x[: a.calib], "digits-resnet")
    print(f"int8 model: {len(graph.ops)} ops ({', '.join(op.kind for op in graph.ops)})")
    print(
        f"int8 top-1 == float top-1 on the {a.calib} calibration images: {top1_agreement(net, graph, x[: a.calib]):.1%}"
    )
    print(f"written {save_graph(graph, a.out)}")


if __name__ == "__main__":
    main()
