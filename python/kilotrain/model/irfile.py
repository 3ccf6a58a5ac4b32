"""kilotrain's own model file (``.ktm``): an int8 :class:`~kilotrain.model.ir.Graph` saved as it
is, for models that do not come from a ``.tflite`` (the PyTorch import, the zoo with trained
weights). ``plan``, ``train``, ``compile``, ``infer`` and ``stream`` take a ``.ktm`` path wherever
they take a ``.tflite`` (:func:`kilotrain.model.load.load_model`).

The file is a NumPy ``.npz``: ``graph.json`` (the structure: tensors, ops with their kernel
parameter records, inputs, outputs, name) and one array per constant and per array field, each
with its own dtype. A graph read back has the same :meth:`~kilotrain.model.ir.Graph.digest`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.model import params as params_module
from kilotrain.model.ir import Graph, ModelError, Op, Tensor

#: The file's suffix and the version of its layout.
SUFFIX = ".ktm"
VERSION = 1
_PARAM_CLASSES = {
    name: cls
    for name, cls in vars(params_module).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == params_module.__name__
}


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def value(self, v: Any) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.ndarray):
            key = f"a{len(self.arrays)}"
            self.arrays[key] = v
            return {"array": key}
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            return {"scalar": v.dtype.str, "value": v.item()}
        if isinstance(v, (int, float)):
            return v
        if isinstance(v, (list, tuple)):
            return {"list" if isinstance(v, list) else "tuple": [self.value(x) for x in v]}
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {
                "record": type(v).__name__,
                "fields": {f.name: self.value(getattr(v, f.name)) for f in dataclasses.fields(v)},
            }
        if isinstance(v, dict):
            return {"dict": {str(k): self.value(x) for k, x in v.items()}}
        raise ModelError(f"cannot save a {type(v).__name__} in a {SUFFIX} file")


class _Reader:
    def __init__(self, arrays: dict[str, np.ndarray], where: str) -> None:
        self.arrays, self.where = arrays, where

    def value(self, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        if "array" in v:
            return self.arrays[v["array"]]
        if "scalar" in v:
            return np.dtype(v["scalar"]).type(v["value"])
        if "list" in v:
            return [self.value(x) for x in v["list"]]
        if "tuple" in v:
            return tuple(self.value(x) for x in v["tuple"])
        if "record" in v:
            cls = _PARAM_CLASSES.get(v["record"])
            if cls is None:
                raise ModelError(f"{self.where}: unknown parameter record {v['record']!r}")
            return cls(**{k: self.value(x) for k, x in v["fields"].items()})
        if "dict" in v:
            return {k: self.value(x) for k, x in v["dict"].items()}
        raise ModelError(f"{self.where}: unreadable value {v!r}")


def save_graph(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (``.ktm`` is appended when missing); returns the path."""
    p = Path(path)
    if p.suffix != SUFFIX:
        p = p.with_name(p.name + SUFFIX)
    w = _Writer()
    doc = {
        "format": "kilotrain model",
        "version": VERSION,
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "metadata": w.value(dict(graph.metadata)),
        "tensors": [
            {
                "name": t.name,
                "shape": list(t.shape),
                "dtype": t.dtype,
                "scale": w.value(t.scale),
                "zero_point": w.value(t.zero_point),
                "quantized_dimension": t.quantized_dimension,
                "data": w.value(t.data),
            }
            for t in graph.tensors
        ],
        "ops": [
            {
                "kind": op.kind,
                "inputs": list(op.inputs),
                "outputs": list(op.outputs),
                "params": w.value(op.params),
                "activation": op.activation,
                "conv_index": op.conv_index,
                "index": op.index,
            }
            for op in graph.ops
        ],
    }
    buf = io.BytesIO()
    arrays: dict[str, Any] = {"graph.json": np.frombuffer(json.dumps(doc).encode(), np.uint8), **w.arrays}
    np.savez_compressed(buf, **arrays)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(buf.getvalue())
    return p


def load_graph(path: str | Path) -> Graph:
    """The graph saved in ``path``; ModelError (one line) for a file that is not one."""
    p = Path(path)
    where = str(p)
    if not p.is_file():
        raise ModelError(f"{where}: no such file")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ModelError(f"{where}: not a {SUFFIX} file ({e})") from None
    if "graph.json" not in arrays:
        raise ModelError(f"{where}: not a {SUFFIX} file (no graph.json)")
    doc = json.loads(arrays.pop("graph.json").tobytes().decode())
    if doc.get("format") != "kilotrain model" or doc.get("version") != VERSION:
        raise ModelError(f"{where}: a {SUFFIX} file of version {doc.get('version')}; this kilotrain reads {VERSION}")
    r = _Reader(arrays, where)
    tensors = [
        Tensor(
            t["name"],
            tuple(t["shape"]),
            t["dtype"],
            r.value(t["scale"]),
            r.value(t["zero_point"]),
            t["quantized_dimension"],
            r.value(t["data"]),
        )
        for t in doc["tensors"]
    ]
    ops = [
        Op(
            o["kind"],
            list(o["inputs"]),
            list(o["outputs"]),
            r.value(o["params"]),
            o["activation"],
            o["conv_index"],
            o["index"],
        )
        for o in doc["ops"]
    ]
    return Graph(tensors, ops, list(doc["inputs"]), list(doc["outputs"]), doc["name"], r.value(doc["metadata"]))
