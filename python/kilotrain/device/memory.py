"""The all-in SRAM and the flash of a training firmware image, known before any build.

Everything the linked image holds in SRAM is one of

* the **arena** (``kt_arena``, .bss): activations, ReLU masks, saved inputs and gradients at the
  offsets of the lifetime plan (:func:`kilotrain.codegen.train.training_memory_plan`);
* the **trainable copies** (.data): the updated weights and biases, initialised from flash;
* the **training state** (kt_exps[], the step counter);
* the **firmware's own statics**: the frame decoder with its receive buffer, the last step's
  answer (exactly-once retries) and two counters — :func:`firmware_static_bytes`;
* the **stack**, a linker region sized from the model: :data:`STACK_BASE_BYTES` below the training
  step's own frame (:func:`stack_bytes`); the build passes it to the linker, so the image's .stack
  section is exactly this figure.

:func:`sram_budget` adds them from the generated C itself (:class:`kilotrain.codegen.train.TrainSource`),
so the figure equals the linked ELF's .data + .bss + .stack up to section alignment
(tests/python/firmware/test_memory_budget.py checks it on QEMU builds). A board's SRAM and flash
come from its PlatformIO board file (``upload.maximum_ram_size`` / ``maximum_size``).
"""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass, field
from typing import Any

from kilotrain import contract
from kilotrain.codegen import train as codegen_train
from kilotrain.codegen.train import TrainSource, arena_occupancy
from kilotrain.device import wire
from kilotrain.paths import REPO_ROOT
from kilotrain.training.plan import TrainPlan

#: Boards a plan can target (PlatformIO environments with a memory map).
BOARDS: tuple[str, ...] = ("qemu_m7", "disco_bm")

#: Stack under kt_train_step()'s own frame: main -> kt_app_serve -> the command handler -> the
#: deepest kernel (the small-filter convolution's matrix-product path under the row runner: eight
#: gathered windows, the layer's start values and two output stages, ~700 B; the staged depthwise
#: input gradient, ~860 B; blocked accumulators elsewhere). Measured on QEMU over the firmware
#: tests' models (tiny_cnn bias-only: 1,448 B) and MobileNetV2-w0.35 99kb, plus a margin; the
#: firmware tests fail if a measured high-water ever reaches the region's end.
STACK_BASE_BYTES = 1536

#: What an interrupt adds on top of the deepest frame, reserved apart from the measured base: the
#: Cortex-M7's extended (FP) exception frame, 26 words, plus its alignment word (SysTick's handler
#: pushes nothing). A high-water measured under ``-icount`` rarely sees it, but a tick landing on
#: the deepest kernel does: tiny_cnn's mixed scheme uses 1,612 B of a 1,656 B region and
#: overflowed when one did (tests/python/firmware/test_train_on_qemu.py, test_fault_proxy.py).
EXCEPTION_FRAME_BYTES = 112

#: Flash of the firmware code, an upper bound: the app, the BSP and every kernel (the linker drops
#: the unused ones) plus CODE_FLASH_PER_CALL per generated kernel call. Measured code (.text and
#: friends): 20.1 KB (tiny_cnn last-layer, 22 calls), 27.8 KB (tiny_cnn mixed, 39 calls), 38.3 KB
#: (MobileNetV2-w0.35 99kb, 227 calls), each before the fast paths of issue 11 (up to ~16 KB more:
#: the DSP depthwise path, the staged input gradients, the pointwise update, the matrix-product
#: core and its small-filter and wide-input-gradient users, then ~1 KB for the short-form ADD and
#: the SIMD ReLU mask; the packed convolution, the staged depthwise input gradient's padded form and
#: the pointwise input gradient's two-pixel paths are counted per kernel below).
CODE_FLASH_BYTES = 50 * 1024
CODE_FLASH_PER_CALL = 64
#: Code added to a kernel since CODE_FLASH_BYTES was measured, counted when the generated step
#: calls that kernel (arm-none-eabi-nm -S on the MobileNetV2 99kb image, rounded up): the packed
#: convolution with its three assembly loops, the depthwise input gradient's padded 3x3 form, the
#: pointwise input gradient's two-pixel paths (one kernel file behind two names: counted once),
#: the depthwise convolution's padded form and assembly output stage, the pointwise update's listed
#: pixels; both input gradients' packed gradient stores (internal/kt_grad_pack.h: +1.5 KB pointwise,
#: +1.2 KB depthwise, arm-none-eabi-size of the two objects before and after).
KERNEL_CODE_BYTES: dict[tuple[str, ...], int] = {
    ("kt_conv2d_packed_s8",): 1792,
    ("kt_depthwise_conv2d_input_grad_s8",): 3328,
    ("kt_conv2d_input_grad_s8", "kt_conv2d_input_grad_split_s8"): 4096,
    ("kt_depthwise_conv2d_s8",): 1024,
    ("kt_conv2d_update_s8",): 1024,
}


