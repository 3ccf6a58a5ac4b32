"""The compile-time training plan: structure on person_detect and the zoo models, overflow
refusals, memory estimate."""

from __future__ import annotations

import numpy as np
import pytest

from kilotrain.model import zoo
from kilotrain.reference import grad_params as gp
from kilotrain.training.plan import PlanError, build_plan, structure
from kilotrain.training.scheme import SparseScheme


def test_person_detect_last_layer_plan(person_detect) -> None:  # type: ignore[no-untyped-def]
    g = person_detect
    plan = build_plan(g, "last-layer", 0.01)
    # logits = the SOFTMAX input (the RESHAPE output); the softmax itself is not run
    assert g.ops[plan.forward_ops[-1]].kind == "RESHAPE" and plan.logits == g.ops[-1].inputs[0]
    assert [s.kind for s in plan.steps] == ["RESHAPE", "CONV_2D", "AVERAGE_POOL_2D", "CONV_2D"]
    assert plan.steps[-1].gx == [] and plan.steps[-1].update is not None  # backprop stops at conv 26
    assert isinstance(plan.steps[2].grad_params, gp.PoolGradParams)
    # saved: the classifier's and conv 26's inputs; one mask (conv 26 is RELU6, classifier NONE)
    assert len(plan.saved_tensors) == 2 and len(plan.masks) == 1 and plan.masks[0].params.relu6
    assert (
        plan.grads[plan.steps[0].gx[0]].exp_slot == plan.grads[plan.steps[0].gy].exp_slot
    )  # RESHAPE keeps the exponent
    m = plan.memory
    assert m.saved_activations == 256 + 3 * 3 * 256
    assert m.masks == (3 * 3 * 256) // 8
    assert m.trainable_weights == 2 * 256 + 256 * 256 and m.trainable_biases == 4 * (2 + 256)
    assert m.total == sum(v for k, v in m.as_dict().items() if k not in ("total", "classifier_part"))
    assert m.classifier == 2 * 4 + 2 * 256 + 256
    assert all(-24 <= e <= 8 for e in plan.e0) and plan.e0[0] in (-6, -7)


def test_bias_only_person_detect_walks_to_the_stem(person_detect) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(person_detect, "bias-only", 0.01)
    convs = [s for s in plan.steps if s.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) == 28 and convs[-1].gx == []
    assert convs[0].update.n_weight_channels == 2  # the classifier
    assert all(s.update is not None and s.update.n_weight_channels == 0 for s in convs[1:])
    assert plan.saved_tensors == [person_detect.ops[-3].inputs[0]]  # only the classifier's input
    assert len(plan.masks) == 27


def test_mbv2_99kb_plan_fanout_and_order(mbv2_48) -> None:  # type: ignore[no-untyped-def]
    g = mbv2_48
    plan = build_plan(g, "99kb", 0.01)
    st = plan.structure
    pos_of = {op.conv_index: i for i, op in enumerate(g.ops) if op.conv_index is not None}
    assert st.first == pos_of[52 - 25]  # n_bias_update = 25 -> conv 27 is the earliest
    sums = [s for s in plan.steps if s.kind == "GRAD_SUM"]
    assert len(sums) == sum(1 for t, c in st.contributors.items() if len(c) == 2) > 0
    # every gradient is produced before it is read
    made = {plan.logits_grad}
    for s in plan.steps:
        reads = ([s.gy] if s.gy is not None else []) + s.sum_inputs
        assert all(r in made for r in reads), s
        made.update(s.gx)
    # weight layers save their input; ratio 1/8 of 336 channels = 42
    upd = {
        s.update_info.conv_index: s.update.n_weight_channels
        for s in plan.steps
        if s.update is not None and s.update_info.conv_index is not None
    }
    assert upd[42] == 42 and upd[45] == 168 and upd[48] == 336 and upd[28] == 0
    assert plan.memory.total > 0


def test_proxyless_plan_builds() -> None:
    g = zoo.proxyless_nas(0.3, 48, 10)
    plan = build_plan(g, SparseScheme(12, (57,), (1.0,)), 0.01)
    assert plan.steps and plan.memory.total > 0


def test_overflow_bound_is_refused(tiny) -> None:  # type: ignore[no-untyped-def]
    # a huge learning rate overflows the update's multiplier range
    with pytest.raises(PlanError, match=r"op .*"):
        build_plan(tiny, "last-layer", 1e30)


