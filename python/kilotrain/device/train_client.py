"""Train inside the firmware: generate the training step's C from a plan, build the qemu_m7
image with it, and drive steps over the serial protocol (exactly-once TRAIN_STEP, parameter
read-back for bit-exact comparison with the golden model)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain import reference as golden
from kilotrain.codegen import train as codegen_train
from kilotrain.device import memory, wire
from kilotrain.device.boards import QemuBoard
from kilotrain.device.firmware import (
    FirmwareImage,
    ModelClient,
    _sections,
    build_firmware,
)
from kilotrain.device.link import Device, DeviceError, DeviceTimeout
from kilotrain.training import step as train_golden
from kilotrain.training.plan import TrainPlan
from kilotrain.training.step import StepResult


class StepFailed(RuntimeError):
    """The device's training step returned a non-OK status."""


class CheckpointMismatch(RuntimeError):
    """A checkpoint the device wrote or restored does not hold the state the host expected."""


@dataclass(frozen=True)
class DeviceStep:
    """One step as the device reports it (compare train_golden.StepResult)."""

    step: int
    status: int
    p_label: int
    prediction: int
    saturations: int
    ticks: int
    stack_high_water: int


def build_with_training(
    plan: TrainPlan, source_name: str, env_name: str = "qemu_m7", build_flags: tuple[str, ...] = ()
) -> FirmwareImage:
    """Generate the training step's C (kt_train.c) and build ``env_name`` with it, its stack region
    sized from the model. An image that would not fit the board raises
    :class:`kilotrain.device.memory.DoesNotFit` before anything is built."""
    board = memory.board_memory(env_name) if env_name in memory.BOARDS else None
    code, budget = memory.render_for_board(plan, source_name, board)
    if board is not None:
        memory.check_fits(plan, budget, board)
    flags = (*build_flags, f"-Wl,--defsym=KT_STACK_SIZE={memory.stack_bytes(code)}")
    elf, source, digest = build_firmware("kt_train.c", code.text, env_name, flags, prefix="train-")
    gen = codegen_train.GeneratedTraining(source.parent, source, code, digest)
    return FirmwareImage(elf, gen, _sections(elf))


@dataclass(frozen=True)
class DeviceEval:
    """One EVAL or INFER answer: the device's forward pass on one frame."""

    status: int
    prediction: int
    p_label: int  # Q15 probability of the label (EVAL; 0 from INFER)
    seen: int  # EVAL counters after this frame
    correct: int
    ticks: int
    logits: bytes = b""  # INFER only