class DoesNotFit(ValueError):
    """A training image would not fit the board; the message gives the breakdown and what to drop."""


@dataclass(frozen=True)
class BoardMemory:
    env: str
    sram_bytes: int
    flash_bytes: int


def board_memory(env: str) -> BoardMemory:
    """SRAM and flash of a PlatformIO environment's board, from its board file."""
    if env not in BOARDS:
        raise ValueError(f"unknown board {env!r}; boards with a memory map: {', '.join(BOARDS)}")
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(REPO_ROOT / "platformio.ini")
    board = ini[f"env:{env}"]["board"].strip()
    spec = json.loads((REPO_ROOT / "tools" / "pio" / "platform-cortexm" / "boards" / f"{board}.json").read_text())
    return BoardMemory(env, int(spec["upload"]["maximum_ram_size"]), int(spec["upload"]["maximum_size"]))


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def firmware_static_bytes() -> int:
    """The firmware's statics beyond the generated code (firmware/app, firmware/bsp): the frame
    decoder (its fields, then the payload and CRC buffer: kt_frame.h), the cached answer of the last
    training step, the step count it left behind, the two EVAL counters, the SysTick wrap counter and
    the ticks spent on the current input (a row-streamed input computes while it arrives)."""
    decoder = _align(28 + contract.FRAME_MAX_PAYLOAD + 4, 4)
    return decoder + _align(wire.TRAIN_STEP_ANSWER.size, 4) + 4 + 4 + 4 + 4 + 8


def stack_bytes(code: TrainSource) -> int:
    """The stack region of a training image (8-byte aligned, as the linker script requires)."""
    return _align(STACK_BASE_BYTES + EXCEPTION_FRAME_BYTES + code.stack_frame_bytes, 8)


@dataclass(frozen=True)
class SramBudget:
    """All-in SRAM of one training image, by part, and where the arena peaks."""

    arena: int
    arena_parts: dict[str, int]  # what the arena holds at its busiest schedule step
    peak_step: str
    trainable_weights: int
    trainable_biases: int
    training_state: int
    firmware_statics: int
    stack: int
    flash: int
    occupancy: list[dict[str, int]] = field(default_factory=list, compare=False)

    @property
    def total(self) -> int:
        return (
            self.arena
            + self.trainable_weights
            + self.trainable_biases
            + self.training_state
            + self.firmware_statics
            + self.stack
        )

    def parts(self) -> dict[str, int]:
        return {
            "arena": self.arena,
            "trainable_weights": self.trainable_weights,
            "trainable_biases": self.trainable_biases,
            "training_state": self.training_state,
            "firmware_statics": self.firmware_statics,
            "stack": self.stack,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_sram_bytes": self.total,
            "flash_bytes": self.flash,
            "breakdown": self.parts(),
            "arena_at_peak": self.arena_parts,
            "peak_step": self.peak_step,
        }


