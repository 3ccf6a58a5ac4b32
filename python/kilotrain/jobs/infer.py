"""The inference job behind ``kilotrain infer``: one frame through an int8 model on an engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kilotrain.data import images
from kilotrain.device.boards import QemuBoard
from kilotrain.device.firmware import ModelClient, build_with_model
from kilotrain.jobs.engines import forward_kernels
from kilotrain.model import ops
from kilotrain.model.tflite import load_tflite
from kilotrain.reference import executor


def run_inference(model: Path, image: str, engine: str = "golden") -> dict[str, Any]:
    """The int8 output of ``model`` on ``image`` (a picture converted by the documented rule, or an
    .npy int8 tensor): ``output`` (flat list) and ``shape``; on ``qemu`` also the device's figures."""
    ops.check_engine(engine)
    graph = load_tflite(model)
    x = images.load_input(image, graph.input)
    result: dict[str, Any] = {"engine": engine, "model": str(model)}
    if engine != "qemu":
        y = np.asarray(executor.run(graph, x, forward_kernels(engine)))
    else:
        built = build_with_model(graph, Path(model).name)
        with QemuBoard(built.elf) as board:
            r = ModelClient(board.device).invoke(x)
        if r.status != 0:
            raise ValueError(f"the firmware's forward pass returned status {r.status}")
        y = r.output.reshape(graph.output.shape)
        result.update(
            instructions=r.instructions,
            arena_bytes=built.generated.plan.arena_size,
            static_sram_bytes=built.static_sram_bytes,
            stack_high_water_bytes=r.stack_high_water,
            peak_sram_bytes=built.static_sram_bytes + r.stack_high_water,
            flash_bytes=built.flash_bytes,
        )
    result.update(output=y.reshape(-1).astype(int).tolist(), shape=list(y.shape))
    return result