class TrainClient(ModelClient):
    """The training commands of the serial protocol."""

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        t = self.train_info()
        self.steps_done, self.params_size = t.steps_done, t.params_size

    def train_info(self, timeout: float | None = None) -> wire.TrainInfoAnswer:
        """Steps done, parameter bytes, learning-rate exponent, EVAL counters."""
        return self.device.call(wire.TRAIN_INFO_REQUEST, wire.TRAIN_INFO_ANSWER, timeout=timeout)

    def eval(self, x: npt.NDArray[np.int8], label: int, restart: bool = False) -> DeviceEval:
        """Upload x and classify it on the device, counting the answer against ``label``
        (``restart``: zero the counters first). Changes no parameter."""
        self.upload(x)
        a = self.device.call(
            wire.EVAL_REQUEST, wire.EVAL_ANSWER, timeout=600, label=int(label), restart=int(bool(restart))
        )
        return DeviceEval(a.status, a.predicted, a.p_label_q15, a.eval_seen, a.eval_correct, a.ticks)

    def infer(self, x: npt.NDArray[np.int8]) -> DeviceEval:
        """Upload x; the device's prediction and int8 logits (nothing counted, nothing changed)."""
        self.upload(x)
        a = self.device.call(wire.INFER_REQUEST, wire.INFER_ANSWER, timeout=600)
        return DeviceEval(a.status, a.predicted, 0, 0, 0, a.ticks, a.logits)

    def set_lr_shift(self, lr_shift: int) -> int:
        """Following steps update at the compiled learning rate * 2**lr_shift; returns the value
        in force (DeviceError BAD_PAYLOAD when outside contract.LR_SHIFT_MIN/MAX)."""
        return self.device.call(wire.SET_LR_REQUEST, wire.SET_LR_ANSWER, lr_shift=int(lr_shift)).lr_shift

    def reset(self, erase_checkpoints: bool = False, boot_timeout: float = 10.0) -> wire.TrainInfoAnswer:
        """Restart the device as from power-on: EVAL counters zero and the newest valid
        checkpoint restored at boot, or with ``erase_checkpoints`` both slots erased first, so it
        restarts from the flashed parameters at step 0, lr_shift 0. Waits until the restarted
        firmware answers; returns its TRAIN_INFO."""
        self.device.call(wire.RESET_REQUEST, wire.RESET_ANSWER, erase_checkpoints=int(erase_checkpoints))
        return self.wait_for_boot(boot_timeout)

    def wait_for_boot(self, boot_timeout: float = 10.0) -> wire.TrainInfoAnswer:
        """Poll TRAIN_INFO until a restarted device answers; take its step count."""
        deadline = time.monotonic() + boot_timeout
        while True:
            try:
                t = self.train_info(timeout=1.0)
                break
            except (DeviceTimeout, DeviceError):
                if time.monotonic() > deadline:
                    raise
        self.steps_done, self.params_size = t.steps_done, t.params_size
        return t

    def checkpoint(self, timeout: float = 60.0) -> wire.CheckpointAnswer:
        """Write the device's training state (SRAM parameters, gradient exponents, steps,
        lr_shift) into the older of its two checkpoint slots. DeviceError NO_STORE when the board
        has no store (or too small a one), STORE_FAILED when the write failed (the previous
        checkpoint stays valid); CheckpointMismatch when the device checkpointed another step
        count than the host's (it restarted in between)."""
        a = self.device.call(wire.CHECKPOINT_REQUEST, wire.CHECKPOINT_ANSWER, timeout=timeout)
        if a.steps != self.steps_done:
            raise CheckpointMismatch(
                f"the device checkpointed step {a.steps}, the host expected {self.steps_done} (did it restart?)"
            )
        return a

    def restore(self, timeout: float = 60.0) -> wire.CheckpointAnswer:
        """Load the newest valid checkpoint into the device's training state; the step count
        becomes the checkpoint's. DeviceError NO_CHECKPOINT when there is none."""
        a = self.device.call(wire.RESTORE_REQUEST, wire.RESTORE_ANSWER, timeout=timeout)
        self.steps_done = a.steps
        return a

    def step(self, x: npt.NDArray[np.int8], label: int, retries: int = 2) -> DeviceStep:
        """Upload x, apply step ``steps_done`` with ``label``; a lost answer is retried with the
        same step number, which the device answers from its cache without applying it again."""
        self.upload(x)
        step = self.steps_done
        for attempt in range(retries + 1):
            try:
                a = self.device.call(
                    wire.TRAIN_STEP_REQUEST, wire.TRAIN_STEP_ANSWER, timeout=600, step=step, label=int(label)
                )
                break
            except DeviceTimeout:
                if attempt == retries:
                    raise
        if a.status != 0:
            raise StepFailed(f"training step {a.step} returned status {a.status}")
        if self.info.stack_bytes and a.stack_high_water >= self.info.stack_bytes:  # 0: not measured (native)
            raise StepFailed(
                f"training step {a.step} used the whole {self.info.stack_bytes} B stack region (an overflow): "
                "raise kilotrain.device.memory.STACK_BASE_BYTES"
            )
        self.steps_done = a.step + 1
        return DeviceStep(a.step, a.status, a.p_label_q15, a.predicted, a.saturated, a.ticks, a.stack_high_water)

    def profile_ticks(self) -> list[int]:
        """The per-op profile of a ``-DKT_PROFILE`` image: counter ticks per profiled region since
        reset (codegen.train.ProfileEntry order); [] from any other image."""
        per_frame = (self.info.max_payload - wire.PROFILE_ANSWER.size) // 8
        total = self.device.call(wire.PROFILE_REQUEST, wire.PROFILE_ANSWER, first=0, length=0).entries
        out: list[int] = []
        while len(out) < total:
            n = min(per_frame, total - len(out))
            a = self.device.call(wire.PROFILE_REQUEST, wire.PROFILE_ANSWER, first=len(out), length=n)
            out += [int(v) for v in np.frombuffer(a.ticks, "<u8")]
        return out

    def params(self) -> bytes:
        """All trainable parameters, in params_sha256 order."""
        out = bytearray()
        while len(out) < self.params_size:
            n = min(self.chunk, self.params_size - len(out))
            out += self.device.call(wire.PARAMS_READ_REQUEST, wire.PARAMS_READ_ANSWER, offset=len(out), length=n).data
        return bytes(out)

    def params_sha256(self) -> str:
        return hashlib.sha256(self.params()).hexdigest()


