"""A model at another input resolution (kilotrain.model.resize): the zoo, which builds each size
natively, gives the shapes and paddings to match; the ImageNet MobileNetV2 keeps its output at
its own size and its top classes at a smaller one; the C kernels agree with golden on it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilotrain import paths
from kilotrain.data import images
from kilotrain.kernels import forward
from kilotrain.model import zoo
from kilotrain.model.ir import ModelError
from kilotrain.model.load import load_model
from kilotrain.model.resize import with_input_size
from kilotrain.reference import executor

MOBILENET = "mobilenet_v2_imagenet/mobilenet_v2_quantized_1x3x224x224.tflite"
BASE = zoo.mobilenet_v2(0.35, 96, 10, seed=0)


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=9, max_value=140))
def test_shapes_and_paddings_match_the_zoo_built_at_that_size(size: int) -> None:
    got = with_input_size(BASE, size)
    want = zoo.mobilenet_v2(0.35, size, 10, seed=0)
    assert [t.shape for t in got.tensors] == [t.shape for t in want.tensors]
    for a, b in zip(got.ops, want.ops):
        assert getattr(a.params, "padding", None) == getattr(b.params, "padding", None), (size, a)
    consts = [(a.data, b.data) for a, b in zip(got.tensors, BASE.tensors) if b.data is not None]
    assert consts and all(np.array_equal(a, b) for a, b in consts)  # the same weights


def _imagenet(size: int | None = None):  # type: ignore[no-untyped-def]
    try:
        return load_model(paths.data_file(MOBILENET), input_size=size)
    except paths.DataNotFound as e:
        pytest.skip(str(e))


def test_the_imagenet_model_at_other_sizes() -> None:
    skimage = pytest.importorskip("skimage.data")
    full = _imagenet()
    same = with_input_size(full, 224)
    x = images.load_input(skimage.chelsea(), full.input)
    assert np.array_equal(executor.run(full, x)[0], executor.run(same, x)[0])
    small = _imagenet(128)
    assert small.input.shape == (1, 3, 128, 128) and small.output.shape == full.output.shape
    xs = images.load_input(skimage.chelsea(), small.input)
    top5 = np.argsort(-executor.run(small, xs)[0].astype(int))[:5]
    assert {281, 282, 285} & set(top5.tolist())  # tabby, tiger or Egyptian cat
    assert np.array_equal(executor.run(small, xs, forward)[0], executor.run(small, xs)[0])


def test_what_cannot_be_resized_is_one_line() -> None:
    with pytest.raises(ModelError, match="input size must be >= 1"):
        with_input_size(BASE, 0)
    g = copy.deepcopy(BASE)
    g.ops[3].kind = "LOGISTIC"
    with pytest.raises(ModelError, match=r"cannot change the input size through LOGISTIC \(op #"):
        with_input_size(g, 64)
