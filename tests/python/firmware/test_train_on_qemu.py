"""The generated C training step on the emulated Cortex-M7 equals the golden model bit for bit:
after every checked step the device's trainable parameters hash to the golden state's, and each
step reports the same p_label, prediction and saturation count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kilotrain.data import datasets
from kilotrain.device import wire
from kilotrain.device.boards import QemuBoard
from kilotrain.device.link import DeviceError
from kilotrain.device.protocol import ErrorCode, FrameType
from kilotrain.device.train_client import TrainClient, build_with_training
from kilotrain.model import zoo
from kilotrain.model.ir import Graph
from kilotrain.model.tflite import load_tflite
from kilotrain.paths import data_file
from kilotrain.training import plan as train_plan
from kilotrain.training import scheme
from kilotrain.training import step as train_golden
from kilotrain.training.examples import every_op_graph

pytestmark = pytest.mark.qemu


def _train_and_compare(
    graph: Graph, spec: object, xs: np.ndarray, ys: np.ndarray, steps: int, check_every: int, lr: float = 0.01
) -> TrainClient:
    plan = train_plan.build_plan(graph, scheme.resolve(spec, graph), lr)
    image = build_with_training(plan, f"{graph.name or 'model'}.tflite")
    state = train_golden.init_state(plan)
    with QemuBoard(image.elf, icount=False) as board:
        client = TrainClient(board.device)
        assert client.params_sha256() == train_golden.params_sha256(state)
        for i in range(steps):
            x, y = xs[i % len(xs)], int(ys[i % len(ys)])
            dev = client.step(x, y)
            ref = train_golden.step(plan, state, x, y)
            assert (dev.p_label, dev.prediction, dev.saturations) == (ref.p_label, ref.prediction, ref.saturations), (
                f"step {i}"
            )
            if (i + 1) % check_every == 0 or i + 1 == steps:
                assert client.params_sha256() == train_golden.params_sha256(state), f"parameters differ after step {i}"
        # the run really changed the parameters it was asked to train
        assert train_golden.params_sha256(state) != train_golden.params_sha256(train_golden.init_state(plan))
        return client


@pytest.fixture(scope="module")
def digits_tiny() -> tuple[Graph, datasets.Dataset]:
    graph = zoo.tiny_cnn(16, 4, seed=1)
    return graph, datasets.load("digits", graph.input, seed=0, num_classes=4, limit=400)


MIXED_TINY = {"n_bias_update": 5, "weight_layers": [1, 2, 4], "ratios": [0.5, 0.25, 1.0]}


def test_tiny_cnn_200_steps_mixed_scheme(digits_tiny: tuple[Graph, datasets.Dataset], qemu_elf: Path) -> None:
    """Residual ADD (gradient fan-out sum and rescale), MEAN, depthwise, partial channels."""
    graph, ds = digits_tiny
    _train_and_compare(graph, MIXED_TINY, ds.x_train, ds.y_train, steps=200, check_every=25)


def test_every_backward_op_on_the_device(digits_tiny: tuple[Graph, datasets.Dataset], qemu_elf: Path) -> None:
    """The capability table's example graph (PAD, PADV2, AVERAGE_POOL_2D, TRANSPOSE, RESHAPE, MEAN,
    ADD, depthwise, conv, FC all on the backward path): the generated step == golden."""
    _, ds = digits_tiny
    graph = every_op_graph()
    _train_and_compare(graph, "bias-only", ds.x_train, ds.y_train, steps=20, check_every=10)


@pytest.mark.parametrize("spec", ["bias-only", "last-layer", "classifier-only"])
def test_tiny_cnn_presets(digits_tiny: tuple[Graph, datasets.Dataset], spec: str, qemu_elf: Path) -> None:
    graph, ds = digits_tiny
    _train_and_compare(graph, spec, ds.x_train, ds.y_train, steps=30, check_every=10)


@pytest.mark.slow
def test_person_detect_on_lfw_100_steps_mixed_scheme(qemu_elf: Path) -> None:
    """A real model on real data: biases of the last 6 layers, partial-channel weights of two."""
    graph = load_tflite(data_file("person_detection/person_detect.tflite"))
    ds = datasets.load("lfw", graph.input, seed=0)
    spec = {"n_bias_update": 6, "weight_layers": [26, 24], "ratios": [0.25, 0.125]}
    _train_and_compare(graph, spec, ds.x_train, ds.y_train, steps=100, check_every=50)


def test_steps_apply_exactly_once(digits_tiny: tuple[Graph, datasets.Dataset], qemu_elf: Path) -> None:
    graph, ds = digits_tiny
    plan = train_plan.build_plan(graph, scheme.resolve("last-layer", graph), 0.01)
    image = build_with_training(plan, "tiny_cnn.tflite")
    with QemuBoard(image.elf, icount=False) as board:
        client = TrainClient(board.device)
        first = client.step(ds.x_train[0], int(ds.y_train[0]))
        after_first = client.params_sha256()
        # the host lost the answer and sends step 0 again: cached answer, nothing applied twice
        again = board.device.request(
            FrameType.TRAIN_STEP, (0).to_bytes(4, "little") + int(ds.y_train[0]).to_bytes(4, "little")
        )
        assert again.payload[:4] == (0).to_bytes(4, "little")
        assert int.from_bytes(again.payload[8:12], "little") == first.p_label
        assert client.params_sha256() == after_first
        # a step from the future is refused and changes nothing
        with pytest.raises(DeviceError) as err:
            board.device.request(FrameType.TRAIN_STEP, (5).to_bytes(4, "little") + (0).to_bytes(4, "little"))
        assert err.value.code == ErrorCode.STEP_ORDER and err.value.detail == 1
        assert client.params_sha256() == after_first
        # a refused step (label out of range) is answered but does not replace the cached answer:
        # a retry of step 0 still gets step 0's own answer (it used to get the refusal)
        client.upload(ds.x_train[1])
        refused = board.device.call(wire.TRAIN_STEP_REQUEST, wire.TRAIN_STEP_ANSWER, step=1, label=99)
        assert refused.status != 0 and refused.step == 1
        retry = board.device.call(wire.TRAIN_STEP_REQUEST, wire.TRAIN_STEP_ANSWER, step=0, label=int(ds.y_train[0]))
        assert (retry.step, retry.status, retry.p_label_q15) == (0, 0, first.p_label)
        assert client.params_sha256() == after_first
        # and training goes on with step 1
        assert client.step(ds.x_train[1], int(ds.y_train[1])).step == 1


def test_training_through_a_real_tty(digits_tiny: tuple[Graph, datasets.Dataset]) -> None:
    """QEMU's UART on a pseudo-terminal, opened by pyserial's ordinary Serial class at 115200 baud
    (the code path of a board on /dev/ttyACM0): steps equal the golden model's."""
    graph, ds = digits_tiny
    plan = train_plan.build_plan(graph, scheme.resolve(MIXED_TINY, graph), 0.01)
    image = build_with_training(plan, "tiny_cnn.tflite")
    state = train_golden.init_state(plan)
    with QemuBoard(image.elf, icount=False, pty=True) as board:
        assert board.pty_path.startswith("/dev/pts/")
        assert type(board.device.port).__name__ == "Serial"
        client = TrainClient(board.device)
        for i in range(10):
            dev = client.step(ds.x_train[i], int(ds.y_train[i]))
            ref = train_golden.step(plan, state, ds.x_train[i], int(ds.y_train[i]))
            assert (dev.p_label, dev.prediction) == (ref.p_label, ref.prediction)
        assert client.params_sha256() == train_golden.params_sha256(state)


def test_a_missing_serial_port_is_one_line() -> None:
    from kilotrain.device.boards import open_serial
    from kilotrain.device.toolchain import ToolError

    with pytest.raises(ToolError, match=r"^cannot open serial port /dev/ttyKT-missing at 115200 baud: ") as e:
        open_serial("/dev/ttyKT-missing")
    assert "\n" not in str(e.value)


def test_info_eval_infer_set_lr_and_reset(digits_tiny: tuple[Graph, datasets.Dataset], qemu_elf: Path) -> None:
    """INFO names the model and plan the image was compiled from; MODEL_INFO its input format;
    EVAL and INFER equal the golden forward pass and change nothing; SET_LR scales the following
    updates by 2**lr_shift exactly as the golden step does; RESET brings back the flashed
    parameters, step 0, lr_shift 0 and zero counters."""
    from kilotrain.codegen.model import digest64
    from kilotrain.contract import LR_SHIFT_MAX

    graph, ds = digits_tiny
    plan = train_plan.build_plan(graph, scheme.resolve(MIXED_TINY, graph), 0.01)
    image = build_with_training(plan, "tiny_cnn.tflite")
    state = train_golden.init_state(plan)
    flashed = train_golden.params_sha256(state)
    with QemuBoard(image.elf, icount=False) as board:
        client = TrainClient(board.device)
        assert client.info.model_digest == digest64(graph.digest()) != 0
        assert client.info.train_digest == digest64(plan.digest()) != 0
        m = client.model_info
        assert (m.input_height, m.input_width, m.input_channels) == tuple(graph.input.shape[1:])
        assert m.input_zero_point == graph.input.zp and m.classes == 4
        assert np.float32(np.frombuffer(m.input_scale_f32.to_bytes(4, "little"), "<f4")[0]) == np.float32(graph.input.s)
        # EVAL: counted against the label, equal to the golden forward pass, restartable
        right = 0
        for i in range(6):
            e = client.eval(ds.x_test[i], int(ds.y_test[i]), restart=(i == 0))
            ref = train_golden.predict(plan, state, ds.x_test[i], int(ds.y_test[i]))
            assert (e.status, e.prediction, e.p_label) == (0, ref.prediction, ref.p_label)
            right += int(ref.prediction == int(ds.y_test[i]))
            assert (e.seen, e.correct) == (i + 1, right)
        assert client.eval(ds.x_test[0], 99).status != 0  # a label out of range is refused, not counted
        t = client.train_info()
        assert (t.eval_seen, t.eval_correct, t.steps_done) == (6, right, 0)
        # INFER: the int8 logits
        inf = client.infer(ds.x_test[7])
        ref = train_golden.predict(plan, state, ds.x_test[7])
        assert np.frombuffer(inf.logits, np.int8).tolist() == ref.logits.tolist()
        assert inf.prediction == ref.prediction
        assert client.params_sha256() == flashed  # evaluation changed nothing
        # SET_LR: steps at lr * 2**-2 and then 2**1 equal the golden steps with the same shifts
        for shift, steps in ((-2, range(0, 3)), (1, range(3, 6))):
            assert client.set_lr_shift(shift) == shift
            state.lr_shift = shift
            for i in steps:
                dev = client.step(ds.x_train[i], int(ds.y_train[i]))
                ref_step = train_golden.step(plan, state, ds.x_train[i], int(ds.y_train[i]))
                assert dev.p_label == ref_step.p_label
            assert client.params_sha256() == train_golden.params_sha256(state)
        with pytest.raises(DeviceError) as err:
            client.set_lr_shift(LR_SHIFT_MAX + 1)
        assert err.value.code == ErrorCode.BAD_PAYLOAD
        assert client.train_info().lr_shift == 1  # unchanged by the refused request
        # RESET: back to the flashed image
        client.reset()
        t = client.train_info()
        assert (t.steps_done, t.lr_shift, t.eval_seen, t.eval_correct) == (0, 0, 0, 0)
        assert client.params_sha256() == flashed
        assert client.step(ds.x_train[0], int(ds.y_train[0])).step == 0