def state_from_params(plan: TrainPlan, blob: bytes) -> train_golden.TrainState:
    """A golden TrainState holding the parameters read back from a device (params_sha256 order);
    the exponents are the plan's initial ones (evaluation does not use them)."""
    state = train_golden.init_state(plan)
    off = 0
    for pos in sorted(state.biases):
        if pos in state.weights:
            w = state.weights[pos]
            state.weights[pos] = np.frombuffer(blob, np.int8, w.size, off).reshape(w.shape).copy()
            off += w.size
        b = state.biases[pos]
        state.biases[pos] = np.frombuffer(blob, "<i4", b.size, off).astype(np.int32)
        off += 4 * b.size
    if off != len(blob):
        raise ValueError(f"device parameters: {len(blob)} bytes, the plan has {off}")
    return state


class DeviceEngine:
    """A :class:`kilotrain.training.engines.TrainEngine` on a board running the generated step:
    each step uploads the frame and applies one exactly-once TRAIN_STEP; evaluation runs the
    golden forward on the parameters read back from the device (the device trains, the host
    checks). :meth:`on_qemu` builds the image and boots the emulated Cortex-M7 (``-icount``: the
    device reports instructions per step)."""

    def __init__(self, plan: TrainPlan, client: TrainClient, image: FirmwareImage, board: Any, name: str) -> None:
        self.plan, self.client, self.image, self.board, self.name = plan, client, image, board, name
        self.per_tick = client.info.instructions_per_tick
        self.instructions: list[int] = []
        self.stack_high_water: int | None = None
        self._blob: bytes | None = None

    @classmethod
    def on_qemu(cls, plan: TrainPlan, source_name: str) -> DeviceEngine:
        image = build_with_training(plan, source_name)
        board = QemuBoard(image.elf)
        try:
            return cls(plan, TrainClient(board.device), image, board, "qemu")
        except BaseException:
            board.close()
            raise

    def step(self, x: np.ndarray, label: int) -> StepResult:
        d = self.client.step(x, label)
        self._blob = None
        self.instructions.append(d.ticks * self.per_tick)
        self.stack_high_water = d.stack_high_water
        return StepResult(
            d.p_label, train_golden.loss_from_q15(d.p_label), d.prediction == int(label), d.saturations, d.prediction
        )

    def params(self) -> bytes:
        """The device's trainable parameters (read once per state)."""
        if self._blob is None:
            self._blob = self.client.params()
        return self._blob

    def evaluate(self, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        trained = bool(self.instructions)  # before the first step the device holds the flashed parameters
        state = state_from_params(self.plan, self.params()) if trained else train_golden.init_state(self.plan)
        return train_golden.evaluate(self.plan, state, xs, ys, golden)

    def params_sha256(self) -> str | None:
        return hashlib.sha256(self.params()).hexdigest()

    def figures(self) -> dict[str, Any]:
        ins = self.instructions
        out: dict[str, Any] = {
            "flash_bytes": self.image.flash_bytes,
            "static_sram_bytes": self.image.static_sram_bytes,
            "arena_bytes": self.image.generated.memory.arena_size,
        }
        if self.stack_high_water is not None:
            out["stack_high_water_bytes"] = self.stack_high_water
        out.update(
            instructions_per_step_mean=int(np.mean(ins)) if ins else 0,
            instructions_per_step_max=int(max(ins)) if ins else 0,
        )
        out["peak_sram_bytes"] = out["static_sram_bytes"] + out.get("stack_high_water_bytes", 0)
        return out

    def close(self) -> None:
        self.board.close()
