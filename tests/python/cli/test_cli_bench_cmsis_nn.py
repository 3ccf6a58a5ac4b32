"""``kilotrain bench --cmsis-nn DIR``: a model's forward layers mapped to CMSIS-NN's s8 calls with
the model's own shapes and quantisation, the program generated, built and run on the emulated M7
(here against a stand-in checkout with the real API and trivial kernels: the real CMSIS-NN is not
in CI; docs/benchmarks.md has the real figures and their command), the report's ratio, and one
line for a bad checkout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kilotrain import cli
from kilotrain.codegen import cmsis_nn
from kilotrain.extras import MissingExtra
from kilotrain.jobs import bench
from kilotrain.jobs import cmsis_nn as job
from kilotrain.model.load import load_model
from kilotrain.model.params import AddParams

#: The parts of CMSIS-NN's API the program uses (names and layouts as in Include/arm_nnfunctions.h).
FAKE_HEADER = """
#include <stdint.h>
typedef enum { ARM_CMSIS_NN_SUCCESS = 0, ARM_CMSIS_NN_ARG_ERROR = -1 } arm_cmsis_nn_status;
typedef struct { int32_t w, h; } cmsis_nn_tile;
typedef struct { void *buf; int32_t size; } cmsis_nn_context;
typedef struct { int32_t n, h, w, c; } cmsis_nn_dims;
typedef struct { int32_t *multiplier; int32_t *shift; } cmsis_nn_per_channel_quant_params;
typedef struct { int32_t multiplier; int32_t shift; } cmsis_nn_per_tensor_quant_params;
typedef struct { int32_t min, max; } cmsis_nn_activation;
typedef struct { int32_t input_offset, output_offset; cmsis_nn_tile stride, padding, dilation;
                 cmsis_nn_activation activation; } cmsis_nn_conv_params;
typedef struct { int32_t input_offset, output_offset, ch_mult; cmsis_nn_tile stride, padding, dilation;
                 cmsis_nn_activation activation; } cmsis_nn_dw_conv_params;
typedef struct { int32_t input_offset, filter_offset, output_offset; cmsis_nn_activation activation; }
    cmsis_nn_fc_params;
#define CONV_ARGS const cmsis_nn_dims *id, const int8_t *in, const cmsis_nn_dims *fd, const int8_t *f, \\
    const cmsis_nn_dims *bd, const int32_t *b, const cmsis_nn_dims *od, int8_t *out
arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_conv_params *p,
    const cmsis_nn_per_channel_quant_params *q, CONV_ARGS);
int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *p, const cmsis_nn_dims *id,
    const cmsis_nn_dims *fd, const cmsis_nn_dims *od);
arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_dw_conv_params *p,
    const cmsis_nn_per_channel_quant_params *q, CONV_ARGS);
int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *p, const cmsis_nn_dims *id,
    const cmsis_nn_dims *fd, const cmsis_nn_dims *od);
arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx, const cmsis_nn_fc_params *p,
    const cmsis_nn_per_tensor_quant_params *q, CONV_ARGS);
int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *fd);
arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *a, const int8_t *b, const int32_t a_off, const int32_t a_mult,
    const int32_t a_shift, const int32_t b_off, const int32_t b_mult, const int32_t b_shift, const int32_t left_shift,
    int8_t *out, const int32_t out_off, const int32_t out_mult, const int32_t out_shift, const int32_t act_min,
    const int32_t act_max, const int32_t n);
"""

#: Stand-in kernels: one store per output element (so a layer's count grows with its output).
FAKE_KERNELS = """
#include "arm_nnfunctions.h"
static arm_cmsis_nn_status fill(int8_t *out, int32_t n) {
    volatile int8_t *o = out; int32_t i; for (i = 0; i < n; ++i) { o[i] = (int8_t)i; } return ARM_CMSIS_NN_SUCCESS; }
#define N (od->h * od->w * od->c)
arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_conv_params *p,
    const cmsis_nn_per_channel_quant_params *q, CONV_ARGS) { (void)ctx; (void)p; (void)q; (void)id; (void)in;
    (void)fd; (void)f; (void)bd; (void)b; return p->stride.w >= 1 ? fill(out, N) : ARM_CMSIS_NN_ARG_ERROR; }
int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *p, const cmsis_nn_dims *id,
    const cmsis_nn_dims *fd, const cmsis_nn_dims *od) { (void)p; (void)id; (void)od; return 2 * fd->h * fd->w * fd->c; }
arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx, const cmsis_nn_dw_conv_params *p,
    const cmsis_nn_per_channel_quant_params *q, CONV_ARGS) { (void)ctx; (void)q; (void)in; (void)fd; (void)f;
    (void)bd; (void)b; return p->ch_mult * id->c == od->c ? fill(out, N) : ARM_CMSIS_NN_ARG_ERROR; }
int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *p, const cmsis_nn_dims *id,
    const cmsis_nn_dims *fd, const cmsis_nn_dims *od) { (void)p; (void)id; (void)fd; (void)od; return 0; }
arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx, const cmsis_nn_fc_params *p,
    const cmsis_nn_per_tensor_quant_params *q, CONV_ARGS) { (void)ctx; (void)p; (void)q; (void)id; (void)in;
    (void)f; (void)bd; (void)b; return fd->n * 1 == id->c ? fill(out, N) : ARM_CMSIS_NN_ARG_ERROR; }
int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *fd) { (void)fd; return 0; }
arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *a, const int8_t *b, const int32_t a_off, const int32_t a_mult,
    const int32_t a_shift, const int32_t b_off, const int32_t b_mult, const int32_t b_shift, const int32_t left_shift,
    int8_t *out, const int32_t out_off, const int32_t out_mult, const int32_t out_shift, const int32_t act_min,
    const int32_t act_max, const int32_t n) { (void)a; (void)b; (void)a_off; (void)a_mult; (void)a_shift; (void)b_off;
    (void)b_mult; (void)b_shift; (void)out_off; (void)out_mult; (void)out_shift; (void)act_min; (void)act_max;
    return left_shift == 20 ? fill(out, n) : ARM_CMSIS_NN_ARG_ERROR; }
