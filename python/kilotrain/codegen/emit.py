"""The one C emitter both code generators (model and training) write through: tensor pointers
into the planned arena or the constant tables, and file-scope declarations of parameter records
as C99 designated initialisers built from the ctypes mirrors of the headers
(:func:`kilotrain.kernels.cstructs.initializer`), so a reordered C struct field can never shift
a value. Every emitted symbol is named ``<owner>_<what>``: the owner is ``op<i>`` for the
forward op at schedule position i, ``bw<j>`` for backward step j, ``mask<k>`` for ReLU mask k."""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from ctypes import Structure
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from kilotrain.codegen.memory_plan import MemoryPlan
from kilotrain.contract import MAX_RANK
from kilotrain.kernels.cstructs import (
    C_NAMES,
    Dims,
    PadParamsC,
    PerChannelQuant,
    SplitFilterC,
    TransposeParamsC,
    initializer,
)
from kilotrain.kernels.packed import packed_bytes, why_not_packed
from kilotrain.model.ir import Graph, ModelError, Op

#: Largest packed table of a filter that stays in flash as int8 too (the input gradient reads it):
#: such a layer's packing costs its whole table in flash.
PACK_SHARED_MAX_BYTES = 16 * 1024


def c_values(a: Any) -> str:
    """Comma-separated C literals of an array's elements (C order)."""
    return ",".join(map(str, np.asarray(a).reshape(-1).tolist()))


def dims4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A shape as the kernels' 4-D {n, h, w, c} (leading 1s)."""
    if len(shape) > MAX_RANK:
        raise ModelError(f"tensor rank {len(shape)} > {MAX_RANK} is not supported by the C kernels")
    n, h, w, c = (1,) * (MAX_RANK - len(shape)) + tuple(int(d) for d in shape)
    return n, h, w, c


def tile(t: tuple[int, ...]) -> dict[str, int]:
    """A (height, width) pair as the field values of a kt_tile."""
    return {"h": int(t[0]), "w": int(t[1])}


