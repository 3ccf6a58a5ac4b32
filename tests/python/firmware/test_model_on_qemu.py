"""A generated model inside the firmware on the emulated Cortex-M7: golden == host C == QEMU,
every output byte; the memory plan; the link's memory limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kilotrain.codegen import memory_plan
from kilotrain.codegen import model as codegen
from kilotrain.data import images
from kilotrain.device import toolchain
from kilotrain.device.boards import QemuBoard
from kilotrain.device.firmware import ModelClient, build_with_model
from kilotrain.kernels import forward as ckernels
from kilotrain.kernels.packed import record_words
from kilotrain.model.ir import Graph, Op, Tensor
from kilotrain.model.params import ConvParams
from kilotrain.model.tflite import load_tflite
from kilotrain.paths import data_file
from kilotrain.reference import executor

pytestmark = pytest.mark.qemu

PERSON = data_file("person_detection/person_detect.tflite")


def pointwise_graph(h: int, w: int, cin: int, cout: int, seed: int = 0) -> Graph:
    """A one-op graph: 1x1 CONV_2D (N=1), random int8 weights, per-channel requantization."""
    rng = np.random.default_rng(seed)
    one = np.ones(1, np.float32)
    tensors = [
        Tensor("x", (1, h, w, cin), "int8", one * 0.02, np.array([3])),
        Tensor(
            "w",
            (cout, 1, 1, cin),
            "int8",
            np.full(cout, 0.01, np.float32),
            np.zeros(cout, np.int64),
            0,
            rng.integers(-127, 128, (cout, 1, 1, cin), dtype=np.int8),
        ),
        Tensor("b", (cout,), "int32", None, None, 0, rng.integers(-500, 500, cout, dtype=np.int32)),
        Tensor("y", (1, h, w, cout), "int8", one * 0.05, np.array([-2])),
    ]
    p = ConvParams(
        stride=(1, 1),
        padding=(0, 0),
        dilation=(1, 1),
        input_offset=-3,
        output_offset=-2,
        multiplier=np.full(cout, 1_288_490_189, np.int32),
        shift=np.full(cout, -6, np.int32),
    )
    return Graph(tensors, [Op("CONV_2D", [0, 1, 2], [3], p, index=0, conv_index=0)], [0], [3], name="pointwise")


@pytest.fixture(scope="module")
def person_graph() -> Graph:
    return load_tflite(PERSON)


@pytest.fixture(scope="module")
def person_board(person_graph: Graph, qemu_elf: Path):  # qemu_elf: skips without the toolchain
    image = build_with_model(person_graph, PERSON.name)
    with QemuBoard(image.elf) as board:
        yield image, ModelClient(board.device)


def _frames(graph: Graph) -> list[tuple[str, np.ndarray]]:
    frames = [
        (n, images.load_input(data_file(f"person_detection/{n}.bmp"), graph.input)) for n in ("person", "no_person")
    ]
    rng = np.random.default_rng(2026)
    frames += [(f"random{i}", rng.integers(-128, 128, graph.input.shape, dtype=np.int8)) for i in range(2)]
    return frames


def test_person_detect_golden_c_qemu_agree(person_graph: Graph, person_board) -> None:
    _image, client = person_board
    assert (client.input_size, client.output_size, client.name) == (96 * 96, 2, "person_detect")
    for name, x in _frames(person_graph):
        golden = np.asarray(executor.run(person_graph, x)).reshape(-1)
        host_c = np.asarray(executor.run(person_graph, x, ckernels)).reshape(-1)
        r = client.invoke(x)
        assert r.status == 0
        np.testing.assert_array_equal(host_c, golden, err_msg=f"host C != golden on {name}")
        np.testing.assert_array_equal(r.output, golden, err_msg=f"QEMU != golden on {name}")
        if name == "person":
            assert golden.tolist() == [-113, 113]
        if name == "no_person":
            assert golden.tolist() == [57, -57]
        # the same program on the same input: the instruction count is deterministic
        assert r.instructions is not None and r.instructions > 1_000_000
        assert 0 < r.stack_high_water < 16 * 1024


def test_dsp_path_equals_portable_path(person_graph: Graph, person_board) -> None:
    """The ARMv7E-M DSP dot products (default on the M7) against a -DKT_USE_DSP=0 build."""
    _, dsp_client = person_board
    portable = build_with_model(person_graph, PERSON.name, build_flags=("-DKT_USE_DSP=0",))
    with QemuBoard(portable.elf) as board:
        client = ModelClient(board.device)
        for name, x in _frames(person_graph):
            a, b = client.invoke(x), dsp_client.invoke(x)
            np.testing.assert_array_equal(a.output, b.output, err_msg=name)
            assert b.instructions < a.instructions  # the point of the fast path


def test_person_detect_memory_figures(person_graph: Graph, person_board) -> None:
    image, client = person_board
    mp = image.generated.plan
    memory_plan.check(mp)
    assert client.arena_size == mp.arena_size
    # TFLM's arena for this model holds 55,296 bytes of activations (dataset README); ours is no larger
    assert mp.arena_size <= 55_296
    assert mp.arena_size <= image.static_sram_bytes < mp.arena_size + 4096
    assert image.flash_bytes > image.generated.const_bytes


def test_ram_overflow_fails_the_link_loudly() -> None:
    # 1x1 conv on a 200x200x4 input -> 200x200x4 output: 320,000 bytes of arena > what is left of 320 KB
    graph = pointwise_graph(200, 200, 4, 4)
    with pytest.raises(toolchain.ToolError, match="overflowed"):
        build_with_model(graph, "too_big.tflite")


def test_small_generated_model_matches_golden_in_qemu() -> None:
    graph = pointwise_graph(5, 7, 12, 9, seed=3)
    text, _mp, const_bytes = codegen.render(graph, "pointwise.tflite")
    assert text.startswith("/*\n * Generated by kilotrain v")
    # its one layer runs from the packed filter: 9 records of 12 channels widened to 16 lanes + 5 words
    assert const_bytes == 9 * record_words(16) * 4
    image = build_with_model(graph, "pointwise.tflite")
    rng = np.random.default_rng(7)
    with QemuBoard(image.elf) as board:
        client = ModelClient(board.device)
        for _ in range(3):
            x = rng.integers(-128, 128, graph.input.shape, dtype=np.int8)
            r = client.invoke(x)
            np.testing.assert_array_equal(r.output, np.asarray(executor.run(graph, x)).reshape(-1))