"""


def fake_checkout(root: Path, kernels: str = FAKE_KERNELS) -> Path:
    """A directory laid out like a CMSIS-NN checkout: the header and every source the program copies
    (the stand-in kernels in the first, the rest empty translation units)."""
    (root / "Include").mkdir(parents=True)
    (root / "Include" / "arm_nnfunctions.h").write_text(FAKE_HEADER)
    for i, source in enumerate(cmsis_nn.CMSIS_NN_SOURCES):
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text(kernels if i == 0 else "typedef int kt_fake_unused;\n")
    return root


def test_layers_are_the_models() -> None:
    g = load_model("zoo:tiny_cnn", input_size=16)
    layers, mults, shifts, skipped = cmsis_nn.cmsis_layers(g)
    assert [L.op for L in layers] == [0, 1, 2, 3, 4, 5, 7] and skipped == ["op 6 MEAN"]
    assert [L.kind for L in layers] == ["conv", "conv", "depthwise", "conv", "add", "conv", "fully_connected"]
    for L in layers:
        op = g.ops[L.op]
        p = op.params
        assert (L.act_min, L.act_max, L.output_offset) == (p.act_min, p.act_max, p.output_offset)
        if L.kind in ("conv", "depthwise"):
            assert L.input == g.tensors[op.inputs[0]].shape[1:] and L.output == g.tensors[op.outputs[0]].shape[1:]
            assert (L.stride, L.padding, L.input_offset) == (p.stride, p.padding, p.input_offset)
            assert L.kernel == g.tensors[op.inputs[1]].shape[1:3]
            n = L.output[2]
            assert mults[L.quant : L.quant + n] == p.multiplier.tolist()
            assert shifts[L.quant : L.quant + n] == p.shift.tolist()
    add = layers[4]
    assert isinstance(add.add, AddParams) and add.input == add.output == (1, 1, 8 * 8 * 8)
    fc = layers[6]
    assert fc.input == (1, 1, 16) and fc.output == (1, 1, 10)
    text = cmsis_nn.render(g, "zoo:tiny_cnn")
    assert text.startswith("/*\n * Generated by kilotrain") and "not timed: op 6 MEAN" in text
    assert text.count("{.op = ") == len(layers) and ".kind = KIND_DEPTHWISE" in text


def test_output_must_cover_every_layer() -> None:
    layers = cmsis_nn.cmsis_layers(load_model("zoo:tiny_cnn", input_size=16))[0]
    lines = [f"{cmsis_nn.LAYER_PREFIX} {L.op} {100 + L.op}" for L in layers]
    total = sum(100 + L.op for L in layers)
    assert cmsis_nn.parse_output("\n".join([*lines, f"{cmsis_nn.TOTAL_PREFIX} {total}"]), layers)[7] == 107
    with pytest.raises(ValueError, match=r"did not report op\(s\) \[7\]"):
        cmsis_nn.parse_output("\n".join([*lines[:-1], f"{cmsis_nn.TOTAL_PREFIX} {total}"]), layers)
    with pytest.raises(ValueError, match="sum to"):
        cmsis_nn.parse_output("\n".join([*lines, f"{cmsis_nn.TOTAL_PREFIX} {total + 1}"]), layers)


def test_bad_checkout_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--models", "tiny", "--cmsis-nn", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: --cmsis-nn ") and "no Include/arm_nnfunctions.h" in err
    assert "\n" not in err
    root = fake_checkout(tmp_path / "partial")
    (root / cmsis_nn.CMSIS_NN_SOURCES[3]).unlink()
    assert cli.main(["bench", "--models", "tiny", "--cmsis-nn", str(root)]) == 2
    assert f"1 source(s) missing, first {cmsis_nn.CMSIS_NN_SOURCES[3]}" in capsys.readouterr().err


def test_report_sets_cmsis_nn_beside_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    device = {"forward_instructions": 1000, "step_instructions": 4000, "peak_sram_bytes": 8, "flash_bytes": 16}
    monkeypatch.setattr(bench, "_device_figures", lambda *a: {**device, "params_sha256": "p"})
    monkeypatch.setattr(bench, "_host_figures", lambda *a: {"step_ms": 0.5, "peak_rss_bytes": 2, "params_sha256": "p"})
    seen: list[Any] = []

    def fake_run(graph: Any, name: str, checkout: Path) -> dict[str, Any]:
        seen.append((name, checkout))
        return {"revision": "abc", "forward_instructions": 2500, "by_kind": {"conv": 2500}, "not_timed": ["op 6 MEAN"]}

    monkeypatch.setattr(bench, "run_cmsis_nn_forward", fake_run)

    def no_torch(*a: Any) -> None:
        raise MissingExtra("no torch here")

    monkeypatch.setattr(bench, "_torch_figures", no_torch)
    root = fake_checkout(tmp_path / "cmsis")
    monkeypatch.setenv(job.CMSIS_NN_ENV, str(root))
    assert cli.main(["bench", "--models", "tiny", "--cmsis-nn", str(root), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)["models"]["tiny"]
    assert rec["forward_speedup_vs_cmsis_nn"] == 2.5 and rec["cmsis_nn"]["revision"] == "abc"
    assert seen == [("zoo:tiny_cnn", root.resolve())]
    assert cli.main(["bench", "--models", "tiny", "--cmsis-nn", str(root)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("tiny_cnn") and "2.50x" in line)
    assert "conv 0.0 M" in row and "op 6 MEAN" in row


@pytest.mark.qemu
def test_program_builds_and_runs_on_the_emulator(tmp_path: Path) -> None:
    g = load_model("zoo:tiny_cnn", input_size=16)
    r = job.run_cmsis_nn_forward(g, "zoo:tiny_cnn", fake_checkout(tmp_path / "cmsis"))
    layers = cmsis_nn.cmsis_layers(g)[0]
    per_op = {int(k): v for k, v in r["per_op"].items()}
    assert sorted(per_op) == [L.op for L in layers] and r["not_timed"] == ["op 6 MEAN"]
    assert r["forward_instructions"] == sum(per_op.values()) == sum(r["by_kind"].values())
    assert r["by_kind"]["add"] == per_op[4] and r["by_kind"]["fully_connected"] == per_op[7]
    # the stand-in stores once per output element: the 8x8x16 outputs cost more than the 8x8x8 ones and the FC's 10
    assert per_op[1] > per_op[3] > per_op[7] > 0


@pytest.mark.qemu
def test_scratch_too_small_names_the_op(tmp_path: Path) -> None:
    greedy = FAKE_KERNELS.replace("return 2 * fd->h * fd->w * fd->c;", "return fd->h == 1 ? 0 : 1 << 20;")
    assert greedy != FAKE_KERNELS
    g = load_model("zoo:tiny_cnn", input_size=16)
    with pytest.raises(job.CmsisNNError, match=r"tiny_cnn failed .*: op 0 needs CMSIS-NN scratch bytes: 1048576$"):
        job.run_cmsis_nn_forward(g, "zoo:tiny_cnn", fake_checkout(tmp_path / "cmsis", greedy))
