"""``kilotrain train``: train a model on a data set with the integer training step (or its float
reference), report loss / accuracy before and after on the test split and the trained
parameters' SHA-256.

    kilotrain train MODEL --dataset NAME --scheme SCHEME --steps N --seed S
                    [--engine golden|c|qemu] [--lr LR] [--mode int8|int8-noqas|fp32]
                    [--rounding stochastic|nearest] [--json]

MODEL is a ``.tflite`` path or a zoo name: ``zoo:tiny_cnn``, ``zoo:mbv2-w0.35``,
``zoo:proxyless-w0.3`` (``--input-size`` sets a zoo model's resolution; its class count follows
the data set). ``--mode fp32`` trains the float reference of the same graph and layers
(:mod:`kilotrain.training.float_reference`); ``int8-noqas`` is the integer step without QAS.
``--rounding`` picks the int8 weight update's rounding (stochastic by default, or to nearest).
Steps walk the training split in a seeded order, reshuffled every epoch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Any

import numpy as np

ZOO = ("tiny_cnn", "mbv2-w0.35", "proxyless-w0.3")
MODES = ("int8", "int8-noqas", "fp32")


def load_model(spec: str, num_classes: int | None = None, input_size: int | None = None, seed: int = 0) -> Any:
    """A Graph from a .tflite path or ``zoo:NAME``."""
    from kilotrain.model import zoo
    from kilotrain.model.ir import ModelError

    if spec.startswith("zoo:"):
        name = spec[4:]
        nc = num_classes or 10
        if name == "tiny_cnn":
            return zoo.tiny_cnn(input_size or 16, nc, seed=seed)
        if name in ("mbv2-w0.35", "mbv2"):
            return zoo.mobilenet_v2(0.35, input_size or 128, nc, seed=seed)
        if name in ("proxyless-w0.3", "proxyless"):
            return zoo.proxyless_nas(0.3, input_size or 128, nc, seed=seed)
        raise ModelError(f"unknown zoo model {name!r}; known: {', '.join('zoo:' + z for z in ZOO)}")
    from kilotrain.model.tflite import load_tflite

    return load_tflite(spec)


def new_head(graph: Any, num_classes: int, calib_x: np.ndarray, seed: int = 0) -> Any:
    """A copy of ``graph`` whose classifier is replaced by a fresh ``num_classes``-way one
    (transfer learning on a pretrained backbone): same kind (FC or 1x1 conv) and input, seeded
    He-normal weights quantized per channel, zero bias, the logits' scale calibrated on the float
    logits of ``calib_x`` (int8 inputs); the RESHAPE/SOFTMAX after it are resized."""
    import copy

    from kilotrain.model.ir import Tensor
    from kilotrain.model.params import ConvParams, FullyConnectedParams
    from kilotrain.model.quantize import (
        conv_multipliers,
        fc_multipliers,
        softmax_params,
    )
    from kilotrain.reference import executor
    from kilotrain.training.scheme import classifier_op

    g = copy.deepcopy(graph)
    cls = classifier_op(g)
    xt = g.tensors[cls.inputs[0]]
    cin = xt.shape[-1]
    rng = np.random.default_rng(seed)
    wf = rng.normal(0.0, np.sqrt(2.0 / cin), (num_classes, cin))
    feats = []
    for x in calib_x:
        _, env = executor.run(graph, x, return_all=True)
        feats.append((env[cls.inputs[0]].astype(np.float64).reshape(-1, cin) - xt.zp) * xt.s)
    zf = np.concatenate(feats) @ wf.T
    lo, hi = min(float(zf.min()), 0.0), max(float(zf.max()), 0.0)
    s_z = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(np.round(-128 - lo / s_z), -128, 127))
    amax = np.maximum(np.abs(wf).max(axis=1), 1e-12)
    sw = (amax / 127.0).astype(np.float32)
    wq = np.clip(np.round(wf / sw.astype(np.float64)[:, None]), -127, 127).astype(np.int8)
    wt, bt, yt = g.tensors[cls.inputs[1]], g.tensors[cls.inputs[2]], g.tensors[cls.outputs[0]]
    wshape = (num_classes,) + tuple(wt.shape[1:])
    g.tensors[cls.inputs[1]] = Tensor(wt.name, wshape, "int8", sw, np.zeros(num_classes, np.int64), 0, wq.reshape(wshape))
    g.tensors[cls.inputs[2]] = Tensor(bt.name, (num_classes,), "int32", (xt.s * sw).astype(np.float32), np.zeros(num_classes, np.int64), 0, np.zeros(num_classes, np.int32))
    g.tensors[cls.outputs[0]] = Tensor(yt.name, tuple(yt.shape[:-1]) + (num_classes,), "int8", np.array([s_z], np.float32), np.array([zp], np.int64))
    if cls.kind == "FULLY_CONNECTED":
        m, sh = fc_multipliers(xt.s, sw, s_z)
        cls.params = FullyConnectedParams(input_offset=-xt.zp, output_offset=zp, multiplier=m, shift=sh)
    else:
        m, sh = conv_multipliers(xt.s, sw, s_z, num_classes)
        p = cls.params
        cls.params = ConvParams(p.stride, p.padding, p.dilation, -xt.zp, zp, m, sh, -128, 127)
        cls.activation = "NONE"
    producer = {o: op for op in g.ops for o in op.outputs}
    for op in g.ops:
        if op.kind in ("RESHAPE", "SOFTMAX") and producer.get(op.inputs[0]) is not None:
            src = g.tensors[op.inputs[0]]
            t = g.tensors[op.outputs[0]]
            if int(np.prod(t.shape)) != int(np.prod(src.shape)):
                g.tensors[op.outputs[0]] = Tensor(t.name, tuple(t.shape[:-1]) + (num_classes,), t.dtype, t.scale, t.zero_point, t.quantized_dimension)
            if op.kind == "RESHAPE":
                op.params = type(op.params)(shape=g.tensors[op.outputs[0]].shape)
            else:
                g.tensors[op.outputs[0]] = Tensor(t.name, g.tensors[op.inputs[0]].shape, t.dtype, t.scale, t.zero_point)
                op.params = softmax_params(g.tensors[op.inputs[0]].s)
    g.name = f"{graph.name}+head{num_classes}"
    return g


def run_training(
    model: str,
    dataset: str,
    scheme: str,
    steps: int,
    seed: int = 0,
    lr: float = 0.01,
    engine: str = "golden",
    mode: str = "int8",
    input_size: int | None = None,
    limit: int | None = None,
    eval_limit: int | None = None,
    progress: bool = False,
    graph: Any = None,
    data: Any = None,
    head: int | None = None,
    rounding: str = "stochastic",
) -> dict[str, Any]:
    """Train and evaluate; returns the report dict the CLI prints (see docs/training.md)."""
    from kilotrain.data import datasets
    from kilotrain.training import plan as train_plan
    from kilotrain.training import step as train_golden
    from kilotrain.training.float_reference import FloatTrainer
    from kilotrain.training.scheme import classifier_op

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use {', '.join(MODES)}")
    if engine not in ("golden", "c", "qemu"):
        raise ValueError(f"unknown engine {engine!r}; use golden, c or qemu")
    if engine == "qemu" and mode == "fp32":
        raise ValueError("--engine qemu runs the integer step; --mode fp32 is the float reference (golden engine only)")
    if steps < 0:
        raise ValueError(f"--steps must be >= 0; got {steps}")
    if not lr > 0:
        raise ValueError(f"--lr must be > 0; got {lr}")
    if graph is None:
        ncls = None
        if model.startswith("zoo:"):
            ncls = {"mnist5k": 10, "digits": 10, "lfw": 2}.get(dataset)
            if ncls is None:
                raise datasets.DatasetError(f"unknown data set {dataset!r}; known: {', '.join(datasets.DATASETS)}")
        graph = load_model(model, ncls, input_size, seed=0)
    if head is not None:
        if data is None:
            data = datasets.load(dataset, graph.input, seed=seed, limit=limit, progress=progress)
        graph = new_head(graph, max(head, data.num_classes), data.x_train[:16], seed=0)
    cls = classifier_op(graph)
    n_out = int(graph.tensors[cls.outputs[0]].shape[-1])
    if data is None:
        data = datasets.load(dataset, graph.input, seed=seed, limit=limit, num_classes=n_out if n_out < 10 and dataset != "lfw" else None, progress=progress)
    if data.num_classes > n_out:
        raise ValueError(f"data set {dataset!r} has {data.num_classes} classes but the model outputs {n_out}")
    xt, yt = data.x_test, data.y_test
    if eval_limit is not None:
        xt, yt = xt[:eval_limit], yt[:eval_limit]
    calib = [(data.x_train[i], int(data.y_train[i])) for i in range(min(8, len(data.y_train)))]
    plan = train_plan.build_plan(graph, scheme, lr, qas=(mode != "int8-noqas"), calib=calib, rounding=rounding)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < steps:
        order.extend(rng.permutation(len(data.y_train)).tolist())
    order = order[:steps]
    t0 = time.time()
    fwd: Any
    bwd: Any
    if mode == "fp32":
        ft = FloatTrainer.create(graph, plan.scheme)
        loss0, acc0 = ft.evaluate(xt, yt)
    else:
        from kilotrain import reference as golden

        fwd, bwd = golden, train_golden.GOLDEN_BACKWARD
        if engine == "c":
            try:
                from kilotrain.kernels import backward as ckernels_train
                from kilotrain.kernels import forward as ckernels
            except ImportError as e:
                raise NotImplementedError(f"--engine c needs kilotrain.kernels.backward (the C backward kernels via ctypes): {e}") from None
            fwd, bwd = ckernels, train_golden.backward_namespace(ckernels_train)
        state = train_golden.init_state(plan)
        loss0, acc0 = train_golden.evaluate(plan, state, xt, yt, fwd)
    device: dict[str, Any] = {}
    if engine == "qemu" and mode != "fp32":
        from kilotrain.device.boards import QemuBoard
        from kilotrain.device.train_client import TrainClient, build_with_training

        image = build_with_training(plan, f"{graph.name or 'model'}.tflite")
        board = QemuBoard(image.elf)  # -icount: the device reports instructions per step
        client = TrainClient(board.device)
        per_tick = board.device.info().instructions_per_tick
        device = {"flash_bytes": image.flash_bytes, "static_sram_bytes": image.static_sram_bytes,
                  "arena_bytes": image.generated.memory.arena_size, "instructions": []}
    it: Any = order
    if progress:
        from tqdm import tqdm

        it = tqdm(order, desc=f"training {mode}", unit="step")
    losses: list[float] = []
    correct = 0
    sat = 0
    for i in it:
        x, y = data.x_train[i], int(data.y_train[i])
        if mode == "fp32":
            loss, ok = ft.step(x, y, lr)
        elif device:
            d = client.step(x, y)
            loss, ok = train_golden.loss_from_q15(d.p_label), d.prediction == y
            sat += d.saturations
            device["instructions"].append(d.ticks * per_tick)
            device["stack_high_water_bytes"] = d.stack_high_water
        else:
            r = train_golden.step(plan, state, x, y, fwd=fwd, bwd=bwd)
            loss, ok = r.loss, r.correct
            sat += r.saturations
        losses.append(loss)
        correct += int(ok)
    if mode == "fp32":
        loss1, acc1 = ft.evaluate(xt, yt)
        sha = None
    elif device:
        from kilotrain.device.train_client import state_from_params

        blob = client.params()
        board.close()
        state = state_from_params(plan, blob)  # evaluate what the device learned
        loss1, acc1 = train_golden.evaluate(plan, state, xt, yt, fwd)
        sha = hashlib.sha256(blob).hexdigest()
        ins = device.pop("instructions")
        device.update(instructions_per_step_mean=int(np.mean(ins)) if ins else 0,
                      instructions_per_step_max=int(max(ins)) if ins else 0)
        device["peak_sram_bytes"] = device["static_sram_bytes"] + device.get("stack_high_water_bytes", 0)
    else:
        loss1, acc1 = train_golden.evaluate(plan, state, xt, yt, fwd)
        sha = train_golden.params_sha256(state)
    tail = losses[-min(len(losses), max(1, len(data.y_train))):] if losses else []
    return {
        "model": graph.name or str(model),
        "dataset": dataset,
        "scheme": plan.scheme.name,
        "mode": mode,
        "rounding": rounding if mode != "fp32" else None,
        "engine": engine if mode != "fp32" else "float",
        "steps": steps,
        "seed": seed,
        "lr": lr,
        "train_size": int(len(data.y_train)),
        "test_size": int(len(yt)),
        "test_loss_before": round(loss0, 4),
        "test_acc_before": round(acc0, 4),
        "test_loss_after": round(loss1, 4),
        "test_acc_after": round(acc1, 4),
        "train_loss_last_epoch": round(float(np.mean(tail)), 4) if tail else None,
        "train_acc_running": round(correct / max(steps, 1), 4),
        "gradient_saturations": sat,
        "memory": plan.memory.as_dict(),
        "params_sha256": sha,
        "seconds": round(time.time() - t0, 1),
        **({"device": device} if device else {}),
    }


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        r = run_training(
            args.model, args.dataset, args.scheme, args.steps, args.seed, args.lr, args.engine, args.mode,
            args.input_size, args.limit, None, progress=not args.json, head=args.new_head,
            rounding=args.rounding,
        )
    except NotImplementedError as e:
        print(f"kilotrain train: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        print(f"kilotrain train: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['model']} on {r['dataset']} ({r['train_size']} train / {r['test_size']} test), scheme {r['scheme']}, "
          f"{r['mode']}{'' if r['rounding'] is None else ', ' + r['rounding'] + ' rounding'} ({r['engine']}), {r['steps']} steps, lr {r['lr']}, seed {r['seed']}")
    print(f"  test loss {r['test_loss_before']:.4f} -> {r['test_loss_after']:.4f}   "
          f"accuracy {100 * r['test_acc_before']:.1f}% -> {100 * r['test_acc_after']:.1f}%")
    print(f"  train loss (last epoch) {r['train_loss_last_epoch']}, gradient saturations {r['gradient_saturations']}, "
          f"training memory {r['memory']['total']} B, {r['seconds']} s")
    if "device" in r:
        d = r["device"]
        print(f"  on the device: {d['instructions_per_step_mean']:,} instructions/step (mean), peak SRAM "
              f"{d['peak_sram_bytes']:,} B (static {d['static_sram_bytes']:,} incl. arena {d['arena_bytes']:,}, "
              f"stack {d.get('stack_high_water_bytes', 0):,}), flash {d['flash_bytes']:,} B")
    if r["params_sha256"]:
        print(f"  params_sha256 {r['params_sha256']}")
    return 0


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kilotrain train`` on an argparse subparsers object."""
    p = subparsers.add_parser("train", help="train a model on a data set (golden integer step or float reference)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .tflite file or zoo:tiny_cnn | zoo:mbv2-w0.35 | zoo:proxyless-w0.3")
    p.add_argument("--dataset", required=True, help="mnist5k | digits | lfw")
    p.add_argument("--scheme", default="last-layer", help="classifier-only | bias-only | last-layer | 49kb | 73kb | 99kb | 123kb | 138kb | a .json file")
    p.add_argument("--steps", type=int, default=100, help="training steps (batch 1)")
    p.add_argument("--seed", type=int, default=0, help="split and order seed")
    p.add_argument("--engine", choices=("golden", "c", "qemu"), default="golden")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate in real units (QAS)")
    p.add_argument("--mode", choices=MODES, default="int8", help="int8 (QAS), int8-noqas, or fp32 (float reference)")
    p.add_argument("--rounding", choices=("stochastic", "nearest"), default="stochastic",
                   help="int8 weight update rounding (default stochastic)")
    p.add_argument("--input-size", type=int, default=None, help="zoo models: input resolution")
    p.add_argument("--limit", type=int, default=None, help="use at most this many images of the data set")
    p.add_argument("--new-head", type=int, default=None, metavar="N",
                   help="replace the classifier by a fresh N-way one (N >= the data set's classes): transfer learning")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m kilotrain.cli.train``) until cli.py wires the subcommand."""
    ap = argparse.ArgumentParser(prog="kilotrain")
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_train_parser(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
