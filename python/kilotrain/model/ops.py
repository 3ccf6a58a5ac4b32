"""The op capability table: every op kind kilotrain knows, what it is, and which engine can run
it forward and pass a gradient through it backward. The one list of ops: the importer, the
executor, the code generators, the training plan and the CLI all read it from here.

Engines (``--engine``):

* ``golden`` — the numpy golden model (:mod:`kilotrain.reference`), the definition of every bit;
* ``c`` — the golden training loop calling the C kernels built for the host;
* ``qemu`` — the generated C step (:mod:`kilotrain.codegen`) inside the firmware, on the emulated
  Cortex-M7 (the same C runs on a board and, compiled for the host, in tests).

Adding an op: a row here, then its golden op, its C kernel, the executor adapter and the emitter
(docs/architecture.md, "Where things go").
"""

from __future__ import annotations

from dataclasses import dataclass

#: The engines, in the order the CLI lists them.
ENGINES: tuple[str, ...] = ("golden", "c", "qemu")
_ALL = frozenset(ENGINES)
#: Fused activations with an integer backward: the output's ReLU mask (docs/numerics.md).
_RELUS = frozenset(("NONE", "RELU", "RELU6"))


@dataclass(frozen=True)
class OpInfo:
    """What kilotrain can do with one op kind."""

    kind: str  # TFLite builtin name
    forward: frozenset[str]  # engines that run it forward
    backward: frozenset[str]  # engines that pass a gradient through it (empty: none can)
    weighted: bool = False  # int8 weights + int32 bias: trainable, scheme layers count the convs
    view: bool = False  # moves bytes only: its input gradient shares the output gradient's exponent
    conv: bool = False  # a "conv layer" of a sparse-update scheme (network order, 0 = stem)
    #: fused activations the backward passes a gradient through (a ReLU mask on the op's output)
    activations: frozenset[str] = frozenset(("NONE",))


OPS: dict[str, OpInfo] = {
    o.kind: o
    for o in (
        OpInfo("CONV_2D", _ALL, _ALL, weighted=True, conv=True, activations=_RELUS),
        OpInfo("DEPTHWISE_CONV_2D", _ALL, _ALL, weighted=True, conv=True, activations=_RELUS),
        OpInfo("FULLY_CONNECTED", _ALL, _ALL, weighted=True, activations=_RELUS),
        OpInfo("ADD", _ALL, _ALL, activations=_RELUS),  # residual networks: ADD + ReLU
        OpInfo("AVERAGE_POOL_2D", _ALL, _ALL),
        OpInfo("MEAN", _ALL, _ALL),
        OpInfo("RESHAPE", _ALL, _ALL, view=True),
        OpInfo("PAD", _ALL, _ALL, view=True),
        OpInfo("PADV2", _ALL, _ALL, view=True),
        OpInfo("TRANSPOSE", _ALL, _ALL, view=True),
        OpInfo("SOFTMAX", _ALL, frozenset()),  # training starts at its input (softmax-CE)
    )
}

#: Op kinds the IR, the importer and the executor support.
SUPPORTED_OPS: tuple[str, ...] = tuple(OPS)
#: Ops with trainable int8 weights and int32 bias.
WEIGHTED: tuple[str, ...] = tuple(k for k, o in OPS.items() if o.weighted)
#: Op kinds counted as "conv layers" for sparse-update schemes.
CONV_KINDS: tuple[str, ...] = tuple(k for k, o in OPS.items() if o.conv)
#: Ops that only move bytes.
VIEW_KINDS: tuple[str, ...] = tuple(k for k, o in OPS.items() if o.view)


def backward_kinds(engine: str) -> tuple[str, ...]:
    """Op kinds ``engine`` can pass a gradient through."""
    check_engine(engine)
    return tuple(k for k, o in OPS.items() if engine in o.backward)


def check_engine(engine: str) -> str:
    """``engine`` if known, else ValueError naming the known ones."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
    return engine
