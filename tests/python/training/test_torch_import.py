"""A float PyTorch model to a kilotrain int8 model (model/torch_import.py): the tutorial's script
(examples/torch_digits.py) trains a small CNN with batch norm and a residual block on
scikit-learn's digits (16 x 16 RGB, ImageNet normalisation: what kilotrain feeds a 3-channel
input); it is converted, saved as a .ktm and read back, then fine-tuned with a sparse scheme on the
emulated M7 == golden. Unsupported layers are refused in one line naming the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kilotrain.jobs.convert import float_split, top1_agreement
from kilotrain.model.irfile import save_graph
from kilotrain.model.load import load_model
from kilotrain.paths import REPO_ROOT

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional
pytest.importorskip("sklearn")


def _example() -> Any:
    """examples/torch_digits.py, the tutorial's script (docs/custom-models.md), as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("torch_digits", REPO_ROOT / "examples" / "torch_digits.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def trained() -> tuple[Any, np.ndarray, Any]:
    """(the float model trained 6 epochs by the tutorial's script, its training inputs
    (N, 3, 16, 16), the script as a module)."""
    ex = _example()
    x, y, _, _ = float_split("digits", ex.SIZE)
    return ex.train(x, y, epochs=6), x, ex


def test_int8_agrees_with_float(trained: Any, tmp_path: Path) -> None:
    net, x, _ = trained
    calib = x[:256]
    from kilotrain.model.torch_import import from_torch

    graph = from_torch(net, calib, "digits-resnet")
    kinds = [(op.kind, op.activation) for op in graph.ops]
    assert kinds == [
        ("CONV_2D", "RELU"),
        ("CONV_2D", "RELU"),
        ("CONV_2D", "RELU"),
        ("CONV_2D", "NONE"),  # batch norm folded in, no op of its own
        ("ADD", "RELU"),
        ("MEAN", "NONE"),
        ("FULLY_CONNECTED", "NONE"),
    ]
    assert graph.ops[1].params.stride == (2, 2) and graph.ops[1].params.padding == (1, 1)
    agreement = top1_agreement(net, graph, calib)
    assert agreement >= 0.98, agreement  # measured 0.996 (docs/custom-models.md)
    path = save_graph(graph, tmp_path / "digits")
    assert path.name == "digits.ktm" and load_model(path).digest() == graph.digest()


def test_batch_norm_is_folded_exactly(trained: Any) -> None:
    """The float activations the builder computes from the folded weights are PyTorch's."""
    from kilotrain.model.torch_import import _Importer

    net, x, _ = trained
    imp = _Importer(torch, net, x[:16].transpose(0, 2, 3, 1).astype(np.float64), "t")
    graph = imp.run()
    with torch.no_grad():
        want = net(torch.tensor(x[:16])).numpy()
    got = imp.b.f[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


class _MaxPoolNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.c, self.p, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: Any) -> Any:
        return self.fc(torch.flatten(self.p(F.relu(self.c(x))), 1))


class _GeluNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.c, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 10)

    def forward(self, x: Any) -> Any:
        return self.fc(F.adaptive_avg_pool2d(F.gelu(self.c(x)), 1).flatten(1))


class _FlatNet(nn.Module):  # type: ignore[misc]
    """A classifier on a flattened 4x4 map: PyTorch's C, H, W columns become kilotrain's H, W, C."""

    def __init__(self) -> None:
        super().__init__()
        self.c, self.fc = nn.Conv2d(3, 4, 3, stride=4, padding=1), nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: Any) -> Any:
        return self.fc(F.relu(self.c(x)).view(x.shape[0], -1))


@pytest.mark.parametrize(
    "net,says",
    [(_MaxPoolNet, "node 'p' (MaxPool2d) is not supported"), (_GeluNet, "node 'gelu' (call_function gelu)")],
)
def test_unsupported_layers_are_one_line(net: Any, says: str) -> None:
    from kilotrain.model.torch_import import TorchImportError, from_torch

    x = np.random.default_rng(0).normal(size=(4, 3, 16, 16))
    with pytest.raises(TorchImportError) as e:
        from_torch(net(), x)
    msg = str(e.value)
    assert says in msg and "supported: Conv2d" in msg and "\n" not in msg


