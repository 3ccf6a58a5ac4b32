"""`kilotrain train` from the shell: the golden model, the host C kernels and the firmware on
the emulated Cortex-M7 end with the same params_sha256."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kilotrain import cli

ARGS = [
    "train",
    "zoo:tiny_cnn",
    "--dataset",
    "digits",
    "--input-size",
    "16",
    "--limit",
    "300",
    "--scheme",
    "{scheme}",
    "--steps",
    "25",
    "--seed",
    "3",
    "--json",
]


def _train(capsys: pytest.CaptureFixture[str], engine: str, scheme: str) -> dict:
    argv = [a.replace("{scheme}", scheme) for a in ARGS] + ["--engine", engine]
    assert cli.main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.qemu
def test_three_engines_same_parameters(capsys: pytest.CaptureFixture[str], qemu_elf: Path) -> None:
    golden = _train(capsys, "golden", "bias-only")
    host_c = _train(capsys, "c", "bias-only")
    device = _train(capsys, "qemu", "bias-only")
    assert golden["params_sha256"] == host_c["params_sha256"] == device["params_sha256"]
    assert golden["test_acc_after"] == device["test_acc_after"]
    d = device["device"]
    assert d["instructions_per_step_mean"] > 0 and d["peak_sram_bytes"] < 320 * 1024
    assert d["peak_sram_bytes"] == d["static_sram_bytes"] + d["stack_high_water_bytes"]


@pytest.mark.qemu
def test_resnet_with_fused_add_relu_trains_on_three_engines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, qemu_elf: Path
) -> None:
    """A ResNet (residual ADD with a fused ReLU after every block, 1x1 stride-2 shortcuts):
    biases of every layer and weights of three (so the gradient crosses each ADD + ReLU and each
    fan-out) for 20 steps; the golden model, the host C kernels and the emulated M7 agree."""
    spec = tmp_path / "scheme.json"
    spec.write_text(json.dumps({"n_bias_update": 9, "weight_layers": [0, 4, 8], "ratios": [1.0, 0.5, 1.0]}))
    argv = ["train", "zoo:resnet8", "--input-size", "16", "--dataset", "digits", "--limit", "300"]
    argv += ["--scheme", str(spec), "--steps", "20", "--json", "--engine"]
    runs = {}
    for engine in ("golden", "c", "qemu"):
        assert cli.main([*argv, engine]) == 0
        runs[engine] = json.loads(capsys.readouterr().out)
    assert runs["golden"]["params_sha256"] == runs["c"]["params_sha256"] == runs["qemu"]["params_sha256"]
    assert runs["qemu"]["device"]["instructions_per_step_mean"] > 0


def test_bad_scheme_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{scheme}", "99kb") for a in ARGS] + ["--engine", "qemu"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "99kb" in err[0]


@pytest.mark.parametrize(
    "extra,says",
    [
        (["--lr", "inf"], "--lr must be a finite number > 0; got inf"),
        (["--lr", "nan"], "--lr must be a finite number > 0; got nan"),
        (["--lr", "0"], "--lr must be a finite number > 0; got 0.0"),
        (["--new-head", "0"], "--new-head must be >= 2"),
        (["--new-head", "1"], "--new-head must be >= 2"),
        (["--input-size", "0"], "--input-size must be >= 1; got 0"),
        (["--steps", "-1"], "--steps must be >= 0"),
    ],
)
def test_bad_training_options_are_one_line(capsys: pytest.CaptureFixture[str], extra: list[str], says: str) -> None:
    """Refused before anything is loaded (--lr inf used to end in a traceback; --new-head 0 and
    --input-size 0 were accepted, the latter silently meaning the default resolution)."""
    argv = ["train", "zoo:tiny_cnn", "--dataset", "digits", "--steps", "1", *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def test_zoo_input_size_zero_is_refused_by_the_loader() -> None:
    from kilotrain.model.ir import ModelError
    from kilotrain.model.load import load_model

    with pytest.raises(ModelError, match=r"^zoo:mbv2-w0.35: input size must be >= 1 pixel; got 0$"):
        load_model("zoo:mbv2-w0.35", 2, 0)