def test_unsupported_backward_op_is_refused(tiny) -> None:  # type: ignore[no-untyped-def]
    import copy

    g = copy.deepcopy(tiny)
    add = next(op for op in g.ops if op.kind == "ADD")
    add.kind = "SOFTMAX"  # not differentiable in the integer contract
    with pytest.raises(PlanError, match="no integer backward"):
        structure(g, "bias-only")


def test_fused_activations_come_from_the_table() -> None:
    """The table (model/ops.py) says which fused activations pass a gradient: an ADD with a ReLU
    gets a mask like a convolution; one the table does not list is refused in one line naming the
    op, the activation and what the table has."""
    import copy

    from kilotrain.model import ops, zoo

    graph = zoo.resnet8(16, 10)
    plan = build_plan(graph, "bias-only", 0.01)
    adds = [s for s in plan.steps if s.kind == "ADD"]
    assert len(adds) == 3 and all(s.mask is not None for s in adds)
    assert ops.OPS["ADD"].activations == frozenset(("NONE", "RELU", "RELU6"))
    g = copy.deepcopy(graph)
    add = next(op for op in g.ops if op.kind == "ADD")
    add.activation = "RELU_N1_TO_1"
    with pytest.raises(PlanError) as e:
        build_plan(g, "bias-only", 0.01)
    msg = str(e.value)
    assert msg.startswith(
        f"op {add.index} (ADD): fused activation RELU_N1_TO_1 has no integer backward (NONE, RELU, RELU6)"
    )
    assert "\n" not in msg


def test_initial_exponents_follow_the_rule(tiny) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(tiny, "bias-only", 0.01)
    for e, a in zip(plan.e0, plan.calib_amax):
        if a > 0:
            assert e == min(max(int(np.ceil(np.log2(a / 100))), -24), 8)


def test_each_engine_trains_exactly_what_the_table_says() -> None:
    """One capability table (model/ops.py): the example graph puts every op kind with a backward on
    the backward path, and each engine's plan passes a gradient through exactly the kinds the
    table gives it (a kind added to the table with a backward fails this until the example has
    it). An op the table gives no backward is refused by every engine's plan and by the training
    code generator, in one line naming the op and the fix."""
    import copy

    from kilotrain.codegen.train import render_train
    from kilotrain.model import ops
    from kilotrain.model.ir import Op, Tensor
    from kilotrain.model.params import SoftmaxParams
    from kilotrain.training.examples import every_op_graph

    g = every_op_graph()
    for engine in ops.ENGINES:
        plan = build_plan(g, "bias-only", 0.01, engine=engine)
        assert {s.kind for s in plan.steps} - {"GRAD_SUM"} == set(ops.backward_kinds(engine)), engine
    assert [k for k, o in ops.OPS.items() if not o.backward] == ["SOFTMAX"]
    # a SOFTMAX between the ADD and the conv after it (int8 in, int8 out, same shape)
    bad = copy.deepcopy(g)
    pos = next(i for i, op in enumerate(bad.ops) if op.kind == "ADD")
    src = bad.tensors[bad.ops[pos].outputs[0]]
    bad.tensors.append(Tensor("soft", src.shape, "int8", src.scale, src.zero_point))
    t = len(bad.tensors) - 1
    nxt = bad.ops[pos + 1]
    bad.ops.insert(pos + 1, Op("SOFTMAX", [nxt.inputs[0]], [t], SoftmaxParams(1 << 30, 20, -1000), index=99))
    nxt.inputs[0] = t
    for engine in ops.ENGINES:
        with pytest.raises(PlanError, match=rf"op 99 \(SOFTMAX\) .* the {engine} engine has no integer backward") as e:
            build_plan(bad, "bias-only", 0.01, engine=engine)
        assert "\n" not in str(e.value) and "change the scheme so backprop stops above it" in str(e.value)
    # a scheme whose backprop stops above it trains; the generator refuses a plan that does not
    plan = build_plan(bad, "last-layer", 0.01, engine="qemu")
    plan.steps.append(plan.steps[-1].__class__(pos + 1, "SOFTMAX", plan.steps[-1].gy))
    with pytest.raises(PlanError, match=r"op 99 \(SOFTMAX\) .* qemu engine"):
        render_train(plan, "bad.tflite")