def code_flash_bytes(code: TrainSource) -> int:
    """The upper bound of the image's code: the base, the kernels counted apart that the step
    calls, and the generated calls."""
    called = {e.kernel for e in code.profile}
    extra = sum(n for kernels, n in KERNEL_CODE_BYTES.items() if called.intersection(kernels))
    return CODE_FLASH_BYTES + extra + CODE_FLASH_PER_CALL * code.calls


def sram_budget(plan: TrainPlan, code: TrainSource) -> SramBudget:
    """The all-in SRAM and flash of the image built from ``code`` (the plan's generated C)."""
    occ = arena_occupancy(plan, code.memory)
    peak = max(occ, key=lambda o: sum(v for k, v in o.items() if k not in ("position",)))
    parts = {k: v for k, v in peak.items() if k != "position"}
    parts["placement_gaps"] = code.memory.arena_size - sum(parts.values())
    return SramBudget(
        arena=code.memory.arena_size,
        arena_parts=parts,
        peak_step=schedule_label(plan, peak["position"]),
        trainable_weights=code.trainable_weight_bytes,
        trainable_biases=code.trainable_bias_bytes,
        training_state=code.state_bytes,
        firmware_statics=firmware_static_bytes(),
        stack=stack_bytes(code),
        flash=code.const_bytes + code.table_bytes + code_flash_bytes(code),
        occupancy=occ,
    )


def schedule_label(plan: TrainPlan, position: int) -> str:
    """A schedule position of the training memory plan, in words."""
    g = plan.graph
    n = len(g.ops)
    if position < 0:
        return "the input"
    if position < n:
        return f"forward op {g.ops[position].index} ({g.ops[position].kind})"
    if position == n:
        return "the loss"
    s = plan.steps[position - n - 1]
    return f"backward step {position - n - 1} ({s.kind} of op {g.ops[s.op_pos].index})"


def render_for_board(
    plan: TrainPlan, source_name: str, board: BoardMemory | None, pack: bool = True
) -> tuple[TrainSource, SramBudget]:
    """The training step's C and its budget for ``board``: frozen convolutions packed (unless
    ``pack`` is off), or not packed when the packed tables would overflow the board's flash and
    the unpacked image would not. Does not check that it fits (:func:`check_fits`)."""
    code = codegen_train.render_train(plan, source_name, pack=pack)
    budget = sram_budget(plan, code)
    if pack and board is not None and budget.flash > board.flash_bytes and code.packed_layers:
        plain = codegen_train.render_train(plan, source_name, pack=False)
        plain_budget = sram_budget(plan, plain)
        if plain_budget.flash <= board.flash_bytes:
            return plain, plain_budget
    return code, budget


def check_fits(plan: TrainPlan, budget: SramBudget, board: BoardMemory) -> None:
    """DoesNotFit when the image would overflow the board's SRAM or flash: the breakdown and the
    largest updated layers (what to drop or update at a lower channel ratio) in the message."""
    problems = []
    if budget.total > board.sram_bytes:
        problems.append(f"SRAM {budget.total:,} B > {board.sram_bytes:,} B by {budget.total - board.sram_bytes:,} B")
    if budget.flash > board.flash_bytes:
        problems.append(f"flash {budget.flash:,} B > {board.flash_bytes:,} B")
    if not problems:
        return
    parts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in budget.parts().items())
    copied = codegen_train.updated_weight_bytes(plan)
    heavy = sorted(
        (u for u in plan.trainable if copied.get(u.op_position) and not u.is_classifier),
        key=lambda u: -copied[u.op_position],
    )[:3]
    drop = "; ".join(f"layer {u.conv_index} (weights {copied[u.op_position]:,} B)" for u in heavy)
    hint = f"drop or lower the ratio of the largest updated layers: {drop}" if drop else "update fewer biases"
    raise DoesNotFit(
        f"scheme {plan.scheme.name!r} does not fit {board.env}: {'; '.join(problems)} "
        f"(arena peak at {budget.peak_step}; {parts}); {hint}, or use a smaller --input-size"
    )