class CFile:
    """Names, pointers and declarations of one generated C file. ``trainable`` constant tensors
    become SRAM arrays (``kt_p<id>``, initialised from flash at reset), every other constant a
    flash table (``kt_t<id>``); activations live in the arena at the memory plan's offsets.

    ``split`` maps a trainable weight tensor to the number of its leading output-channel rows that
    are updated: only those rows are copied to SRAM (``kt_p<id>``), the frozen rest stays in flash
    (``kt_t<id>_tail``), and kernels read the two parts through a ``kt_split_filter``
    (:meth:`split_filter`). With ``pack``, frozen CONV_2D layers the packer takes run from a packed
    table (:meth:`packable`); ``keep_raw`` names the filters the backward pass reads as int8."""

    def __init__(
        self,
        graph: Graph,
        mp: MemoryPlan,
        trainable: frozenset[int] = frozenset(),
        split: Mapping[int, int] | None = None,
        pack: bool = True,
        keep_raw: frozenset[int] = frozenset(),
    ) -> None:
        self.g, self.mp, self.trainable, self.pack = graph, mp, trainable, pack
        #: filter tensors another kernel reads as int8 (an input gradient through the layer)
        self.keep_raw = keep_raw
        self.split: dict[int, int] = dict(split or {})
        self.consts: dict[Any, dict[str, Any]] = {}
        self._names: set[str] = set()
        #: flash bytes of the parameter tables and records declared so far (array(), struct())
        self.table_bytes = 0

    # ---- tensors
    def _const(self, key: Any, name: str, data: np.ndarray, ctype: str, trainable: bool) -> None:
        self.consts[key] = {
            "name": name,
            "ctype": ctype,
            "count": max(data.size, 1),
            "trainable": trainable,
            "data": c_values(data) if data.size else "0",
        }

    def ptr(self, t: int) -> str:
        """C expression for tensor t's data (a split tensor: its SRAM rows)."""
        if t < 0:
            return "NULL"
        tensor = self.g.tensors[t]
        if tensor.is_const:
            if t not in self.consts:
                ctype = "int8_t" if tensor.dtype == "int8" else "int32_t"
                data = np.asarray(tensor.data)
                train = t in self.trainable
                if t in self.split:
                    n = self.split[t]
                    self._const(t, f"kt_p{t}", data[:n], ctype, True)
                    self._const((t, "tail"), f"kt_t{t}_tail", data[n:], ctype, False)
                else:
                    self._const(t, f"kt_p{t}" if train else f"kt_t{t}", data, ctype, train)
            return str(self.consts[t]["name"])
        return self.arena(t)

    def packed(self, t: int, records: np.ndarray) -> str:
        """The flash table ``kt_t<id>_packed`` of filter tensor t packed (kt_conv2d_packed_s8's
        records): one of the model's constants, like the int8 filter it replaces."""
        key = (t, "packed")
        if key not in self.consts:
            self._const(key, f"kt_t{t}_packed", np.asarray(records, np.int32), "int32_t", False)
        return str(self.consts[key]["name"])

    @property
    def packed_layers(self) -> int:
        """Filters emitted as packed tables so far (:meth:`packed`)."""
        return sum(1 for key in self.consts if isinstance(key, tuple) and key[1:] == ("packed",))

    def tail(self, t: int) -> str:
        """The flash part (frozen rows) of a split tensor."""
        self.ptr(t)
        return str(self.consts[(t, "tail")]["name"])

    def split_filter(self, decls: list[str], owner: str, t: int) -> str | None:
        """``&<owner>_fs``, a kt_split_filter over tensor t's two parts, or None if t is not split."""
        if t not in self.split:
            return None
        values = {"head": self.ptr(t), "tail": self.tail(t), "split": self.split[t]}
        return self.struct(decls, owner, "fs", SplitFilterC, values)

    def packable(self, op: Op) -> bool:
        """Whether a CONV_2D runs with its filter packed (kt_conv2d_packed_s8): ``pack`` is on, its
        filter is a constant nothing updates (a trained bias is added at run time) and the packer
        takes the layer."""
        f = op.inputs[1]
        if not self.pack or op.kind != "CONV_2D" or f in self.trainable or f in self.split:
            return False
        if not self.g.tensors[f].is_const or why_not_packed(self.shape(f), op.params) is not None:
            return False
        # a filter the backward pass also reads as int8 would be in flash twice: packed only if
        # the table is small (MobileNetV2's 1,280-channel layer would add 312 KB)
        return f not in self.keep_raw or packed_bytes(self.shape(f)) <= PACK_SHARED_MAX_BYTES

    def arena(self, key: Any) -> str:
        """Pointer to a planned arena buffer (an activation id, ("mask", k) or ("grad", j))."""
        return f"&kt_arena[{self.mp.offset(key)}]"

    def shape(self, t: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.g.tensors[t].shape)

    @property
    def const_bytes(self) -> int:
        return sum(int(c["count"]) * (1 if c["ctype"] == "int8_t" else 4) for c in self.consts.values())

    # ---- declarations
    def symbol(self, owner: str, what: str) -> str:
        name = f"{owner}_{what}"
        k = 1
        while name in self._names:
            k += 1
            name = f"{owner}_{what}{k}"
        self._names.add(name)
        return name

    def array(self, decls: list[str], owner: str, what: str, ctype: str, values: Any) -> str:
        """``static const <ctype> <owner>_<what>[n] = {...};`` — returns the name."""
        v = np.atleast_1d(np.asarray(values))
        name = self.symbol(owner, what)
        self.table_bytes += v.size * {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2}.get(ctype, 4)
        decls.append(f"static const {ctype} {name}[{v.size}] = {{{c_values(v)}}};")
        return name

    def byte_move(self, decls: list[str], owner: str, op: Op) -> tuple[str, str]:
        """(``&params``, ``shape``) of a PAD / PADV2 / TRANSPOSE op for its kernel and its
        gradient's (``kt_pad_s8`` / ``kt_pad_grad_s8``, ``kt_transpose_s8`` / ``..._grad_s8``):
        the parameter record and the forward input's shape."""
        p = op.params
        if op.kind == "TRANSPOSE":
            pp = self.struct(decls, owner, "p", TransposeParamsC, {"rank": len(p.perm), "perm": list(p.perm)})
        else:
            values = {
                "rank": len(p.paddings),
                "before": [b for b, _ in p.paddings],
                "after": [a for _, a in p.paddings],
                "pad_value": p.pad_value,
            }
            pp = self.struct(decls, owner, "p", PadParamsC, values)
        return pp, self.array(decls, owner, "shape", "int32_t", self.shape(op.inputs[0]))

    def struct(
        self, decls: list[str], owner: str, what: str, struct: type[Structure], values: Mapping[str, Any]
    ) -> str:
        """A const parameter record with a designated initialiser — returns ``&name``."""
        name = self.symbol(owner, what)
        self.table_bytes += ctypes.sizeof(struct)
        decls.append(f"static const {C_NAMES[struct]} {name} = {initializer(struct, values)};")
        return f"&{name}"

    def dims(self, decls: list[str], owner: str, what: str, shape: tuple[int, ...]) -> str:
        n, h, w, c = dims4(shape)
        return self.struct(decls, owner, what, Dims, {"n": n, "h": h, "w": w, "c": c})

    def quant(self, decls: list[str], owner: str, what: str, mult: Any, shift: Any) -> dict[str, str]:
        """Per-channel multiplier and shift tables; returns the kt_per_channel_quant field values."""
        return {
            "multiplier": self.array(decls, owner, f"{what}_mult", "int32_t", mult),
            "shift": self.array(decls, owner, f"{what}_shift", "int32_t", shift),
        }

    def quant_struct(self, decls: list[str], owner: str, what: str, mult: Any, shift: Any) -> str:
        return self.struct(decls, owner, what, PerChannelQuant, self.quant(decls, owner, what, mult, shift))


def template_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kilotrain.codegen", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def write(text: str, out_dir: Path, filename: str) -> Path:
    """Write generated text (only when it changed, so builds stay incremental)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / filename
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
