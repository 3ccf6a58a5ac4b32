"""Train inside the firmware: generate the training step's C from a plan, build the qemu_m7
image with it, and drive steps over the serial protocol (exactly-once TRAIN_STEP, parameter
read-back for bit-exact comparison with the golden model)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from kilotrain.codegen import train as codegen_train
from kilotrain.device.firmware import (
    FirmwareImage,
    ModelClient,
    _sections,
    build_firmware,
)
from kilotrain.device.link import Device, DeviceTimeout
from kilotrain.device.protocol import FrameType
from kilotrain.training.plan import TrainPlan

if TYPE_CHECKING:
    from kilotrain.training import step as train_golden


class StepFailed(RuntimeError):
    """The device's training step returned a non-OK status."""


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


def build_with_training(plan: TrainPlan, source_name: str, env_name: str = "qemu_m7",
                        build_flags: tuple[str, ...] = ()) -> FirmwareImage:
    """Generate the training step's C (kt_train.c) and build ``env_name`` with it."""
    text, mp, nconst, ntrain = codegen_train.render_train(plan, source_name)
    elf, source, digest = build_firmware("kt_train.c", text, env_name, build_flags, prefix="train-")
    gen = codegen_train.GeneratedTraining(source.parent, source, mp, nconst, ntrain, digest)
    return FirmwareImage(elf, gen, _sections(elf))


class TrainClient(ModelClient):
    """The training commands of the serial protocol."""

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        done, self.params_size = struct.unpack("<II", device.request(FrameType.TRAIN_INFO).payload)
        self.steps_done = done

    def step(self, x: npt.NDArray[np.int8], label: int, retries: int = 2) -> DeviceStep:
        """Upload x, apply step ``steps_done`` with ``label``; a lost answer is retried with the
        same step number, which the device answers from its cache without applying it again."""
        self.upload(x)
        payload = struct.pack("<Ii", self.steps_done, int(label))
        for attempt in range(retries + 1):
            try:
                ans = self.device.request(FrameType.TRAIN_STEP, payload, timeout=600).payload
                break
            except DeviceTimeout:
                if attempt == retries:
                    raise
        step, status, p, pred, sat, lo, hi, stack = struct.unpack("<IiIiIIII", ans)
        if status != 0:
            raise StepFailed(f"training step {step} returned status {status}")
        self.steps_done = step + 1
        return DeviceStep(step, status, p, pred, sat, lo | (hi << 32), stack)

    def params(self) -> bytes:
        """All trainable parameters, in params_sha256 order."""
        out = bytearray()
        while len(out) < self.params_size:
            n = min(self.chunk, self.params_size - len(out))
            out += self.device.request(FrameType.PARAMS_READ, struct.pack("<IH", len(out), n)).payload
        return bytes(out)

    def params_sha256(self) -> str:
        return hashlib.sha256(self.params()).hexdigest()


def state_from_params(plan: TrainPlan, blob: bytes) -> "train_golden.TrainState":
    """A golden TrainState holding the parameters read back from a device (params_sha256 order);
    the exponents are the plan's initial ones (evaluation does not use them)."""
    from kilotrain.training import step as train_golden

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
