"""The PyTorch mirror of a graph and scheme (the bench's baseline) computes what the float reference
does: the same logits, and one SGD step changes exactly the parameters and channels the scheme
trains, by the same amounts. Unsupported ops and a missing PyTorch are one-line errors."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from kilotrain.extras import MissingExtra
from kilotrain.model.ir import Graph
from kilotrain.training import torch_mirror
from kilotrain.training.float_reference import FloatTrainer
from kilotrain.training.scheme import SchemeSpec, SparseScheme
from kilotrain.training.torch_mirror import TorchMirrorError, build_mirror, sgd, torch_step_benchmark, train_step

torch = pytest.importorskip("torch")

#: tiny_cnn: layers 0 and 1 fully, the last conv on half its channels, biases from layer 0
TINY_SCHEME = SparseScheme(5, (0, 1, 4), (1.0, 1.0, 0.5))


def _input(graph: Graph, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, graph.input.shape).astype(np.int8)


def _check_forward(graph: Graph, scheme: SchemeSpec) -> None:
    ft = FloatTrainer.create(graph, scheme, fake_quant=False)
    model = build_mirror(graph, scheme)
    for seed in range(2):
        x = _input(graph, seed)
        env, _ = ft.forward(x)
        want = ft.logits(env)
        with torch.no_grad():
            got = model(model.input_tensor(x)).numpy().ravel()
        assert got.shape == want.shape
        assert np.allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max())), (got, want)


def test_forward_equals_float_reference_tiny(tiny) -> None:  # type: ignore[no-untyped-def]
    _check_forward(tiny, TINY_SCHEME)


def test_forward_equals_float_reference_mbv2(mbv2_48) -> None:  # type: ignore[no-untyped-def]
    """Depthwise, ADD, MEAN and the asymmetric SAME padding of the stride-2 convolutions."""
    _check_forward(mbv2_48, "99kb")


def test_forward_equals_float_reference_person_detect(person_detect) -> None:  # type: ignore[no-untyped-def]
    """AVERAGE_POOL_2D, a 1x1 CONV_2D classifier and the RESHAPE to the logits."""
    _check_forward(person_detect, "last-layer")


def _changed_channels(kind: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Output channels (op layout: axis 0, last axis for depthwise) with any changed weight."""
    diff = before != after
    if kind == "DEPTHWISE_CONV_2D":
        per = diff.reshape(-1, diff.shape[-1]).any(axis=0)
    else:
        per = diff.reshape(diff.shape[0], -1).any(axis=1)
    return np.flatnonzero(per)


@pytest.mark.parametrize("which", ["tiny", "mbv2"])
def test_one_step_trains_exactly_the_scheme(which: str, tiny, mbv2_48) -> None:  # type: ignore[no-untyped-def]
    graph, scheme = (tiny, TINY_SCHEME) if which == "tiny" else (mbv2_48, "99kb")
    lr, label = 0.5, 1
    ft = FloatTrainer.create(graph, scheme, fake_quant=False)
    model = build_mirror(graph, scheme)
    updates = ft.st.updates
    trained = {id(p) for p in model.trainable_parameters()}
    for pos, layer in ((int(k), v) for k, v in model.layers.items()):
        upd = updates.get(pos)
        assert (id(layer.bias) in trained) == (upd is not None)
        assert (id(layer.weight) in trained) == (upd is not None and upd.n_channels > 0)
    assert any(
        0 < u.n_channels < graph.tensors[graph.ops[u.op_position].outputs[0]].shape[-1] for u in updates.values()
    )

    before = model.layer_arrays()
    x = _input(graph)
    loss = train_step(model, sgd(model, lr), model.input_tensor(x), torch.tensor([label]))
    ft_loss, _ = ft.step(x, label, lr)
    assert loss == pytest.approx(ft_loss, rel=1e-4)
    after = model.layer_arrays()
    assert after.keys() == before.keys() == ft.layers.keys()
    for pos, (w, b) in after.items():
        kind = graph.ops[pos].kind
        w0, b0 = before[pos]
        upd = updates.get(pos)
        if upd is None:  # frozen: bit-identical
            assert np.array_equal(w, w0) and np.array_equal(b, b0), pos
            continue
        assert (b != b0).any(), pos
        changed = _changed_channels(kind, w0, w)
        assert len(changed) > 0 if upd.n_channels else len(changed) == 0, (pos, upd)
        assert changed.max(initial=-1) < upd.n_channels, (pos, upd.n_channels, changed)  # the first n only
        ref = ft.layers[pos]  # the float reference's step, the same amounts
        assert np.allclose(b, ref.b, rtol=0, atol=1e-5 * max(1.0, float(np.abs(ref.b).max()))), pos
        assert np.allclose(w, ref.w, rtol=0, atol=1e-5 * max(1.0, float(np.abs(ref.w).max()))), pos


def test_unsupported_op_is_one_line(tiny) -> None:  # type: ignore[no-untyped-def]
    g = copy.deepcopy(tiny)
    pos = next(i for i, op in enumerate(g.ops) if op.kind == "DEPTHWISE_CONV_2D")
    g.ops[pos].kind = "MAX_POOL_2D"  # in the frozen prefix of classifier-only: the plan does not look at it
    with pytest.raises(TorchMirrorError) as e:
        build_mirror(g, "classifier-only")
    msg = str(e.value)
    assert "\n" not in msg and f"op {g.ops[pos].index} (MAX_POOL_2D) has no PyTorch mirror" in msg
    assert isinstance(e.value, ValueError)
    g = copy.deepcopy(tiny)
    g.ops[pos].activation = "TANH"
    with pytest.raises(TorchMirrorError, match="fused activation TANH"):
        build_mirror(g, "classifier-only")


def test_missing_torch_names_the_pip_command(tiny, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    torch_mirror._mirror_class.cache_clear()
    try:
        with pytest.raises(MissingExtra) as e:
            build_mirror(tiny, "last-layer")
    finally:
        monkeypatch.undo()
        torch_mirror._mirror_class.cache_clear()
    assert str(e.value) == "the PyTorch baseline needs the optional package 'torch': pip install 'kilotrain[torch]'"


def test_benchmark_runs_in_its_own_process(tiny) -> None:  # type: ignore[no-untyped-def]
    frames = [(_input(tiny, i), i % 4) for i in range(2)]
    r = torch_step_benchmark(tiny, "last-layer", frames, steps=3, lr=0.05)
    assert r["version"] == torch.__version__ and r["threads"] == 1
    assert r["steps"] == 3 and r["warmup"] == torch_mirror.WARMUP
    assert 0 < r["step_ms_min"] <= r["step_ms"] < 1000
    assert r["peak_rss_bytes"] > 50 * 2**20  # torch's own process: the interpreter, numpy and torch
    json.dumps(r)


def test_benchmark_without_torch_in_the_child(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # shadows the installed torch in the child
    with pytest.raises(MissingExtra, match=r"pip install 'kilotrain\[torch\]'$"):
        torch_step_benchmark(tiny, "last-layer", [(_input(tiny), 0)], steps=1, lr=0.05)
