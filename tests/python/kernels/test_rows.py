"""Row-streamed execution of a fused chain (codegen/rows.py, firmware/kernels/kt_rows.c) equals
layer-at-a-time execution bit for bit: the numpy twin run_rows() with the golden ops and the C
runner kt_rows_run() with the C kernels, on random chains of convolutions, depthwise convolutions
and residual adds (hypothesis) and on MobileNetV2-w0.35's prefix at 128x128."""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_int8, c_int32, c_uint16

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_strategies import KERNEL_SETTINGS

from kilotrain import reference as golden
from kilotrain.codegen import rows
from kilotrain.kernels import build as host_lib
from kilotrain.kernels import forward as ckernels
from kilotrain.kernels.cstructs import (
    ROWS_KIND,
    AddParamsC,
    BandC,
    BandStateC,
    ConvParamsC,
    Dims,
    DwConvParamsC,
    PackedFilterC,
    PerChannelQuant,
    RowsPlanC,
    RowsProgressC,
    RowsStageC,
    Tile,
)
from kilotrain.kernels.packed import pack_conv, why_not_packed
from kilotrain.model import zoo
from kilotrain.model.ir import Graph
from kilotrain.model.load import load_model
from kilotrain.reference import executor


@st.composite
def chains(draw: st.DrawFn) -> Graph:
    """A random chain: stem conv, then conv / depthwise / inverted-residual blocks, any kernel
    size in 1..7 and stride 1 or 2 (SAME padding: odd and even totals)."""
    size = draw(st.integers(3, 20))
    seed = draw(st.integers(0, 2**16))
    b = zoo.GraphBuilder(zoo._calibration(size, 2, seed, channels=draw(st.integers(1, 4))), seed, "chain")
    x = b.conv(b.input, draw(st.integers(1, 8)), draw(st.sampled_from([1, 3, 5])), draw(st.integers(1, 2)))
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "dw", "block"]))
        k, s = draw(st.sampled_from([1, 3, 5, 7])), draw(st.integers(1, 2))
        c = b.tensors[x].shape[3]
        if kind == "conv":
            x = b.conv(x, draw(st.integers(1, 8)), k, s)
        elif kind == "dw":
            x = b.conv(x, 0, k, s, depthwise=True)
        else:
            x = b.inverted_residual(
                x, c if draw(st.booleans()) else draw(st.integers(1, 8)), k, s, draw(st.integers(1, 3))
            )
    return b.graph(x)