def test_flattened_feature_map_keeps_its_columns() -> None:
    from kilotrain.model.torch_import import _Importer

    torch.manual_seed(1)
    net = _FlatNet().eval()
    x = np.random.default_rng(0).normal(size=(8, 3, 16, 16))
    imp = _Importer(torch, net, x.transpose(0, 2, 3, 1), "flat")
    graph = imp.run()
    with torch.no_grad():
        want = net(torch.tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(imp.b.f[graph.outputs[0]], want, rtol=1e-4, atol=1e-4)


@pytest.mark.qemu
def test_fine_tunes_on_the_emulated_board(
    trained: Any, tmp_path: Path, qemu_elf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The converted model, read back from its .ktm by `kilotrain train` (as a .tflite would be),
    fine-tuned 20 steps with a sparse scheme (biases of the last 4 conv layers, half the output
    channels of the last conv's weights) on the emulated M7: the same parameters as golden."""
    import json

    from kilotrain import cli
    from kilotrain.model.torch_import import from_torch

    net, x, _ = trained
    path = save_graph(from_torch(net, x[:256], "digits-resnet"), tmp_path / "digits")
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps({"n_bias_update": 4, "weight_layers": [3], "ratios": [0.5]}))
    argv = ["train", str(path), "--dataset", "digits", "--scheme", str(scheme), "--steps", "20", "--json"]
    runs = {}
    for engine in ("golden", "qemu"):
        assert cli.main([*argv, "--engine", engine]) == 0
        runs[engine] = json.loads(capsys.readouterr().out)
    assert runs["golden"]["params_sha256"] == runs["qemu"]["params_sha256"]
    assert runs["qemu"]["test_acc_before"] >= 0.9  # the float model's accuracy survives the conversion


def test_convert_a_zoo_twin_with_trained_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kilotrain convert zoo:tiny_cnn --weights`: the zoo's PyTorch twin trained here for two
    epochs, its state dict saved as a checkpoint, converted with digits calibration images: the
    same ops as the random zoo model, and the int8 model agrees with the float one."""
    import json

    from kilotrain import cli
    from kilotrain.jobs.convert import float_split, pretrain
    from kilotrain.model import zoo
    from kilotrain.model.zoo_torch import zoo_module

    x, y, _, _ = float_split("digits", 16)
    torch.manual_seed(0)
    net = pretrain(zoo_module("tiny_cnn", num_classes=10), x[:600], y[:600], epochs=2)
    ckpt = tmp_path / "tiny.pt"
    torch.save({"epoch": 2, "state_dict": net.state_dict()}, ckpt)
    out = tmp_path / "tiny.ktm"
    argv = ["convert", "zoo:tiny_cnn", "--weights", str(ckpt), "--dataset", "digits", "--out", str(out)]
    assert cli.main([*argv, "--calib", "128", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["top1_agreement"] >= 0.9, r
    g = load_model(out)
    assert [op.kind for op in g.ops] == [op.kind for op in zoo.tiny_cnn(16, 10).ops]
    assert r["digest"] == g.digest() and r["calibration_images"] == 128
    assert cli.main(argv) == 0
    assert "int8 top-1 = float top-1 on" in capsys.readouterr().out


def test_convert_trains_a_source_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kilotrain convert zoo:tiny_cnn --train 24 --dataset digits:0-4`: a 5-way source model trained
    here, the same .ktm for the same seed; its int8 test accuracy (kilotrain's own evaluation on the
    held-out split) is the float model's within a few images."""
    import json

    from kilotrain import cli

    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.ktm"
        argv = ["convert", "zoo:tiny_cnn", "--train", "24", "--dataset", "digits:0-4", "--out", str(out), "--json"]
        assert cli.main(argv) == 0
        runs.append(json.loads(capsys.readouterr().out))
    r = runs[0]
    assert r["train_epochs"] == 24 and r["float_test_accuracy"] >= 0.8 and r["digest"] == runs[1]["digest"]
    ev = ["train", r["out"], "--dataset", "digits:0-4", "--steps", "0", "--json"]
    assert cli.main(ev) == 0
    int8 = json.loads(capsys.readouterr().out)["test_acc_before"]
    assert abs(int8 - r["float_test_accuracy"]) <= 0.03, (int8, r["float_test_accuracy"])


@pytest.mark.parametrize(
    "argv,says",
    [
        (["model.tflite"], "convert takes a zoo architecture"),
        (["zoo:nope"], "zoo:nope has no PyTorch twin; known: zoo:tiny_cnn"),
        (["zoo:tiny_cnn", "--weights", "{missing}"], "cannot read it"),
        (["zoo:tiny_cnn", "--weights", "{resnet}"], "does not fit this model"),
        (["zoo:tiny_cnn", "--weights", "{resnet}", "--train", "2"], "no --weights with it"),
    ],
)
def test_convert_errors_are_one_line(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kilotrain import cli
    from kilotrain.model.zoo_torch import zoo_module

    resnet = tmp_path / "resnet.pt"
    torch.save(zoo_module("resnet8").state_dict(), resnet)
    argv = [a.replace("{missing}", str(tmp_path / "none.pt")).replace("{resnet}", str(resnet)) for a in argv]
    assert cli.main(["convert", *argv, "--dataset", "digits", "--out", str(tmp_path / "x.ktm"), "--calib", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and err.startswith("kilotrain: error: ") and "\n" not in err


@pytest.mark.parametrize("name,size", [("tiny_cnn", 16), ("resnet8", 16), ("mbv2-w0.35", 32), ("proxyless-w0.3", 32)])
def test_zoo_twins_convert_to_the_zoo_graph(name: str, size: int) -> None:
    """Each zoo architecture's PyTorch twin converts to the numpy zoo's op sequence, activations
    and output shapes (the twin is what `kilotrain convert zoo:NAME --weights` loads)."""
    from kilotrain.model.torch_import import from_torch
    from kilotrain.model.zoo_torch import zoo_module

    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 3, size, size))
    got = from_torch(zoo_module(name), x, name)
    want = load_model(f"zoo:{name}", input_size=size)

    def layout(g: Any) -> list[Any]:
        return [(op.kind, op.activation, g.tensors[op.outputs[0]].shape) for op in g.ops]

    assert layout(got) == layout(want)
