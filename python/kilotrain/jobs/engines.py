"""Engines by name (``--engine golden | c | qemu``, :data:`kilotrain.model.ops.ENGINES`): the one
place a name becomes kernels, a training engine or a board."""

from __future__ import annotations

from kilotrain import reference
from kilotrain.device.train_client import DeviceEngine
from kilotrain.kernels import backward as c_backward
from kilotrain.kernels import forward as c_forward
from kilotrain.model import ops
from kilotrain.reference.executor import ForwardKernels
from kilotrain.training.engines import FloatEngine, KernelEngine, TrainEngine
from kilotrain.training.plan import ROUNDINGS, TrainPlan

#: Training modes: the integer step with QAS, without QAS, or the fp32 reference.
MODES: tuple[str, ...] = ("int8", "int8-noqas", "fp32")


def check_choice(engine: str, mode: str) -> None:
    """ValueError (one line) unless ``engine`` and ``mode`` are known and go together."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use {', '.join(MODES)}")
    ops.check_engine(engine)
    if engine == "qemu" and mode == "fp32":
        raise ValueError("--engine qemu runs the integer step; --mode fp32 is the float reference (golden engine only)")


def check_options(*, lr: float | None = None, rounding: str | None = None, input_size: int | None = None) -> None:
    """ValueError (one line naming the flag) for a learning rate that is not a finite number > 0,
    an unknown rounding or an input size < 1; None skips a check."""
    if lr is not None and not 0 < lr < float("inf"):
        raise ValueError(f"--lr must be a finite number > 0; got {lr}")
    if rounding is not None and rounding not in ROUNDINGS:
        raise ValueError(f"--rounding must be one of {', '.join(ROUNDINGS)}; got {rounding!r}")
    if input_size is not None and input_size < 1:
        raise ValueError(f"--input-size must be >= 1; got {input_size}")


def forward_kernels(engine: str) -> ForwardKernels:
    """The forward kernels the host runs for ``engine``: the golden ops, or the C kernels for
    ``c``. (``qemu`` evaluates on the host with the golden ops: the device's own forward pass is
    what it trains with.)"""
    return c_forward if ops.check_engine(engine) == "c" else reference


def train_engine(engine: str, plan: TrainPlan, mode: str = "int8", source_name: str = "model.tflite") -> TrainEngine:
    """A started training engine for ``plan``: ``mode`` fp32 is the float reference (any host
    engine); else the integer step with the golden ops, the host C kernels, or the generated
    step on the emulated board (built and booted here; close() stops it)."""
    check_choice(engine, mode)
    if mode == "fp32":
        return FloatEngine(plan)
    if engine == "golden":
        return KernelEngine(plan, reference, name="golden")
    if engine == "c":
        return KernelEngine(plan, c_forward, c_backward, name="c")
    return DeviceEngine.on_qemu(plan, source_name)
