"""The host paths (KT_HOST_SIMD: loops laid out for the host compiler's vectoriser) against the
portable loops of a ``-DKT_HOST_SIMD=0`` build of the same kernels, byte for byte and stat for
stat, on the other tests' random cases (wide enough to reach every tile width and tail)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np
from grad_strategies import GRAD_SETTINGS
from hypothesis import given
from kernel_strategies import KERNEL_SETTINGS
from test_conv2d import conv_cases
from test_conv2d_input_grad import cases as input_grad_cases
from test_conv2d_update import cases as update_cases
from test_depthwise_conv2d import dw_cases

from kilotrain.kernels import backward as ckernels_train
from kilotrain.kernels import build as host_lib
from kilotrain.kernels import forward as ckernels


@contextlib.contextmanager
def _portable() -> Iterator[None]:
    """Kernel calls inside go to the -DKT_HOST_SIMD=0 library."""
    with mock.patch.object(host_lib, "load", host_lib.load_portable):
        yield


def _both(f: Callable[[], Any]) -> tuple[Any, Any]:
    """f() with the default library (host paths), then with the portable one."""
    host = f()
    with _portable():
        portable = f()
    return host, portable


def test_the_portable_library_is_a_different_build() -> None:
    assert host_lib.load_portable()._name != host_lib.load()._name


@KERNEL_SETTINGS
@given(case=conv_cases(one_by_one=True))
def test_conv2d_1x1_host_path_equals_portable(case) -> None:
    x, filt, bias, p, _ = case
    host, portable = _both(lambda: ckernels.conv2d_1x1(x, filt, bias, p))
    np.testing.assert_array_equal(host, portable)


@KERNEL_SETTINGS
@given(case=dw_cases())
def test_depthwise_host_path_equals_portable(case) -> None:
    x, filt, bias, p, out_hw = case
    host, portable = _both(lambda: ckernels.depthwise_conv2d(x, filt, bias, p, out_hw))
    np.testing.assert_array_equal(host, portable)


@GRAD_SETTINGS
@given(case=input_grad_cases(pointwise=True))
def test_conv2d_input_grad_host_path_equals_portable(case) -> None:
    gy, filt, p, in_hw, e_gy, e_gx = case
    (gh, sh), (gp, sp) = _both(lambda: ckernels_train.conv2d_input_grad(gy, filt, p, in_hw, e_gy, e_gx))
    np.testing.assert_array_equal(gh, gp)
    assert (sh.saturated, sh.amax) == (sp.saturated, sp.amax)


@GRAD_SETTINGS
@given(case=update_cases(pointwise=True))
def test_conv2d_update_host_path_equals_portable(case) -> None:
    x, gy, filt, bias, p, e_gy, key = case
    (fh, bh), (fp, bp) = _both(lambda: ckernels_train.conv2d_update(x, gy, filt, bias, p, e_gy, key))
    np.testing.assert_array_equal(fh, fp)
    if bias is not None:
        np.testing.assert_array_equal(bh, bp)
