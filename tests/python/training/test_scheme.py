"""Sparse-update schemes: presets, JSON files, and one clear error for every bad scheme."""

from __future__ import annotations

import json

import pytest

from kilotrain.model import zoo
from kilotrain.training.scheme import (
    PAPER_MBV2_W035,
    SchemeError,
    SparseScheme,
    classifier_op,
    resolve,
    scheme_layers,
    validate,
)


def test_presets_on_tiny(tiny) -> None:  # type: ignore[no-untyped-def]
    n = len(scheme_layers(tiny))
    assert n == 5
    assert [u.is_classifier for u in validate(resolve("classifier-only", tiny), tiny)] == [True]
    ups = validate(resolve("bias-only", tiny), tiny)
    assert len(ups) == n + 1 and all(u.n_channels == 0 for u in ups[:-1])
    ups = validate(resolve("last-layer", tiny), tiny)
    assert [u.conv_index for u in ups] == [n - 1, None] and ups[0].n_channels == 16


def test_person_detect_classifier_is_not_counted(person_detect) -> None:  # type: ignore[no-untyped-def]
    cls = classifier_op(person_detect)
    assert cls.kind == "CONV_2D" and cls.conv_index == 27
    assert len(scheme_layers(person_detect)) == 27
    with pytest.raises(SchemeError, match="weight layer 27 does not exist"):
        validate(SparseScheme(0, (27,), (1.0,)), person_detect)


@pytest.mark.parametrize("name", list(PAPER_MBV2_W035))
def test_paper_schemes_fit_zoo_mbv2(name: str, mbv2_48) -> None:  # type: ignore[no-untyped-def]
    s = resolve(name)
    ups = validate(s, mbv2_48)
    layers = scheme_layers(mbv2_48)
    assert len(layers) == 52
    # the updated weight layers: first point-wise convs of blocks (or the listed dw/projection)
    nb = PAPER_MBV2_W035[name][0]
    assert sum(1 for u in ups if not u.is_classifier) == nb
    for li, r in zip(s.weight_layers, s.ratios):
        op = layers[li]
        u = next(u for u in ups if u.conv_index == li)
        assert u.n_channels == -(-int(r * 8) * mbv2_48.tensors[op.outputs[0]].shape[-1] // 8)


def test_paper_expand_layers_are_pointwise(mbv2_48) -> None:  # type: ignore[no-untyped-def]
    layers = scheme_layers(mbv2_48)
    for li in (27, 30, 33, 36, 39, 42, 45, 48):
        op = layers[li]
        assert op.kind == "CONV_2D" and mbv2_48.tensors[op.inputs[1]].shape[1:3] == (1, 1) and op.activation == "RELU6"


def test_ratio_zero_is_dropped() -> None:
    s = resolve("49kb")
    assert 40 not in s.weight_layers and s.dropped == (40,)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"n_bias_update": 2, "weight_layers": [9], "ratios": [1]}, "weight layer 9 does not exist"),
        ({"n_bias_update": 2, "weight_layers": [3], "ratios": [0.3]}, "ratio 0.3"),
        ({"n_bias_update": 99, "weight_layers": [], "ratios": []}, "n_bias_update = 99"),
        ({"n_bias_update": 1, "weight_layers": [3, 4], "ratios": [1]}, "2 weight layers but 1 ratios"),
        ({"n_bias_update": -1}, "n_bias_update must be"),
        ({"n_bias_update": 1, "weight_layers": [4], "ratios": [1], "lr": 3}, "unknown key"),
        ({"n_bias_update": 1, "weight_layers": [4, 4], "ratios": [1, 1]}, "listed twice"),
    ],
)
def test_bad_schemes_raise_one_clear_error(spec, match, tiny) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemeError, match=match):
        validate(resolve(spec, tiny), tiny)


def test_json_file_and_bad_file(tmp_path, tiny) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"n_bias_update": 2, "weight_layers": [4], "ratios": [0.5]}))
    ups = validate(resolve(str(f), tiny), tiny)
    assert [u.n_channels for u in ups] == [0, 8, 4]
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(SchemeError, match="not valid JSON"):
        resolve(str(bad), tiny)
    with pytest.raises(SchemeError, match="unknown scheme"):
        resolve("77kb", tiny)


def test_non_trainable_layer_is_named(tiny) -> None:  # type: ignore[no-untyped-def]
    g = zoo.tiny_cnn(16, 4)
    g.ops[1].inputs[2] = -1  # conv layer 1 loses its bias
    with pytest.raises(SchemeError, match=r"conv layer 1 .* not trainable: it has no constant int32 bias"):
        validate(resolve("bias-only", g), g)
    # a scheme that does not touch layer 1 is fine
    validate(resolve("last-layer", g), g)