def _c_run(graph: Graph, sched: rows.RowSchedule, env: dict[int, np.ndarray], pack: bool = False) -> np.ndarray:
    """kt_rows_run() on the host library, bands in numpy arrays, stages built from the ops. A
    streamed input is fed with kt_rows_feed() in random pieces, some sent twice. With ``pack``,
    the CONV_2D stages the packer takes run with their filters packed (kt_conv2d_packed_s8)."""
    keep: list[object] = []

    def arr(a: np.ndarray, ctype: object) -> object:
        keep.append(a)
        return a.ctypes.data_as(POINTER(ctype))  # type: ignore[arg-type]

    store = {b.tensor: np.zeros(b.bytes, np.int8) for b in sched.bands}
    for b in sched.bands:
        if b.ready:
            store[b.tensor][:] = env[b.tensor].reshape(-1)
    bands = (BandC * len(sched.bands))(
        *[BandC(arr(store[b.tensor], c_int8), b.h, b.w, b.c, b.cap, b.ready) for b in sched.bands]
    )
    state = (BandStateC * len(sched.bands))()
    index = {b.tensor: k for k, b in enumerate(sched.bands)}
    stages = []
    for pos in range(sched.first, sched.last + 1):
        op = graph.ops[pos]
        p = op.params
        act = (p.act_min, p.act_max)
        if op.kind == "ADD":
            names = [f[0] for f in AddParamsC._fields_ if f[0] != "activation"]
            pc = AddParamsC(*[getattr(p, n) for n in names], act)
            keep.append(pc)
            stages.append(
                RowsStageC(
                    ROWS_KIND["ADD"],
                    ctypes.addressof(pc),
                    None,
                    None,
                    None,
                    None,
                    None,
                    index[op.inputs[0]],
                    index[op.inputs[1]],
                    index[op.outputs[0]],
                )
            )
            continue
        geo = (Tile(*p.stride), Tile(*p.padding), Tile(*p.dilation))
        if op.kind == "CONV_2D":
            pc = ConvParamsC(*geo, p.input_offset, p.output_offset, act)
        else:
            pc = DwConvParamsC(*geo, p.depth_multiplier, p.input_offset, p.output_offset, act)
        w, bias = graph.tensors[op.inputs[1]].data, graph.tensors[op.inputs[2]].data
        cout = w.shape[3] if op.kind == "DEPTHWISE_CONV_2D" else w.shape[0]
        m = np.ascontiguousarray(np.broadcast_to(p.multiplier, (cout,)), np.int32)
        s = np.ascontiguousarray(np.broadcast_to(p.shift, (cout,)), np.int32)
        q = PerChannelQuant(arr(m, c_int32), arr(s, c_int32))
        fd = Dims(*w.shape)
        wa, ba = np.ascontiguousarray(w, np.int8), np.ascontiguousarray(bias, np.int32)
        keep.extend([pc, q, fd])
        packed = None
        if pack and op.kind == "CONV_2D" and why_not_packed(w.shape, p) is None:
            records, k = pack_conv(w, bias, p)
            packed = ctypes.pointer(PackedFilterC(arr(records, c_int32), k))
            keep.append(packed)
        stages.append(
            RowsStageC(
                ROWS_KIND[op.kind],
                ctypes.addressof(pc),
                ctypes.pointer(q),
                ctypes.pointer(fd),
                arr(wa, c_int8),
                arr(ba, c_int32) if packed is None else None,  # packed: the bias is in the records
                packed,
                index[op.inputs[0]],
                -1,
                index[op.outputs[0]],
            )
        )
    st_arr = (RowsStageC * len(stages))(*stages)
    ev_stage = np.array([pos - sched.first for pos, _ in sched.events], np.uint16)
    ev_rows = np.array([n for _, n in sched.events], np.uint16)
    progress = RowsProgressC()
    stream = -1 if sched.stream is None else sched.stream
    plan = RowsPlanC(
        bands,
        state,
        len(sched.bands),
        stream,
        ctypes.pointer(progress),
        st_arr,
        len(stages),
        arr(ev_stage, c_uint16),
        arr(ev_rows, c_uint16),
        len(ev_stage),
    )
    if sched.stream is not None:
        data = np.ascontiguousarray(env[sched.bands[stream].tensor], np.int8).reshape(-1)
        rng = np.random.default_rng(0)
        row = sched.bands[stream].row_bytes
        feed = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32]
        off = 0
        while off < data.size:
            n = int(min(rng.integers(1, 3 * row + 2), data.size - off))
            host_lib.call("kt_rows_feed", feed, ctypes.addressof(plan), off, data.ctypes.data + off, n)
            if rng.random() < 0.2:  # a resent frame: skipped
                host_lib.call("kt_rows_feed", feed, ctypes.addressof(plan), off, data.ctypes.data + off, n)
            off += n
    host_lib.call("kt_rows_run", [ctypes.c_void_p], ctypes.addressof(plan))
    out = sched.bands[-1]
    return store[out.tensor].reshape(1, out.h, out.w, out.c)


def _check_every_segment(graph: Graph, stream: bool = False, pack: bool = False) -> int:
    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape).astype(np.int8)
    _, env = executor.run(graph, x, return_all=True)
    checked = 0
    for last in range(1, len(graph.ops)):
        if not rows.valid_segment(graph, 0, last):
            continue
        sched = rows.schedule(graph, 0, last, stream)
        assert (sched.stream == 0) == stream and sched.bands[0].cap <= sched.bands[0].h
        # every row is computed at most once (rows nobody reads, e.g. under a 1x1 stride-2 conv, never)
        assert len(sched.events) <= sum(graph.tensors[graph.ops[p].outputs[0]].shape[1] for p in range(last + 1))
        assert all(1 <= b.cap <= b.h for b in sched.bands)
        inputs = {b.tensor: env[b.tensor] for b in sched.bands if b.ready or b.streamed}
        want = env[sched.output]
        np.testing.assert_array_equal(rows.run_rows(graph, sched, inputs, golden), want)
        np.testing.assert_array_equal(_c_run(graph, sched, inputs, pack), want)
        checked += 1
    return checked


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # a chain whose activations are all 0
@KERNEL_SETTINGS
@given(graph=chains(), stream=st.booleans(), pack=st.booleans())
def test_row_streamed_chain_equals_layer_at_a_time(graph: Graph, stream: bool, pack: bool) -> None:
    """With a whole input, or with the input streamed row by row into a band of a few rows (fed
    in random pieces, some sent twice); with the convolutions' filters packed or not."""
    assert _check_every_segment(graph, stream, pack) >= 1


