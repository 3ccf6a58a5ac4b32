"""Which frozen convolutions the training code generator packs (kt_conv2d_packed_s8), and the flash
that costs: a filter the backward pass reads as int8 is packed only when its table is small."""

from __future__ import annotations

import re

import pytest

from kilotrain.codegen.emit import PACK_SHARED_MAX_BYTES
from kilotrain.codegen.train import render_train
from kilotrain.device import memory
from kilotrain.kernels.packed import packed_bytes, why_not_packed
from kilotrain.model.load import load_model
from kilotrain.paths import REPO_ROOT
from kilotrain.training.plan import build_plan

PERSON = REPO_ROOT / "tests" / "data" / "person_detection" / "person_detect.tflite"
PERSON_SCHEME = PERSON.parent / "scheme_sparse.json"


def test_mobilenet_v2_packs_its_prefix_and_keeps_no_large_filter_twice() -> None:
    g = load_model("zoo:mbv2-w0.35", 2, 128)
    src = render_train(build_plan(g, "99kb", 0.05), "mbv2.tflite")
    packed = {int(t) for t in re.findall(r"\bkt_t(\d+)_packed\[", src.text)}
    int8 = {int(t) for t in re.findall(r"\bkt_t(\d+)\[", src.text)}
    # every convolution of the row-streamed prefix the packer takes runs packed
    assert src.fused is not None
    prefix = [g.ops[pos] for pos in range(src.fused.first, src.fused.last + 1) if g.ops[pos].kind == "CONV_2D"]
    takes = {op.inputs[1] for op in prefix if why_not_packed(g.tensors[op.inputs[1]].shape, op.params) is None}
    assert len(takes) >= 10 and takes <= packed
    for t in packed & int8:  # in flash twice: only small tables
        assert packed_bytes(g.tensors[t].shape) <= PACK_SHARED_MAX_BYTES
    last = [op for op in g.ops if op.kind == "CONV_2D"][-1]  # 112 -> 1,280 channels, bias trained
    assert last.inputs[1] in int8 and last.inputs[1] not in packed  # its table would be 312 KB


def test_a_board_with_less_flash_gets_the_unpacked_image() -> None:
    """render_for_board: packed where the flash holds it, unpacked where only that fits, and the
    packed image (check_fits then says why) where neither does; --no-pack never packs."""
    g = load_model(PERSON)
    plan = build_plan(g, str(PERSON_SCHEME), 0.05)
    packed = memory.sram_budget(plan, render_train(plan, "p.tflite"))
    plain = memory.sram_budget(plan, render_train(plan, "p.tflite", pack=False))
    assert plain.flash < packed.flash

    def board(flash: int) -> memory.BoardMemory:
        return memory.BoardMemory("test", 320 * 1024, flash)

    code, budget = memory.render_for_board(plan, "p.tflite", board(packed.flash))
    assert code.packed_layers > 0 and budget.flash == packed.flash
    code, budget = memory.render_for_board(plan, "p.tflite", board(packed.flash - 1))
    assert code.packed_layers == 0 and budget.flash == plain.flash
    code, budget = memory.render_for_board(plan, "p.tflite", board(plain.flash - 1))
    assert code.packed_layers > 0
    with pytest.raises(memory.DoesNotFit, match="flash"):
        memory.check_fits(plan, budget, board(plain.flash - 1))
    code, _ = memory.render_for_board(plan, "p.tflite", board(packed.flash), pack=False)
    assert code.packed_layers == 0
