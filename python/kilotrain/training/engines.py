"""Training engines: one interface, :class:`TrainEngine`, for everything that can run the
training step of a plan — the integer step in numpy or with the host C kernels
(:class:`KernelEngine`), its fp32 reference (:class:`FloatEngine`), and the firmware on a board
(``kilotrain.device.train_client.DeviceEngine``). The caller picks one (``kilotrain.jobs``) and
drives it; every engine reports the same :class:`~kilotrain.training.step.StepResult`."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from kilotrain.reference.executor import ForwardKernels
from kilotrain.training import step as golden_step
from kilotrain.training.float_reference import FloatTrainer
from kilotrain.training.plan import TrainPlan
from kilotrain.training.step import GOLDEN_BACKWARD, BackwardKernels, StepResult


class TrainEngine(Protocol):
    """Runs training steps of one plan and reports what it learned."""

    name: str

    def step(self, x: np.ndarray, label: int) -> StepResult:
        """One training step on one (int8 input, label) pair."""
        ...

    def evaluate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) of the current parameters over a set."""
        ...

    def params_sha256(self) -> str | None:
        """SHA-256 of the trainable parameters (params_sha256 order), None for a float engine."""
        ...

    def figures(self) -> dict[str, Any]:
        """Measured device figures (instructions, SRAM, flash); empty on the host."""
        ...

    def close(self) -> None:
        """Release what the engine holds (a board, a process)."""
        ...


class KernelEngine:
    """The integer training step run by :mod:`kilotrain.training.step` with pluggable kernels:
    the numpy golden ops (engine ``golden``) or the C kernels built for the host (``c``)."""

    def __init__(
        self, plan: TrainPlan, fwd: ForwardKernels, bwd: BackwardKernels = GOLDEN_BACKWARD, name: str = "golden"
    ) -> None:
        self.plan, self.fwd, self.bwd, self.name = plan, fwd, bwd, name
        self.state = golden_step.init_state(plan)

    def step(self, x: np.ndarray, label: int) -> StepResult:
        return golden_step.step(self.plan, self.state, x, label, fwd=self.fwd, bwd=self.bwd)

    def evaluate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        return golden_step.evaluate(self.plan, self.state, xs, ys, self.fwd)

    def params_sha256(self) -> str | None:
        return golden_step.params_sha256(self.state)

    def figures(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class FloatEngine:
    """The fp32 reference of the same graph and layers (:mod:`kilotrain.training.float_reference`),
    at the plan's learning rate."""

    name = "float"

    def __init__(self, plan: TrainPlan) -> None:
        self.lr = plan.lr
        self.trainer = FloatTrainer.create(plan.graph, plan.scheme)

    def step(self, x: np.ndarray, label: int) -> StepResult:
        loss, ok = self.trainer.step(x, label, self.lr)
        return StepResult(p_label=-1, loss=loss, correct=ok, saturations=0)

    def evaluate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        return self.trainer.evaluate(xs, ys)

    def params_sha256(self) -> str | None:
        return None

    def figures(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass
