"""Which frozen convolutions the training code generator packs (kt_conv2d_packed_s8), and the flash
that costs: a filter the backward pass reads as int8 is packed only when its table is small."""

from __future__ import annotations

import re

from kilotrain.codegen.emit import PACK_SHARED_MAX_BYTES
from kilotrain.codegen.train import render_train
from kilotrain.kernels.packed import packed_k, record_words, why_not_packed
from kilotrain.model.load import load_model
from kilotrain.training.plan import build_plan


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
        shape = g.tensors[t].shape
        assert record_words(packed_k(shape)) * 4 * shape[0] <= PACK_SHARED_MAX_BYTES
    last = [op for op in g.ops if op.kind == "CONV_2D"][-1]  # 112 -> 1,280 channels, bias trained
    assert last.inputs[1] in int8 and last.inputs[1] not in packed  # its table would be 312 KB
