"""The model IR: an int8 graph of tensors and ops whose parameters are already integer.

* :class:`Tensor` — name, shape, dtype (``"int8"`` or ``"int32"``), quantization (per-tensor or
  per-channel scale + zero point, float32 as stored in a TFLite file) and optional constant data.
* :class:`Op` — kind (TFLite builtin name, e.g. ``"CONV_2D"``), input/output tensor ids, the
  kernel parameter record of :mod:`kilotrain.model.params` derived at import time, the fused
  activation, and for convolutions their index in network order (0 = stem).
* :class:`Graph` — tensors (a list; an op refers to tensors by position), ops in execution order,
  graph inputs and outputs.

Floats appear only as stored quantization scales; every op's arithmetic is in ``Op.params``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.model.ops import CONV_KINDS


class ModelError(ValueError):
    """A model cannot be read or is outside what kilotrain supports; the message says why."""


@dataclass
class Tensor:
    """One tensor. ``scale``/``zero_point`` have length 1 (per-tensor) or C (per-channel along
    ``quantized_dimension``); both are None for an unquantized int32 shape/index tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8" | "int32"
    scale: npt.NDArray[np.float32] | None = None
    zero_point: npt.NDArray[np.int64] | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        """True if the tensor holds constant data (weights, bias, shapes)."""
        return self.data is not None

    @property
    def values(self) -> np.ndarray:
        """The constant data (raises if the tensor is not a constant)."""
        if self.data is None:
            raise ModelError(f"tensor {self.name!r} has no constant data")
        return self.data

    @property
    def scales(self) -> npt.NDArray[np.float32]:
        """The quantization scale(s) (raises if the tensor is not quantized)."""
        if self.scale is None:
            raise ModelError(f"tensor {self.name!r} is not quantized")
        return self.scale

    @property
    def per_channel(self) -> bool:
        """True if quantized with more than one scale."""
        return self.scale is not None and self.scale.size > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (raises if per-channel or unquantized)."""
        if self.scale is None or self.scale.size != 1:
            raise ModelError(f"tensor {self.name!r} has no single per-tensor scale")
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        """The per-tensor zero point (raises if per-channel or unquantized)."""
        if self.zero_point is None or self.zero_point.size != 1:
            raise ModelError(f"tensor {self.name!r} has no single per-tensor zero point")
        return int(self.zero_point[0])

    @property
    def np_dtype(self) -> type[np.integer[Any]]:
        """The numpy dtype."""
        return np.int8 if self.dtype == "int8" else np.int32


@dataclass
class Op:
    """One operator. ``inputs`` may contain -1 for an absent optional input (e.g. no bias)."""

    kind: str
    inputs: list[int]
    outputs: list[int]
    params: Any = None
    activation: str = "NONE"
    conv_index: int | None = None
    index: int = -1  # position in the source model's operator list

    def __repr__(self) -> str:
        extra = f", conv_index={self.conv_index}" if self.conv_index is not None else ""
        return f"Op(#{self.index} {self.kind}, in={self.inputs}, out={self.outputs}{extra})"


@dataclass
class Graph:
    """A whole int8 model."""

    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def tensor(self, i: int) -> Tensor:
        """Tensor by id."""
        return self.tensors[i]

    @property
    def input(self) -> Tensor:
        """The (first) graph input."""
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> Tensor:
        """The (first) graph output."""
        return self.tensors[self.outputs[0]]

    def conv_layers(self) -> list[Op]:
        """CONV_2D and DEPTHWISE_CONV_2D ops in network order (``op.conv_index`` = position)."""
        return [op for op in self.ops if op.kind in CONV_KINDS]

    def number_convs(self) -> None:
        """(Re)assign ``conv_index`` to the conv layers in execution order."""
        k = 0
        for op in self.ops:
            if op.kind in CONV_KINDS:
                op.conv_index = k
                k += 1
            else:
                op.conv_index = None

    def digest(self) -> str:
        """SHA-256 (hex) of what the model computes: every tensor's shape, type, quantization and
        constant data and every op's kind, wiring, activation and kernel parameters, in order.
        Names and the source file's layout do not count; the same model read from another path or
        a re-serialised file has the same digest, any change to a weight or scale another."""
        h = hashlib.sha256(b"kilotrain graph v1\n")
        for t in self.tensors:
            _hash_value(h, (t.shape, t.dtype, t.quantized_dimension, t.scale, t.zero_point, t.data))
        for op in self.ops:
            _hash_value(h, (op.kind, op.inputs, op.outputs, op.activation, op.params))
        _hash_value(h, (self.inputs, self.outputs))
        return h.hexdigest()

    def summary(self) -> str:
        """One line per op: index, kind, output shape."""
        lines = []
        for op in self.ops:
            out = self.tensors[op.outputs[0]]
            ci = f" conv#{op.conv_index}" if op.conv_index is not None else ""
            lines.append(f"{op.index:3d} {op.kind:18s} -> {list(out.shape)}{ci}")
        return "\n".join(lines)


def _hash_value(h: Any, v: Any) -> None:
    """Feed a canonical, type-tagged form of ``v`` (None, numbers, strings, sequences, numpy
    arrays, dataclasses) into the hash ``h``."""
    if v is None:
        h.update(b"N;")
    elif isinstance(v, np.ndarray):
        a = np.ascontiguousarray(v)
        h.update(f"A{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    elif isinstance(v, (bool, int, float, str, np.integer, np.floating)):
        h.update(f"{type(v).__name__}:{v!r};".encode())
    elif isinstance(v, (list, tuple)):
        h.update(f"L{len(v)}(".encode())
        for x in v:
            _hash_value(h, x)
        h.update(b")")
    elif dataclasses.is_dataclass(v) and not isinstance(v, type):
        h.update(f"D{type(v).__name__}(".encode())
        for f in dataclasses.fields(v):
            h.update(f"{f.name}=".encode())
            _hash_value(h, getattr(v, f.name))
        h.update(b")")
    else:
        raise TypeError(f"cannot digest a {type(v).__name__}")
