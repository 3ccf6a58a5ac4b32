"""Run a model inside the firmware: generate its C, build the qemu_m7 image with it, boot QEMU
and drive the model over the serial protocol (input upload, invoke, output read-back)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kilotrain.codegen import emit
from kilotrain.codegen import model as codegen
from kilotrain.device import toolchain, wire
from kilotrain.device.link import Device
from kilotrain.model.ir import Graph
from kilotrain.paths import build_dir


@dataclass(frozen=True)
class FirmwareImage:
    """A firmware image built with a generated model, and its memory figures from the ELF."""

    elf: Path
    generated: Any  # codegen.Generated or codegen_train.GeneratedTraining
    sections: dict[str, int]

    @property
    def flash_bytes(self) -> int:
        s = self.sections
        return sum(s.get(k, 0) for k in (".isr_vector", ".text", ".rodata", ".data", ".ARM.exidx", ".init_array"))

    @property
    def static_sram_bytes(self) -> int:
        """.data + .bss: the arena, the frame buffer and all other statics (no stack)."""
        return self.sections.get(".data", 0) + self.sections.get(".bss", 0)


@dataclass(frozen=True)
class InvokeResult:
    output: npt.NDArray[np.int8]
    status: int
    ticks: int
    instructions: int | None  # ticks * instructions per tick, when the counter counts instructions
    stack_high_water: int


def _sections(elf: Path) -> dict[str, int]:
    """Section sizes of a board's ELF (none for the native program)."""
    if elf.name == toolchain.program_name("native"):
        return {}
    out = subprocess.run(
        [toolchain.require("arm-none-eabi-size"), "-A", "-d", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def build_firmware(
    filename: str, text: str, env_name: str = "qemu_m7", build_flags: tuple[str, ...] = (), prefix: str = ""
) -> tuple[Path, Path, str]:
    """Write generated C ``text`` as build/gen/<prefix><digest>/<filename> and build ``env_name``
    with it into build/pio/<prefix><digest>[-<flags hash>] (one build tree per generated file and
    flag set). Returns (ELF, generated file, digest)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    source = emit.write(text, build_dir() / "gen" / f"{prefix}{digest}", filename)
    flags_tag = "-" + hashlib.sha256(" ".join(build_flags).encode()).hexdigest()[:8] if build_flags else ""
    tag = prefix + digest + flags_tag
    pio_build = build_dir() / "pio" / tag
    toolchain.pio(
        "run",
        "-e",
        env_name,
        extra_env={
            "KILOTRAIN_MODEL_DIR": str(source.parent.resolve()),
            "PLATFORMIO_BUILD_DIR": str(pio_build),
            "PLATFORMIO_BUILD_FLAGS": " ".join(build_flags),
        },
    )
    return pio_build / env_name / toolchain.program_name(env_name), source, digest


def build_with_model(
    graph: Graph, source_name: str, env_name: str = "qemu_m7", build_flags: tuple[str, ...] = ()
) -> FirmwareImage:
    """Generate the model's C and build ``env_name`` with it (see build_firmware). ``build_flags``
    are extra compiler flags, e.g. ``("-DKT_USE_DSP=0",)``."""
    text, mp, nconst = codegen.render(graph, source_name)
    elf, source, digest = build_firmware("kt_model.c", text, env_name, build_flags)
    return FirmwareImage(elf, codegen.Generated(source.parent, source, mp, nconst, digest), _sections(elf))


class ModelClient:
    """The model commands of the serial protocol, over a Device."""

    def __init__(self, device: Device) -> None:
        self.device = device
        m = device.call(wire.MODEL_INFO_REQUEST, wire.MODEL_INFO_ANSWER)
        self.arena_size = m.arena_size
        self.input_size = m.input_size
        self.output_size = m.output_size
        self.op_count = m.op_count
        self.name = m.name
        self.model_info = m
        self.info = device.info()
        self.chunk = self.info.max_payload - wire.INPUT_WRITE_REQUEST.size

    def upload(self, x: npt.NDArray[np.int8]) -> None:
        """Write one int8 input tensor into the model input (in frames of at most one payload)."""
        data = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        if len(data) != self.input_size:
            raise ValueError(f"input of {len(data)} bytes; the firmware model takes {self.input_size}")
        for off in range(0, len(data), self.chunk):
            self.device.call(
                wire.INPUT_WRITE_REQUEST, wire.INPUT_WRITE_ANSWER, offset=off, data=data[off : off + self.chunk]
            )

    def invoke(self, x: npt.NDArray[np.int8]) -> InvokeResult:
        self.upload(x)
        ans = self.device.call(wire.INVOKE_REQUEST, wire.INVOKE_ANSWER, timeout=600)
        out = bytearray()
        while len(out) < self.output_size:
            n = min(self.chunk, self.output_size - len(out))
            out += self.device.call(wire.OUTPUT_READ_REQUEST, wire.OUTPUT_READ_ANSWER, offset=len(out), length=n).data
        per_tick = ans.instructions_per_tick
        return InvokeResult(
            np.frombuffer(bytes(out), dtype=np.int8).copy(),
            ans.status,
            ans.ticks,
            ans.ticks * per_tick if per_tick else None,
            ans.stack_high_water,
        )
