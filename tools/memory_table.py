"""The memory table of docs/memory.md: for each (model, scheme), the planner's all-in peak SRAM
(`kilotrain plan`) and, with --device, the emulated board's own figure (the linked image's static
SRAM + the measured stack high-water over one training step), beside the paper's figure.

    tools/run memory-table [--device]          (a few minutes per row with --device)
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm

from kilotrain.device.boards import QemuBoard
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.jobs.plan import PlanJob, run_plan
from kilotrain.jobs.train import load_for_dataset
from kilotrain.paths import data_file
from kilotrain.training.plan import build_plan

PERSON = str(data_file("person_detection/person_detect.tflite"))
ROWS = [
    # model, input size, scheme, data set (sizes the zoo classifier), paper's figure
    ("zoo:mbv2-w0.35", 128, "49kb", "lfw", "— (extras 49 KB)"),
    ("zoo:mbv2-w0.35", 128, "73kb", "lfw", "— (extras 73 KB)"),
    ("zoo:mbv2-w0.35", 128, "99kb", "lfw", "141 KB"),
    ("zoo:mbv2-w0.35", 128, "123kb", "lfw", "— (extras 123 KB)"),
    ("zoo:mbv2-w0.35", 128, "138kb", "lfw", "— (extras 138 KB)"),
    ("zoo:proxyless-w0.3", 128, "proxyless-98kb", "lfw", "135 KB"),
    (PERSON, None, "tests/data/person_detection/scheme_sparse.json", "lfw", "—"),
    (PERSON, None, "bias-only", "lfw", "—"),
    (PERSON, None, "last-layer", "lfw", "—"),
]


def device_peak(model: str, size: int | None, scheme: str, dataset: str) -> int:
    graph = load_for_dataset(model, dataset, size)
    plan = build_plan(graph, scheme, 0.01, engine="qemu")
    image = build_with_training(plan, f"{graph.name or 'model'}.tflite")
    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape).astype(np.int8)
    with QemuBoard(image.elf, icount=False) as board:
        step = TrainClient(board.device).step(x, 0)
    return image.static_sram_bytes + step.stack_high_water


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", action="store_true", help="also build each image and measure it on QEMU")
    args = ap.parse_args(argv)
    lines = [
        "| model | scheme | planner peak SRAM | device peak SRAM | flash (planner bound) | paper |",
        "|---|---|---|---|---|---|",
    ]
    for model, size, scheme, dataset, paper in tqdm(ROWS, desc="memory table", unit="row", file=sys.stderr):
        r = run_plan(PlanJob(model, scheme, size, dataset))
        dev = f"{device_peak(model, size, scheme, dataset):,} B" if args.device and r["fits"] else "—"
        name = f"{r['model']}" + (f" @{size}" if size else "")
        short = scheme.rsplit("/", 1)[-1]
        lines.append(f"| {name} | {short} | {r['peak_sram_bytes']:,} B | {dev} | {r['flash_bytes']:,} B | {paper} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
