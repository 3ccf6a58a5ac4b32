"""The C parameter records, once: ctypes mirrors of the structs in include/*.h (field for field,
in order), used both to call the kernels on the host (:mod:`kilotrain.kernels.forward`,
:mod:`kilotrain.kernels.backward`) and to emit the generated C's designated initialisers
(:func:`initializer`, used by :mod:`kilotrain.codegen`). tests/python/architecture/test_contract.py
parses the headers and fails when a mirror and its C struct differ in any field name or order."""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from ctypes import POINTER, Structure, c_char_p, c_int8, c_int32, c_uint16, c_uint32, c_uint64, c_void_p
from typing import Any

from kilotrain.contract import MAX_RANK


class Dims(Structure):
    _fields_ = [("n", c_int32), ("h", c_int32), ("w", c_int32), ("c", c_int32)]


class Tile(Structure):
    _fields_ = [("h", c_int32), ("w", c_int32)]


class Activation(Structure):
    _fields_ = [("min", c_int32), ("max", c_int32)]


class PerChannelQuant(Structure):
    _fields_ = [("multiplier", POINTER(c_int32)), ("shift", POINTER(c_int32))]


class SplitFilterC(Structure):
    _fields_ = [("head", POINTER(c_int8)), ("tail", POINTER(c_int8)), ("split", c_int32)]


class PackedFilterC(Structure):
    _fields_ = [("records", POINTER(c_int32)), ("k", c_int32)]


class ConvParamsC(Structure):
    _fields_ = [
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("input_offset", c_int32),
        ("output_offset", c_int32),
        ("activation", Activation),
    ]


class DwConvParamsC(Structure):
    _fields_ = [
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("depth_multiplier", c_int32),
        ("input_offset", c_int32),
        ("output_offset", c_int32),
        ("activation", Activation),
    ]


class FcParamsC(Structure):
    _fields_ = [
        ("input_offset", c_int32),
        ("output_offset", c_int32),
        ("per_channel", c_int32),
        ("activation", Activation),
    ]


class AddParamsC(Structure):
    _fields_ = [
        ("input1_offset", c_int32),
        ("input2_offset", c_int32),
        ("output_offset", c_int32),
        ("left_shift", c_int32),
        ("input1_multiplier", c_int32),
        ("input1_shift", c_int32),
        ("input2_multiplier", c_int32),
        ("input2_shift", c_int32),
        ("output_multiplier", c_int32),
        ("output_shift", c_int32),
        ("activation", Activation),
    ]


class PoolParamsC(Structure):
    _fields_ = [("filter", Tile), ("stride", Tile), ("padding", Tile), ("activation", Activation)]


class MeanParamsC(Structure):
    _fields_ = [
        ("input_offset", c_int32),
        ("output_offset", c_int32),
        ("multiplier", c_int32),
        ("shift", c_int32),
    ]


class PadParamsC(Structure):
    _fields_ = [
        ("rank", c_int32),
        ("before", c_int32 * MAX_RANK),
        ("after", c_int32 * MAX_RANK),
        ("pad_value", c_int32),
    ]


class TransposeParamsC(Structure):
    _fields_ = [("rank", c_int32), ("perm", c_int32 * MAX_RANK)]


class SoftmaxParamsC(Structure):
    _fields_ = [
        ("input_multiplier", c_int32),
        ("input_left_shift", c_int32),
        ("diff_min", c_int32),
    ]


class GradStatsC(Structure):
    _fields_ = [("saturated", c_int32), ("amax", c_int32)]


class ConvGradParamsC(Structure):
    _fields_ = [
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("chan", PerChannelQuant),
        ("headroom", c_int32),
        ("x_multiplier", c_int32),
        ("x_shift", c_int32),
    ]


class DwConvGradParamsC(Structure):
    _fields_ = [
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("depth_multiplier", c_int32),
        ("chan", PerChannelQuant),
        ("headroom", c_int32),
        ("x_multiplier", c_int32),
        ("x_shift", c_int32),
    ]


class FcGradParamsC(Structure):
    _fields_ = [
        ("chan", PerChannelQuant),
        ("headroom", c_int32),
        ("x_multiplier", c_int32),
        ("x_shift", c_int32),
    ]


class UpdateParamsC(Structure):
    _fields_ = [
        ("n_weight_channels", c_int32),
        ("weight", PerChannelQuant),
        ("bias", PerChannelQuant),
        ("input_zero_point", c_int32),
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("depth_multiplier", c_int32),
        ("stochastic", c_int32),
    ]


class ReluMaskParamsC(Structure):
    _fields_ = [("act_min", c_int32), ("act_max", c_int32), ("relu6", c_int32)]


class PoolGradParamsC(Structure):
    _fields_ = [
        ("filter", Tile),
        ("stride", Tile),
        ("count_multiplier", c_int32),
        ("count_shift", c_int32),
    ]


class SoftmaxCeParamsC(Structure):
    _fields_ = [("exp_table", POINTER(c_uint16))]


class TrainResultC(Structure):
    _fields_ = [("status", c_int32), ("p_label_q15", c_uint32), ("predicted", c_int32), ("saturated", c_uint32)]


class TrainSegmentC(Structure):
    _fields_ = [("data", c_void_p), ("size", c_uint32)]


