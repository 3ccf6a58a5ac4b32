"""Each contract fact is defined once in Python and spelled again only where C needs it: the C
headers are parsed here and every constant, status code and parameter struct must equal its
Python twin (kilotrain.contract, kilotrain.kernels.cstructs), field for field and in order."""

from __future__ import annotations

import re
from ctypes import Structure
from pathlib import Path

import pytest

from kilotrain import contract
from kilotrain.kernels import cstructs

ROOT = Path(__file__).resolve().parents[3]
HEADERS = sorted((ROOT / "include").glob("*.h")) + sorted((ROOT / "firmware").rglob("*.h"))


def _text() -> str:
    """All headers, comments removed."""
    src = "\n".join(h.read_text() for h in HEADERS)
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", src, flags=re.S)


def _defines() -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in re.findall(r"#define\s+(KT_[A-Z0-9_]+)\s+\(?(-?\d+)u?\)?\s*$", _text(), flags=re.M):
        out[name] = int(value)
    return out


def _structs() -> dict[str, list[str]]:
    """typedef struct {...} name; -> field names in order (arrays and pointers by their name)."""
    out: dict[str, list[str]] = {}
    for body, name in re.findall(r"typedef\s+struct\s*(?:\w+\s*)?\{(.*?)\}\s*(\w+)\s*;", _text(), flags=re.S):
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if decl:
                m = re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", decl)
                assert m, f"cannot parse field {decl!r} of {name}"
                fields.append(m.group(1))
        out[name] = fields
    return out


@pytest.mark.parametrize(
    "macro,value",
    [
        ("KT_C_API_VERSION", contract.C_API_VERSION),
        ("KT_MAX_RANK", contract.MAX_RANK),
        ("KT_GRAD_EXP_MIN", contract.EXP_MIN),
        ("KT_GRAD_EXP_MAX", contract.EXP_MAX),
        ("KT_GRAD_SHIFT_MIN", contract.SHIFT_MIN),
        ("KT_GRAD_SHIFT_MAX", contract.SHIFT_MAX),
        ("KT_GRAD_CHAN_SHIFT_MAX", contract.CHAN_SHIFT_MAX),
        ("KT_GRAD_HEADROOM_MAX", contract.HEADROOM_MAX),
        ("KT_GRAD_BLOCK", contract.GRAD_BLOCK),
        ("KT_PACKED_MAX_K", contract.PACKED_MAX_K),
        ("KT_FRAME_MAX_PAYLOAD", contract.FRAME_MAX_PAYLOAD),
        ("KT_LR_SHIFT_MIN", contract.LR_SHIFT_MIN),
        ("KT_LR_SHIFT_MAX", contract.LR_SHIFT_MAX),
    ],
)
def test_header_constant_equals_python(macro: str, value: int) -> None:
    defines = _defines()
    assert macro in defines, f"{macro} is not #defined in include/ or firmware/"
    assert defines[macro] == value, f"{macro} is {defines[macro]} in C but {value} in kilotrain.contract"


def test_status_codes_equal_python() -> None:
    body = re.search(r"typedef\s+enum\s*\{([^{}]*)\}\s*kt_status\s*;", _text())
    assert body
    c = {int(v): k for k, v in re.findall(r"(KT_\w+)\s*=\s*(-?\d+)", body.group(1))}
    assert c == contract.STATUS


@pytest.mark.parametrize(
    "struct", sorted(cstructs.C_NAMES, key=lambda s: cstructs.C_NAMES[s]), ids=lambda s: cstructs.C_NAMES[s]
)
def test_ctypes_mirror_equals_the_c_struct(struct: type[Structure]) -> None:
    name = cstructs.C_NAMES[struct]
    structs = _structs()
    assert name in structs, f"{name} is not a typedef struct in the headers"
    assert [f[0] for f in struct._fields_] == structs[name], f"{struct.__name__} and {name} differ"


def test_initializer_names_every_field_and_refuses_a_missing_one() -> None:
    text = cstructs.initializer(
        cstructs.PoolGradParamsC,
        {"filter": {"h": 2, "w": 3}, "stride": (1, 2), "count_multiplier": 5, "count_shift": -1},
    )
    assert text == "{.filter = {.h = 2, .w = 3}, .stride = {.h = 1, .w = 2}, .count_multiplier = 5, .count_shift = -1}"
    with pytest.raises(ValueError, match="missing fields \\['count_shift'\\]"):
        cstructs.initializer(cstructs.PoolGradParamsC, {"filter": (2, 3), "stride": (1, 2), "count_multiplier": 5})
    with pytest.raises(ValueError, match="unknown fields \\['bogus'\\]"):
        cstructs.initializer(
            cstructs.MeanParamsC, {"input_offset": 1, "output_offset": 2, "multiplier": 3, "shift": 4, "bogus": 0}
        )


def test_the_parser_sees_a_drifted_header(tmp_path: Path) -> None:
    """The check can fail: a header whose macro or field order differs is caught."""
    global HEADERS
    saved = HEADERS
    h = tmp_path / "kt_drift.h"
    h.write_text(
        "#define KT_MAX_RANK 5\ntypedef struct { int32_t h; int32_t w; } kt_tile;\n"
        "typedef struct { int32_t w; int32_t h; } kt_tile2;\n"
    )
    HEADERS = [h]
    try:
        assert _defines()["KT_MAX_RANK"] == 5 != contract.MAX_RANK
        assert _structs()["kt_tile2"] == ["w", "h"] != [f[0] for f in cstructs.Tile._fields_]
    finally:
        HEADERS = saved


def test_every_dispatch_table_covers_exactly_the_op_table() -> None:
    """The op list lives in model/ops.py; the importer, the executor and the code generator dispatch on it and
    must cover every op it names, and nothing else."""
    from kilotrain.codegen.model import EMITTERS
    from kilotrain.model.ops import OPS, SUPPORTED_OPS
    from kilotrain.model.tflite import _BUILDERS
    from kilotrain.reference.executor import DISPATCH

    assert set(_BUILDERS) == set(SUPPORTED_OPS)
    assert set(DISPATCH) == set(SUPPORTED_OPS)
    assert set(EMITTERS) == set(SUPPORTED_OPS)
    for kind, info in OPS.items():
        assert info.forward, f"{kind}: no engine runs it forward"


def test_rows_kinds_equal_python() -> None:
    body = re.search(r"typedef\s+enum\s*\{([^{}]*)\}\s*kt_rows_kind\s*;", _text())
    assert body
    c = {k: int(v) for k, v in re.findall(r"(KT_ROWS_\w+)\s*=\s*(\d+)", body.group(1))}
    names = {"CONV_2D": "KT_ROWS_CONV", "DEPTHWISE_CONV_2D": "KT_ROWS_DW", "ADD": "KT_ROWS_ADD"}
    assert {names[k]: v for k, v in cstructs.ROWS_KIND.items()} == c