def test_bands_are_as_small_as_the_filters_allow() -> None:
    """A 3x3 stride-1 depthwise after a 1x1: the 1x1's output band holds 3 rows, the chain's
    intermediate tensors never exist whole."""
    b = zoo.GraphBuilder(zoo._calibration(16, 2, 0), 0, "c")
    x = b.conv(b.input, 8, 1)
    x = b.conv(x, 0, 3, 1, depthwise=True)
    g = b.graph(b.conv(x, 4, 1))
    sched = rows.schedule(g, 0, 2)
    assert [band.cap for band in sched.intermediates] == [3, 1]
    assert rows.arena_saving(sched) == (16 - 3) * 16 * 8 + (16 - 1) * 16 * 8


@pytest.mark.slow
def test_mobilenet_v2_prefix_at_128() -> None:
    """The segment the training code generator picks for MobileNetV2-w0.35 at 128x128 and every
    longer one up to the 99kb scheme's first trained op: numpy twin and C equal the golden model."""
    g = load_model("zoo:mbv2-w0.35", 2, 128)
    x = np.random.default_rng(1).integers(-128, 128, g.input.shape).astype(np.int8)
    _, env = executor.run(g, x, return_all=True)
    for last, stream in ((9, False), (12, True), (23, True), (31, False)):
        sched = rows.schedule(g, 0, last, stream)
        inputs = {b.tensor: env[b.tensor] for b in sched.bands if b.ready or b.streamed}
        np.testing.assert_array_equal(_c_run(g, sched, inputs), env[sched.output])
        np.testing.assert_array_equal(_c_run(g, sched, inputs, pack=True), env[sched.output])
    assert sched.bands[0].cap == 128 and rows.schedule(g, 0, 23, True).bands[0].cap == 3
    np.testing.assert_array_equal(rows.run_rows(g, sched, inputs, ckernels), env[sched.output])
    streamed = rows.schedule(g, 0, 23, True)
    inputs = {g.inputs[0]: env[g.inputs[0]]}
    np.testing.assert_array_equal(rows.run_rows(g, streamed, inputs, golden), env[streamed.output])


def test_streamed_input_refuses_an_incomplete_input() -> None:
    b = zoo.GraphBuilder(zoo._calibration(12, 2, 0), 0, "c")
    x = b.conv(b.input, 4, 3, 2)
    g = b.graph(b.conv(x, 0, 3, 1, depthwise=True))
    sched = rows.schedule(g, 0, 1, stream=True)
    assert sched.stream == 0 and sched.bands[0].cap < 12

    x0 = np.zeros(g.input.shape, np.int8)
    # feeding everything then running works
    _c_run(g, sched, {g.inputs[0]: x0})
    # the C runner refuses to finish an input of which no byte arrived
    with pytest.raises(ckernels.KernelError, match="kt_rows_run returned KT_ARG_ERROR"):
        _c_run(g, sched, {g.inputs[0]: x0[:, :0]})


def test_c_runner_refuses_a_band_too_small() -> None:
    """A schedule whose band cannot hold the rows an event reads is an error, not a wrong result."""
    b = zoo.GraphBuilder(zoo._calibration(12, 2, 0), 0, "c")
    x = b.conv(b.input, 4, 1)
    g = b.graph(b.conv(x, 0, 3, 1, depthwise=True))
    sched = rows.schedule(g, 0, 1)
    mid = sched.intermediates[0]
    small = rows.RowSchedule(
        sched.first,
        sched.last,
        tuple(rows.Band(**{**vars(bd), "cap": 1}) if bd is mid else bd for bd in sched.bands),
        sched.events,
    )
    x0 = np.zeros(g.input.shape, np.int8)
    with pytest.raises(ckernels.KernelError, match="kt_rows_run returned KT_ARG_ERROR"):
        _c_run(g, small, {g.inputs[0]: x0})
    with pytest.raises(AssertionError, match="read but the band holds"):
        rows.run_rows(g, small, {g.inputs[0]: x0}, golden)
