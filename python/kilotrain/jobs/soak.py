"""Training through faults (docs/reliability.md), on the tiny CNN of the zoo under a mixed sparse
scheme with digits frames, always checked against the golden model (:class:`SoakFailed`):

* :func:`run_soak`: on the emulated board behind the fault-injecting proxy
  (:mod:`kilotrain.device.proxy`); ``tools/run soak`` runs it long;
* :func:`run_checkpoint_resets`: power lost part way through writing a checkpoint, at every byte
  offset of the write (the native build's store hook); ``tools/run checkpoint-resets``."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kilotrain.data import datasets
from kilotrain.device import wire
from kilotrain.device.boards import NativeBoard, QemuBoard
from kilotrain.device.protocol import encode
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


#: Bytes of a checkpoint's header (include/kt_checkpoint.h); a write programs the payload, then it.
CHECKPOINT_HEADER_BYTES = 40


def run_checkpoint_resets(offsets: Iterable[int | str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Lose power while the device writes a checkpoint, once per offset, and check that nothing
    is lost: a store holds checkpoint A (step 3) and the newer B (step 5); the device boots
    (restoring B), trains step 5 and writes checkpoint C, and is reset once ``n`` bytes of the
    write have been programmed (``"erase"``: halfway through erasing the slot). Then B must be what
    the device restored (steps 5, parameters == golden after 5 steps), RESTORE must load B again,
    and training must go on bit-exact; a write that completed (``n`` >= its size) must be C.
    ``offsets``: None = every byte offset of the write, then the completed write and the torn
    erase. Returns the figures."""
    plan = tiny_mixed_plan()
    image = build_with_training(plan, "tiny_cnn.tflite", env_name="native")
    ds = datasets.load("digits", plan.graph.input, seed=0, num_classes=4, limit=100)
    frames = [(ds.x_train[i], int(ds.y_train[i])) for i in range(8)]
    state = train_golden.init_state(plan)
    golden = [train_golden.params_sha256(state)]
    for x, y in frames:
        train_golden.step(plan, state, x, y)
        golden.append(train_golden.params_sha256(state))
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="kt-store-") as tmp:
        base, store = Path(tmp) / "base.bin", Path(tmp) / "store.bin"
        with NativeBoard(image.elf, store=base) as board:
            client = TrainClient(board.device)
            for x, y in frames[:3]:
                client.step(x, y)
            client.checkpoint()
            for x, y in frames[3:5]:
                client.step(x, y)
            last = client.checkpoint()
        size = CHECKPOINT_HEADER_BYTES + last.payload_size
        todo = list(offsets) if offsets is not None else [*range(size + 1), "erase"]
        it: Any = todo
        if progress:
            from tqdm import tqdm

            it = tqdm(todo, desc="resets during a checkpoint write", unit="reset")
        torn = 0
        for n in it:
            shutil.copyfile(base, store)
            completes = isinstance(n, int) and n >= size
            with NativeBoard(image.elf, store=store, store_fail_at=n) as board:
                client = TrainClient(board.device)
                _expect(client, 5, last.seq, golden, f"boot before the write ({n})")
                client.step(*frames[5])
                # CHECKPOINT, then TRAIN_INFO behind it: answered by the same image when the write
                # completed, else by the image that booted after the power loss (no timeout to wait)
                board.device.send_raw(encode(int(wire.FrameType.CHECKPOINT), board.device.next_seq()))
                t = client.wait_for_boot()
                where = f"power lost after {n} of {size} bytes" if not completes else f"completed write ({n})"
                want_steps, want_seq = (6, last.seq + 1) if completes else (5, last.seq)
                if (t.steps_done, t.checkpoint_seq, t.checkpoint_steps) != (want_steps, want_seq, want_steps):
                    raise SoakFailed(
                        f"{where}: the device runs step {t.steps_done} with checkpoint {t.checkpoint_seq} "
                        f"(step {t.checkpoint_steps}); expected step {want_steps}, checkpoint {want_seq}"
                    )
                _expect(client, want_steps, want_seq, golden, where)
                r = client.restore()
                if (r.seq, r.steps) != (want_seq, want_steps):
                    raise SoakFailed(f"{where}: RESTORE loaded checkpoint {r.seq} (step {r.steps})")
                _expect(client, want_steps, want_seq, golden, f"{where}, after RESTORE")
                client.step(*frames[want_steps])
                if client.params_sha256() != golden[want_steps + 1]:
                    raise SoakFailed(f"{where}: the step after the restore differs from the golden step")
                torn += int(not completes)
    return {
        "resets": torn,
        "writes_completed": len(todo) - torn,
        "checkpoint_bytes": size,
        "payload_bytes": last.payload_size,
        "seconds": round(time.time() - t0, 1),
    }


def _expect(client: TrainClient, steps: int, seq: int, golden: list[str], where: str) -> None:
    """The device is at ``steps`` with checkpoint ``seq`` the newest, its parameters the golden ones."""
    t = client.train_info()
    if (t.steps_done, t.checkpoint_seq) != (steps, seq):
        raise SoakFailed(
            f"{where}: device at step {t.steps_done}, checkpoint {t.checkpoint_seq}; expected {steps}, {seq}"
        )
    if client.params_sha256() != golden[steps]:
        raise SoakFailed(f"{where}: parameters at step {steps} differ from the golden model's")
