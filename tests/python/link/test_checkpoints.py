"""Checkpoints (docs/reliability.md): CHECKPOINT / RESTORE and the restore at boot, on the native
build, whose store is a file and whose store hook loses power after any number of programmed bytes.

The power-loss test resets the device part way through a checkpoint write at every header byte
and every fourth payload byte (``tools/run checkpoint-resets`` tries every byte): the previous
checkpoint stays valid, the device restores it, RESTORE loads it again, and training goes on
bit-exact with the golden model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kilotrain.device import wire
from kilotrain.device.boards import NativeBoard
from kilotrain.device.link import DeviceError
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.device.wire import ErrorCode
from kilotrain.jobs.soak import CHECKPOINT_HEADER_BYTES, run_checkpoint_resets
from kilotrain.training import plan as train_plan
from kilotrain.training import step as train_golden
from kilotrain.training.examples import TINY_MIXED_SCHEME, tiny_mixed_plan
from kilotrain.training.plan import TrainPlan

SLOT_BYTES = 256 * 1024  # a native store slot (firmware/bsp/kt_bsp_native.c)


@pytest.fixture(scope="module")
def native_training() -> tuple[TrainPlan, Path]:
    plan = tiny_mixed_plan()
    return plan, build_with_training(plan, "tiny_cnn.tflite", env_name="native").elf


def _frames(plan: TrainPlan, n: int) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(5)
    shape = plan.graph.input.shape
    return [(rng.integers(-128, 128, shape).astype(np.int8), int(rng.integers(4))) for _ in range(n)]


def test_power_loss_at_any_byte_of_a_checkpoint_write_keeps_the_previous_one(
    native_training: tuple[TrainPlan, Path],
) -> None:
    payload = 712  # tiny_mixed_plan's SRAM parameters and exponents: checked by the run below
    size = CHECKPOINT_HEADER_BYTES + payload
    offsets: list[int | str] = [*range(0, payload, 4), *range(payload, size), size, "erase"]
    r = run_checkpoint_resets(offsets)
    assert (r["payload_bytes"], r["checkpoint_bytes"]) == (payload, size)
    assert (r["resets"], r["writes_completed"]) == (len(offsets) - 1, 1)


def test_checkpoint_restore_and_boot_restore_equal_the_golden_state(
    native_training: tuple[TrainPlan, Path], tmp_path: Path
) -> None:
    """Parameters, exponents, step count and lr_shift all come back: steps after a restore equal
    the golden steps from the checkpointed state."""
    plan, program = native_training
    frames = _frames(plan, 8)
    state = train_golden.init_state(plan)
    with NativeBoard(program, store=tmp_path / "store.bin") as board:
        client = TrainClient(board.device)
        assert client.set_lr_shift(-1) == -1
        state.lr_shift = -1
        for x, y in frames[:4]:
            client.step(x, y)
            train_golden.step(plan, state, x, y)
        saved = state.copy()
        a = client.checkpoint()
        assert (a.slot, a.seq, a.steps, a.lr_shift) == (0, 1, 4, -1)
        assert client.set_lr_shift(2) == 2
        for x, y in frames[4:6]:
            client.step(x, y)
        # RESTORE: back to step 4 at lr_shift -1; the same frames again give the golden steps
        r = client.restore()
        assert (r.seq, r.steps, r.lr_shift, r.payload_crc) == (1, 4, -1, a.payload_crc)
        assert client.params_sha256() == train_golden.params_sha256(saved)
        assert client.train_info().lr_shift == -1
        for x, y in frames[4:6]:
            assert client.step(x, y).p_label == train_golden.step(plan, state, x, y).p_label
        assert client.params_sha256() == train_golden.params_sha256(state)
        # a retry of the restored state's last step has no cached answer: refused, not re-applied
        client.restore()
        with pytest.raises(DeviceError) as err:
            board.device.call(wire.TRAIN_STEP_REQUEST, wire.TRAIN_STEP_ANSWER, step=3, label=0)
        assert (err.value.code, err.value.detail) == (ErrorCode.STEP_ORDER, 4)
        # RESET restores the newest checkpoint at boot; erase_checkpoints restarts from flash
        for x, y in frames[4:6]:
            client.step(x, y)
        b = client.checkpoint()
        assert (b.slot, b.seq, b.steps) == (1, 2, 6)
        t = client.reset()
        assert (t.steps_done, t.lr_shift, t.checkpoint_seq, t.checkpoint_steps) == (6, -1, 2, 6)
        assert client.params_sha256() == train_golden.params_sha256(state)
        t = client.reset(erase_checkpoints=True)
        assert (t.steps_done, t.lr_shift, t.checkpoint_seq) == (0, 0, 0)
        assert client.params_sha256() == train_golden.params_sha256(train_golden.init_state(plan))
        with pytest.raises(DeviceError) as err:
            client.restore()
        assert err.value.code == ErrorCode.NO_CHECKPOINT


def test_a_damaged_or_foreign_checkpoint_is_never_restored(
    native_training: tuple[TrainPlan, Path], tmp_path: Path
) -> None:
    plan, program = native_training
    frames = _frames(plan, 5)
    store = tmp_path / "store.bin"
    with NativeBoard(program, store=store) as board:
        client = TrainClient(board.device)
        for i, (x, y) in enumerate(frames):
            client.step(x, y)
            if i in (2, 4):
                client.checkpoint()  # step 3 in slot 0, step 5 in slot 1
    # one flipped payload bit in the newer slot: the older one wins
    blob = bytearray(store.read_bytes())
    blob[SLOT_BYTES + CHECKPOINT_HEADER_BYTES + 100] ^= 0x10
    store.write_bytes(bytes(blob))
    with NativeBoard(program, store=store) as board:
        t = TrainClient(board.device).train_info()
        assert (t.steps_done, t.checkpoint_seq, t.checkpoint_steps) == (3, 1, 3)
        at3 = TrainClient(board.device).params_sha256()
    state = train_golden.init_state(plan)
    for x, y in frames[:3]:
        train_golden.step(plan, state, x, y)
    assert at3 == train_golden.params_sha256(state)
    # a firmware compiled from another training plan (another lr) ignores these checkpoints
    other = train_plan.build_plan(plan.graph, TINY_MIXED_SCHEME, 0.02)
    other_program = build_with_training(other, "tiny_cnn.tflite", env_name="native").elf
    with NativeBoard(other_program, store=store) as board:
        client = TrainClient(board.device)
        t = client.train_info()
        assert (t.steps_done, t.checkpoint_seq) == (0, 0)
        with pytest.raises(DeviceError) as err:
            client.restore()
        assert err.value.code == ErrorCode.NO_CHECKPOINT


def test_without_a_store_checkpoint_says_so(native_training: tuple[TrainPlan, Path], native_program: Path) -> None:
    _, program = native_training
    with NativeBoard(program) as board:
        client = TrainClient(board.device)
        with pytest.raises(DeviceError) as err:
            client.checkpoint()
        assert (err.value.code, err.value.detail) == (ErrorCode.NO_STORE, CHECKPOINT_HEADER_BYTES + 712)
        assert client.train_info().checkpoint_seq == 0
        assert client.reset(erase_checkpoints=True).steps_done == 0  # nothing to erase: a plain reset
    with NativeBoard(native_program) as board:  # the model-less image: RESET's payload is checked
        with pytest.raises(DeviceError) as err:
            board.device.request(int(wire.FrameType.RESET), b"")
        assert err.value.code == ErrorCode.BAD_PAYLOAD
