"""Fixtures of the training tests: models and data sets (module-cached, they are read-only)."""

from __future__ import annotations

import functools

import pytest

from kilotrain.data import datasets
from kilotrain.model import zoo
from kilotrain.paths import DataNotFound, data_file


@functools.cache
def _person_detect():  # type: ignore[no-untyped-def]
    from kilotrain.model.tflite import load_tflite

    return load_tflite(data_file("person_detection/person_detect.tflite"))


@pytest.fixture(scope="session")
def person_detect():  # type: ignore[no-untyped-def]
    try:
        return _person_detect()
    except DataNotFound as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def lfw_pd(person_detect):  # type: ignore[no-untyped-def]
    return datasets.load("lfw", person_detect.input, seed=0)


@pytest.fixture(scope="session")
def tiny():  # type: ignore[no-untyped-def]
    return zoo.tiny_cnn(16, 4)


@pytest.fixture(scope="session")
def digits_tiny(tiny):  # type: ignore[no-untyped-def]
    pytest.importorskip("sklearn")
    return datasets.load("digits", tiny.input, seed=0, num_classes=4)


@pytest.fixture(scope="session")
def mbv2_48():  # type: ignore[no-untyped-def]
    return zoo.mobilenet_v2(0.35, 48, 10)
