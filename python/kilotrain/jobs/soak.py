"""Training through a damaged link (docs/reliability.md): the tiny CNN of the zoo, a mixed sparse
scheme, digits frames, on the emulated board behind the fault-injecting proxy
(:mod:`kilotrain.device.proxy`). Every step's answer and the final parameters are compared with
the golden model; any difference raises :class:`SoakFailed`. ``tools/run soak`` runs it long."""

from __future__ import annotations

import time
from typing import Any

from kilotrain.data import datasets
from kilotrain.device.boards import QemuBoard
from kilotrain.device.proxy import Faults
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.training import step as train_golden
from kilotrain.training.examples import tiny_mixed_plan

FIVE_PERCENT = Faults(drop=0.05, duplicate=0.05, corrupt=0.05, truncate=0.02, delay=0.05, reorder=0.02)
TEN_PERCENT = Faults(drop=0.1, duplicate=0.1, corrupt=0.1, truncate=0.05, delay=0.1, reorder=0.05)


class SoakFailed(AssertionError):
    """The device's training differed from the golden model's."""


def run_soak(
    steps: int, faults: Faults, seed: int = 0, resend_after: float = 0.25, progress: bool = False
) -> dict[str, Any]:
    """Train ``steps`` steps through the proxy; the proxy's fault counts per direction, the host's
    resends and the seconds taken. ``resend_after`` must exceed the proxy's ``max_delay`` and
    ``hold`` (a late frame then always arrives before its resend)."""
    if resend_after <= max(faults.max_delay, faults.hold):
        raise ValueError(f"resend_after {resend_after} s must exceed the proxy's max_delay and hold")
    plan = tiny_mixed_plan()
    image = build_with_training(plan, "tiny_cnn.tflite")
    ds = datasets.load("digits", plan.graph.input, seed=0, num_classes=4, limit=400)
    state = train_golden.init_state(plan)
    t0 = time.time()
    with QemuBoard(image.elf, icount=False, faults=faults, fault_seed=seed) as board:
        board.device.resend_after = resend_after
        client = TrainClient(board.device)
        it: Any = range(steps)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="training through the faulty link", unit="step")
        for i in it:
            x, y = ds.x_train[i % len(ds.y_train)], int(ds.y_train[i % len(ds.y_train)])
            dev = client.step(x, y)
            ref = train_golden.step(plan, state, x, y)
            if (dev.step, dev.p_label, dev.prediction) != (i, ref.p_label, ref.prediction):
                raise SoakFailed(f"step {i}: device {dev}, golden p_label {ref.p_label} prediction {ref.prediction}")
        done = client.train_info().steps_done
        if done != steps:
            raise SoakFailed(f"the device did {done} steps, the host asked for {steps}")
        got, want = client.params_sha256(), train_golden.params_sha256(state)
        if got != want:
            raise SoakFailed(f"parameters differ after {steps} steps: device {got[:16]}, golden {want[:16]}")
        assert board.proxy is not None
        counts: dict[str, Any] = dict(board.proxy.counts)
        counts["host_resends"] = board.device.resends
    counts["steps"] = steps
    counts["seconds"] = round(time.time() - t0, 1)
    counts["params_sha256"] = want
    return counts