class ModelDescC(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("arena_size", c_uint32),
        ("input_size", c_uint32),
        ("output_size", c_uint32),
        ("op_count", c_uint32),
        ("model_digest", c_uint64),
        ("train_digest", c_uint64),
        ("input_height", c_uint32),
        ("input_width", c_uint32),
        ("input_channels", c_uint32),
        ("input_zero_point", c_int32),
        ("input_scale_f32", c_uint32),
        ("classes", c_uint32),
    ]


class BandC(Structure):
    _fields_ = [
        ("data", POINTER(c_int8)),
        ("h", c_int32),
        ("w", c_int32),
        ("c", c_int32),
        ("cap", c_int32),
        ("ready", c_int32),
    ]


class BandStateC(Structure):
    _fields_ = [("lo", c_int32), ("hi", c_int32)]


class RowsProgressC(Structure):
    _fields_ = [("next_event", c_int32), ("partial", c_int32)]


class RowsStageC(Structure):
    _fields_ = [
        ("kind", c_int32),
        ("params", c_void_p),
        ("quant", POINTER(PerChannelQuant)),
        ("filter_dims", POINTER(Dims)),
        ("filter", POINTER(c_int8)),
        ("bias", POINTER(c_int32)),
        ("packed", POINTER(PackedFilterC)),
        ("in0", c_int32),
        ("in1", c_int32),
        ("out", c_int32),
    ]


class RowsPlanC(Structure):
    _fields_ = [
        ("bands", POINTER(BandC)),
        ("state", POINTER(BandStateC)),
        ("n_bands", c_int32),
        ("stream", c_int32),
        ("progress", POINTER(RowsProgressC)),
        ("stages", POINTER(RowsStageC)),
        ("n_stages", c_int32),
        ("event_stage", POINTER(c_uint16)),
        ("event_rows", POINTER(c_uint16)),
        ("n_events", c_int32),
    ]


#: kt_rows_kind values (kt_rows.h), by op kind.
ROWS_KIND: dict[str, int] = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 1, "ADD": 2}


#: Each mirror's C typedef name.
C_NAMES: dict[type[Structure], str] = {
    Dims: "kt_dims",
    Tile: "kt_tile",
    Activation: "kt_activation",
    PerChannelQuant: "kt_per_channel_quant",
    SplitFilterC: "kt_split_filter",
    ConvParamsC: "kt_conv_params",
    DwConvParamsC: "kt_dw_conv_params",
    FcParamsC: "kt_fc_params",
    AddParamsC: "kt_add_params",
    PoolParamsC: "kt_pool_params",
    MeanParamsC: "kt_mean_params",
    PadParamsC: "kt_pad_params",
    TransposeParamsC: "kt_transpose_params",
    SoftmaxParamsC: "kt_softmax_params",
    GradStatsC: "kt_grad_stats",
    ConvGradParamsC: "kt_conv_grad_params",
    DwConvGradParamsC: "kt_dw_conv_grad_params",
    FcGradParamsC: "kt_fc_grad_params",
    UpdateParamsC: "kt_update_params",
    ReluMaskParamsC: "kt_relu_mask_params",
    PoolGradParamsC: "kt_pool_grad_params",
    SoftmaxCeParamsC: "kt_softmax_ce_params",
    TrainResultC: "kt_train_result",
    TrainSegmentC: "kt_train_segment",
    ModelDescC: "kt_model_desc",
    BandC: "kt_band",
    BandStateC: "kt_band_state",
    RowsStageC: "kt_rows_stage",
    PackedFilterC: "kt_packed_filter",
    RowsProgressC: "kt_rows_progress",
    RowsPlanC: "kt_rows_plan",
}


def initializer(struct: type[Structure], values: Mapping[str, Any]) -> str:
    """A C99 designated initialiser ``{.a = 1, .b = {.h = 2, .w = 3}}`` for ``struct`` from
    ``values`` (every field, no other): a nested struct takes a mapping or a sequence in field
    order, an array a sequence (zero-padded to its length), a pointer a C expression (str).
    A missing or unknown field raises ValueError, so a reordered or renamed C field can never
    silently shift a value."""
    fields = [f[0] for f in struct._fields_]
    name = C_NAMES.get(struct, struct.__name__)
    missing, extra = set(fields) - set(values), set(values) - set(fields)
    if missing or extra:
        raise ValueError(f"{name} initialiser: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
    return "{" + ", ".join(f".{f[0]} = {_value(f[1], values[f[0]], f'{name}.{f[0]}')}" for f in struct._fields_) + "}"


def _value(ctype: Any, v: Any, where: str) -> str:
    if isinstance(ctype, type) and issubclass(ctype, Structure):
        if not isinstance(v, Mapping):
            v = dict(zip([f[0] for f in ctype._fields_], v, strict=True))
        return initializer(ctype, v)
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        items, length = [int(x) for x in v], int(getattr(ctype, "_length_"))  # noqa: B009 - ctypes' array length
        if len(items) > length:
            raise ValueError(f"{where}: {len(items)} values for an array of {length}")
        items += [0] * (length - len(items))
        return "{" + ", ".join(map(str, items)) + "}"
    if isinstance(v, str):  # a pointer: a C expression
        return v
    return str(int(v))
