"""The job behind ``kilotrain plan``: will a (model, scheme) train on a board? The all-in SRAM of
the image that ``train --engine qemu`` would build, by part (:mod:`kilotrain.device.memory`), its
flash, where the arena peaks, and a plot of the arena's occupancy over the training schedule.
Nothing is built: the figures come from the generated C (docs/memory.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.codegen.train import ARENA_PARTS, TrainSource
from kilotrain.device import memory
from kilotrain.extras import require
from kilotrain.jobs.engines import check_options
from kilotrain.jobs.train import load_for_dataset
from kilotrain.model.ir import Graph
from kilotrain.training.plan import TrainPlan, build_plan
from kilotrain.training.scheme import SchemeSpec


@dataclass(frozen=True)
class PlanJob:
    """The flags of ``kilotrain plan``."""

    model: str  # a .tflite path or zoo:NAME
    scheme: str = "last-layer"
    input_size: int | None = None  # zoo models: input resolution
    dataset: str | None = None  # zoo models: size the classifier for this data set
    board: str = "qemu_m7"
    pack: bool = True  # packed frozen filters where the board's flash holds them

    def check(self) -> None:
        if self.board not in memory.BOARDS:
            raise ValueError(f"--board must be one of {', '.join(memory.BOARDS)}; got {self.board!r}")
        check_options(input_size=self.input_size)


def image_budget(
    graph: Graph, scheme: SchemeSpec, board: memory.BoardMemory, pack: bool = True, lr: float = 0.01
) -> tuple[TrainPlan, TrainSource, memory.SramBudget]:
    """The training plan of ``scheme`` for the firmware, its generated step for ``board`` and the
    image's all-in SRAM and flash (what ``kilotrain plan`` reports; ``kilotrain search`` measures
    candidates with it)."""
    # the memory does not depend on the initial exponents' values: one calibration input, not four
    one = [(np.zeros(graph.input.shape, np.int8), 0)]
    plan = build_plan(graph, scheme, lr, engine="qemu", calib=one)
    code, budget = memory.render_for_board(plan, f"{graph.name or 'model'}.tflite", board, pack)
    return plan, code, budget


def run_plan(job: PlanJob) -> dict[str, Any]:
    """The report ``kilotrain plan`` prints; ``fits`` says whether it fits ``job.board``, and
    ``occupancy`` holds the live arena bytes by part at every schedule position (for the plot)."""
    job.check()
    graph = load_for_dataset(job.model, job.dataset, job.input_size)
    board = memory.board_memory(job.board)
    plan, code, budget = image_budget(graph, job.scheme, board, job.pack)
    try:
        memory.check_fits(plan, budget, board)
        verdict = None
    except memory.DoesNotFit as e:
        verdict = str(e)
    return {
        "model": graph.name or job.model,
        "input_shape": list(graph.input.shape),
        "scheme": plan.scheme.name,
        "board": board.env,
        "board_sram_bytes": board.sram_bytes,
        "board_flash_bytes": board.flash_bytes,
        **budget.as_dict(),
        "packed_layers": code.packed_layers,
        "fits": verdict is None,
        "does_not_fit": verdict,
        "updated_layers": len(plan.trainable),
        "backward_steps": len(plan.steps),
        "occupancy": [{**row, "label": memory.schedule_label(plan, row["position"])} for row in budget.occupancy],
    }


def plot_occupancy(report: dict[str, Any], path: Path) -> Path:
    """A PNG of the arena's live bytes by part over the training schedule, with the arena size and
    the static SRAM on top of it (the all-in peak) as lines."""
    matplotlib = require("matplotlib", "plot", "--plot")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "plot", "--plot")
    occ = report["occupancy"]
    xs = [r["position"] for r in occ]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.stackplot(
        xs, *[[r[p] / 1024 for r in occ] for p in ARENA_PARTS], labels=[p.replace("_", " ") for p in ARENA_PARTS]
    )
    b = report["breakdown"]
    ax.axhline(b["arena"] / 1024, color="black", lw=1, ls="--", label=f"arena {b['arena'] / 1024:.1f} KB")
    loss = next(r["position"] for r in occ if r["label"] == "the loss")
    ax.axvline(loss, color="grey", lw=1)
    ax.text(loss, ax.get_ylim()[1] * 0.95, " loss", color="grey", va="top")
    ax.set_xlabel("schedule position (forward ops, the loss, backward steps)")
    ax.set_ylabel("live arena KB")
    ax.set_title(
        f"{report['model']} {report['scheme']}: all-in peak {report['peak_sram_bytes'] / 1024:.1f} KB "
        f"(arena {b['arena'] / 1024:.1f} + static and stack {(report['peak_sram_bytes'] - b['arena']) / 1024:.1f})"
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
