"""The wire schema (kilotrain.device.wire): Python codecs, the generated C header kt_wire.h (packs
bit for bit what the Python encoder packs), the schema version shared with the C runtime, the
digest check that catches a layout change without a version bump, and the PlatformIO hook that
generates the header into the build tree."""

from __future__ import annotations

import ast
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import kilotrain
from kilotrain.device import wire
from kilotrain.device.protocol import Frame, Info

ROOT = Path(__file__).resolve().parents[3]
HOOK = ROOT / "tools" / "pio" / "model_sources.py"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wsign-conversion"]


def _fields(m: wire.Message[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Every field of ``m`` over its whole range (tails: any bytes / ASCII text up to the limit)."""
    parts: dict[str, st.SearchStrategy[Any]] = {f.name: st.integers(f.type.lo, f.type.hi) for f in m.fields}
    if m.tail is not None:
        size = m.tail.max_size if m.tail.max_size is not None else 300
        parts[m.tail.name] = (
            st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=size)
            if m.tail.kind == "ascii"
            else st.binary(max_size=size)
        )
    return st.fixed_dictionaries(parts)


@pytest.mark.parametrize("m", wire.MESSAGES, ids=lambda m: m.name)
@given(data=st.data())
def test_every_message_round_trips(m: wire.Message[Any], data: st.DataObject) -> None:
    values = data.draw(_fields(m))
    payload = m.encode(**values)
    assert len(payload) >= m.size if m.tail else len(payload) == m.size
    assert m.decode(payload)._asdict() == values
    assert m.pack(m.decode(payload)) == payload


def test_message_names_frames_and_sizes() -> None:
    names = [m.name for m in wire.MESSAGES]
    assert len(set(names)) == len(names)
    for t in wire.FrameType:
        kinds = sorted(m.direction for m in wire.MESSAGES if m.frame == t)
        assert kinds == (["answer"] if t == wire.FrameType.ERROR else ["answer", "request"]), t
    sizes = {m.name: m.size for m in wire.MESSAGES}
    assert sizes["INFO_ANSWER"] == 56 and sizes["INVOKE_ANSWER"] == 20 and sizes["TRAIN_STEP_ANSWER"] == 32
    assert sizes["ERROR"] == 8 and sizes["OUTPUT_READ_REQUEST"] == 6 and sizes["INPUT_WRITE_REQUEST"] == 4


# The layouts as struct format strings (protocol version 1 was the host's hand-written formats;
# version 2 added INFO's digests, MODEL_INFO's input format and TRAIN_INFO's lr_shift and EVAL
# counters at the end of each fixed part; version 3 RESET's erase flag, TRAIN_INFO's checkpoint
# fields, CHECKPOINT / RESTORE and PROFILE): the bytes on the wire must not change by accident.
LEGACY = {
    "INFO_ANSWER": "<4B8I2H2I2I",
    "MODEL_INFO_ANSWER": "<4I4HiI",
    "INPUT_WRITE_REQUEST": "<I",
    "INVOKE_ANSWER": "<iIIII",
    "OUTPUT_READ_REQUEST": "<IH",
    "PARAMS_READ_REQUEST": "<IH",
    "TRAIN_INFO_ANSWER": "<IIiIIII",
    "RESET_REQUEST": "<B3x",
    "CHECKPOINT_ANSWER": "<B3xIIiII",
    "RESTORE_ANSWER": "<B3xIIiII",
    "PROFILE_REQUEST": "<HH",
    "PROFILE_ANSWER": "<HH",
    "EVAL_REQUEST": "<iB3x",
    "EVAL_ANSWER": "<iiIIIII",
    "INFER_ANSWER": "<iiII",
    "SET_LR_REQUEST": "<i",
    "TRAIN_STEP_REQUEST": "<Ii",
    "TRAIN_STEP_ANSWER": "<IiIiIIII",
    "ERROR": "<B3xI",
}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_layouts_are_the_documented_bytes(name: str) -> None:
    m = next(m for m in wire.MESSAGES if m.name == name)
    rng = random.Random(name)
    values = {f.name: rng.randint(f.type.lo, f.type.hi) for f in m.fields}
    legacy: list[int] = []
    for f in m.fields:  # a u64 was sent as two u32 (lo, hi)
        v = values[f.name]
        legacy += [v & 0xFFFFFFFF, v >> 32] if f.type.size == 8 else [v]
    tail: dict[str, Any] = {}
    if m.tail is not None:
        tail[m.tail.name] = "board" if m.tail.kind == "ascii" else b"board"
    assert m.encode(**values, **tail) == struct.pack(LEGACY[name], *legacy) + (b"board" if tail else b"")


def test_info_and_error_wrappers() -> None:
    payload = wire.INFO_ANSWER.encode(
        protocol_version=1,
        firmware_major=0,
        firmware_minor=1,
        firmware_patch=0,
        sram_bytes=327680,
        flash_bytes=1 << 20,
        static_ram_bytes=18472,
        stack_bytes=8192,
        stack_high_water_bytes=700,
        counter_hz=25_000_000,
        instructions_per_tick=40,
        uptime_1024_ticks=3,
        max_payload=2048,
        frame_idle_ms=50,
        model_digest=0x0123456789ABCDEF,
        train_digest=0xFEDCBA9876543210,
        board="qemu_mps2_an500",
    )
    info = Info.parse(payload)
    assert (info.model_digest, info.train_digest) == (0x0123456789ABCDEF, 0xFEDCBA9876543210)
    assert (info.firmware_version, info.uptime_ticks, info.board) == ("0.1.0", 3072, "qemu_mps2_an500")
    assert (info.max_payload, info.frame_idle_ms, info.counter_hz) == (2048, 50, 25_000_000)
    assert Frame(0x7F, 3, bytes([6, 0, 0, 0, 9, 0, 0, 0])).error() == (wire.ErrorCode.BAD_PAYLOAD, 9)


def test_codecs_reject_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="shorter"):
        wire.TRAIN_INFO_ANSWER.decode(b"\x00" * 7)
    with pytest.raises(ValueError, match="layout has 28"):
        wire.TRAIN_INFO_ANSWER.decode(b"\x00" * 29)
    with pytest.raises(ValueError, match=r"OUTPUT_READ_REQUEST\.length = 65536 is not a u16"):
        wire.OUTPUT_READ_REQUEST.encode(offset=0, length=65536)
    with pytest.raises(ValueError, match=r"TRAIN_STEP_REQUEST\.label = -2147483649 is not a i32"):
        wire.TRAIN_STEP_REQUEST.encode(step=0, label=-(1 << 31) - 1)
    with pytest.raises(ValueError, match="at most 32"):
        wire.INFO_ANSWER.encode(**{f.name: 0 for f in wire.INFO_ANSWER.fields}, board="x" * 33)
    with pytest.raises(ValueError, match="not ASCII"):
        wire.MODEL_INFO_ANSWER.encode(**{f.name: 0 for f in wire.MODEL_INFO_ANSWER.fields}, name="modèle")
    with pytest.raises(TypeError):
        wire.TRAIN_STEP_REQUEST.encode(step=0)  # every field by name
    assert wire.INFO_REQUEST.encode() == b"" and wire.INFO_REQUEST.decode(b"") == wire.Empty()


def test_schema_declaration_errors_are_one_line() -> None:
    class TailFirst(NamedTuple):
        data: wire.Bytes
        offset: wire.U32

    class Untyped(NamedTuple):
        offset: int

    with pytest.raises(wire.SchemaError, match="follows the variable-length tail"):
        wire.Message(wire.FrameType.ECHO, "request", TailFirst)
    with pytest.raises(wire.SchemaError, match="exactly one wire type"):
        wire.Message(wire.FrameType.ECHO, "request", Untyped)


# --- the generated C header ------------------------------------------------------------------------


def _c_literal(t: wire.Int, v: int) -> str:
    if t.signed:
        return f"INT{8 * t.size}_MIN" if v == t.lo else f"({t.ctype})({v})"
    return f"({t.ctype}){v}u" + ("ll" if t.size == 8 else "")


def _samples(m: wire.Message[Any]) -> list[dict[str, Any]]:
    rng = random.Random(m.name)
    out: list[dict[str, Any]] = [{f.name: f.type.lo for f in m.fields}, {f.name: f.type.hi for f in m.fields}]
    out += [{f.name: rng.randint(f.type.lo, f.type.hi) for f in m.fields} for _ in range(3)]
    if m.tail is not None:
        for i, s in enumerate(out):
            s[m.tail.name] = "qemu_mps2_an500"[: i * 4] if m.tail.kind == "ascii" else bytes(range(250, 256))[: i * 2]
    return out


def _c_program(messages: tuple[wire.Message[Any], ...]) -> tuple[str, list[str]]:
    """A C program that packs every sample of every message with kt_wire.h's helpers and prints
    the bytes, the fields read back with the get helpers, the sizes, offsets and enum values; and
    the lines it must print, from the Python side."""
    c = [
        "#include <stdio.h>",
        "#include <string.h>",
        '#include "kt_wire.h"',
        "",
        "static void dump(const char *name, int i, const uint8_t *p, size_t n)",
        "{",
        '    printf("%s#%d", name, i);',
        "    for (size_t k = 0; k < n; k++) {",
        '        printf(" %02x", p[k]);',
        "    }",
        '    printf("\\n");',
        "}",
        "",
        "int main(void)",
        "{",
        '    printf("version %d digest %08lx\\n", KT_WIRE_SCHEMA_VERSION, (unsigned long)KT_WIRE_SCHEMA_DIGEST);',
    ]
    want = [f"version {wire.SCHEMA_VERSION} digest {wire.schema_digest():08x}"]
    for t in wire.FrameType:
        c.append(f'    printf("frame {t.name} %d\\n", (int)KT_FRAME_{t.name});')
        want.append(f"frame {t.name} {t.value}")
    c.append('    printf("answer %d\\n", (int)KT_FRAME_ANSWER);')
    want.append(f"answer {wire.ANSWER}")
    for e in wire.ErrorCode:
        c.append(f'    printf("error {e.name} %d\\n", (int)KT_ERR_{e.name});')
        want.append(f"error {e.name} {e.value}")
    for m in messages:
        p, fn = f"KT_WIRE_{m.name}", f"kt_wire_{m.name.lower()}"
        layout = [f"{p}_SIZE"] + [f"{p}_{f.name.upper()}_OFFSET" for f in m.fields]
        expect = [m.size] + [f.offset for f in m.fields]
        if m.tail is not None:
            layout.append(f"{p}_{m.tail.name.upper()}_OFFSET")
            expect.append(m.tail.offset)
            if m.tail.max_size is not None:
                layout.append(f"{p}_{m.tail.name.upper()}_MAX_SIZE")
                expect.append(m.tail.max_size)
        args = ", ".join(f"(unsigned){x}" for x in layout)
        c.append(f'    printf("layout {m.name}{" %u" * len(layout)}\\n", {args});')
        want.append(f"layout {m.name} " + " ".join(map(str, expect)))
        if not m.fields and m.tail is None:
            continue
        for i, values in enumerate(_samples(m)):
            tail = b""
            c += [
                "    {",
                f"        uint8_t b[{p}_SIZE + 32];",
                "        size_t n = " + f"{p}_SIZE;",
                "        memset(b, 0xA5, sizeof b);",
            ]
            c += [f"        {fn}_put_{f.name}(b, {_c_literal(f.type, values[f.name])});" for f in m.fields]
            if m.tail is not None:
                v = values[m.tail.name]
                tail = v.encode("ascii") if isinstance(v, str) else v
                init = ", ".join(str(x) for x in tail) or "0"
                c += [
                    f"        static const uint8_t tail[] = {{{init}}};",
                    f"        memcpy(b + {p}_{m.tail.name.upper()}_OFFSET, tail, {len(tail)}u);",
                    f"        n += {len(tail)}u;",
                ]
            c.append(f'        dump("{m.name}", {i}, b, n);')
            want.append("".join([f"{m.name}#{i}", *(f" {x:02x}" for x in m.encode(**values))]))
            if m.fields:
                fmt = " ".join("%lld" if f.type.signed else "%llu" for f in m.fields)
                args = ", ".join(
                    f"({'long long' if f.type.signed else 'unsigned long long'}){fn}_get_{f.name}(b)" for f in m.fields
                )
                c.append(f'        printf("get {m.name}#{i} {fmt}\\n", {args});')
                want.append(f"get {m.name}#{i} " + " ".join(str(values[f.name]) for f in m.fields))
            c.append("    }")
    c += ["    return 0;", "}", ""]
    return "\n".join(c), want


def test_c_helpers_pack_what_python_encodes(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (tools/setup installs it)")
    assert wire.write_c_header(tmp_path / "kt_wire.h", kilotrain.__version__)
    program, want = _c_program(wire.MESSAGES)
    (tmp_path / "pack.c").write_text(program)
    build = subprocess.run(
        ["gcc", *CFLAGS, "-I", str(tmp_path), "-o", str(tmp_path / "pack"), str(tmp_path / "pack.c")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    got = subprocess.run([str(tmp_path / "pack")], capture_output=True, text=True, check=True).stdout.splitlines()
    assert got == want


def test_header_banner_and_no_hand_written_twins() -> None:
    text = wire.c_header(kilotrain.__version__)
    first = text.splitlines()[:2]
    assert f"generated by kilotrain v{kilotrain.__version__} from python/kilotrain/device/wire.py" in first[0]
    assert "do not edit, do not commit" in first[1]
    assert f"#define KT_WIRE_SCHEMA_VERSION {wire.SCHEMA_VERSION}\n" in text
    assert f"#define KT_WIRE_SCHEMA_DIGEST 0x{wire.schema_digest():08X}u\n" in text
    # the frame types, error codes and layouts live only in the generated header
    for path in [*(ROOT / "include").glob("*.h"), *(ROOT / "firmware").rglob("*.[ch]")]:
        src = path.read_text()
        assert not re.search(r"\bKT_(FRAME_INFO|ERR_CRC)\s*=", src), f"{path}: hand-written twin of a wire.py enum"
        assert "KT_INFO_FIXED_SIZE" not in src, path
    for top in ("include", "firmware", "tests", "python", "tools", "docs"):
        found = list((ROOT / top).rglob(wire.HEADER_NAME))
        assert not found, f"{found}: {wire.HEADER_NAME} is generated into the build tree, never committed"


def test_host_code_has_no_hand_written_payload_formats() -> None:
    """Payloads are packed only through wire.py; protocol.py keeps struct for the frame header."""
    for path in sorted((ROOT / "python" / "kilotrain" / "device").glob("*.py")):
        if path.name in ("wire.py", "protocol.py"):
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "struct" not in names | mods, f"{path.name} packs bytes by hand: use kilotrain.device.wire"
    protocol = (ROOT / "python" / "kilotrain" / "device" / "protocol.py").read_text()
    formats = re.findall(r"struct\.(?:Struct|pack|unpack\w*)\(\s*\"([^\"]*)\"", protocol)
    assert formats == ["<2sBBH", "<I"], formats  # the frame's header and CRC trailer


# --- versions --------------------------------------------------------------------------------------


def _c_define(path: Path, name: str) -> int:
    m = re.search(rf"^#define {name} (\d+)u?\b", path.read_text(), re.M)
    assert m, f"{path.relative_to(ROOT)} defines no {name}"
    return int(m.group(1))


def test_c_runtime_is_written_for_this_schema_version() -> None:
    assert _c_define(ROOT / "include" / "kt_app.h", "KT_WIRE_RUNTIME_VERSION") == wire.SCHEMA_VERSION
    assert _c_define(ROOT / "include" / "kt_app.h", "KT_PROTOCOL_VERSION") == wire.PROTOCOL_VERSION
    app = (ROOT / "firmware" / "app" / "kt_app.c").read_text()
    assert "#if KT_WIRE_SCHEMA_VERSION > KT_WIRE_RUNTIME_VERSION" in app and "#error" in app


@pytest.mark.parametrize(
    "version,says",
    [
        (wire.SCHEMA_VERSION, None),
        (wire.SCHEMA_VERSION + 1, "newer wire schema"),
        (wire.SCHEMA_VERSION - 1, "older wire schema"),
    ],
)
def test_c_runtime_refuses_a_header_of_another_schema_version(tmp_path: Path, version: int, says: str | None) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (tools/setup installs it)")
    text = wire.c_header(kilotrain.__version__)
    line = f"#define KT_WIRE_SCHEMA_VERSION {wire.SCHEMA_VERSION}\n"
    (tmp_path / "kt_wire.h").write_text(text.replace(line, f"#define KT_WIRE_SCHEMA_VERSION {version}\n"))
    inc = [f"-I{p}" for p in (tmp_path, ROOT / "include", ROOT / "firmware" / "bsp")]
    for defines in ([], ["-DKT_HAVE_MODEL", "-DKT_HAVE_TRAIN"]):
        cc = subprocess.run(
            ["gcc", *CFLAGS[:4], *defines, *inc, "-fsyntax-only", str(ROOT / "firmware/app/kt_app.c")],
            capture_output=True,
            text=True,
            check=False,
        )
        if says is None:
            assert cc.returncode == 0, cc.stderr
        else:
            assert cc.returncode != 0 and says in cc.stderr and "KT_WIRE_RUNTIME_VERSION" in cc.stderr


def test_recorded_digest_is_the_schema_digest() -> None:
    assert wire.check_schema() == wire.schema_digest() == wire.SCHEMA_HISTORY[wire.SCHEMA_VERSION]
    assert len(set(wire.SCHEMA_HISTORY.values())) == len(wire.SCHEMA_HISTORY)


class _TrainInfoWide(NamedTuple):
    steps_done: wire.U32
    params_size: wire.U64
    lr_shift: wire.I32
    eval_seen: wire.U32
    eval_correct: wire.U32


class _TrainInfoRenamed(NamedTuple):
    steps: wire.U32
    params_size: wire.U32
    lr_shift: wire.I32
    eval_seen: wire.U32
    eval_correct: wire.U32


class _ErrorMorePadding(NamedTuple):
    code: Annotated[wire.U8, wire.Pad(7)]
    detail: wire.U32


def _changed(old: wire.Message[Any], record: type[Any]) -> tuple[wire.Message[Any], ...]:
    new = wire.Message(old.frame, old.direction, record, name=old.name)
    return tuple(new if m is old else m for m in wire.MESSAGES)


@pytest.mark.parametrize(
    "messages",
    [
        _changed(wire.TRAIN_INFO_ANSWER, _TrainInfoWide),
        _changed(wire.TRAIN_INFO_ANSWER, _TrainInfoRenamed),
        _changed(wire.ERROR, _ErrorMorePadding),
        wire.MESSAGES[:-1],
    ],
    ids=["wider-field", "renamed-field", "more-padding", "message-removed"],
)
def test_layout_change_without_version_bump_is_caught(messages: tuple[wire.Message[Any], ...]) -> None:
    v = wire.SCHEMA_VERSION
    with pytest.raises(wire.SchemaError) as exc:
        wire.check_schema(messages)
    msg = str(exc.value)
    assert "\n" not in msg and "changed without a version bump" in msg and f"SCHEMA_VERSION = {v + 1}" in msg
    # bumped and recorded: accepted
    digest = wire.schema_digest(messages)
    assert wire.check_schema(messages, v + 1, {**wire.SCHEMA_HISTORY, v + 1: digest}) == digest
    # bumped but not recorded, or not the newest version: refused
    with pytest.raises(wire.SchemaError, match=f"no digest for SCHEMA_VERSION {v + 1}"):
        wire.check_schema(messages, v + 1, dict(wire.SCHEMA_HISTORY))
    with pytest.raises(wire.SchemaError, match="older than the newest"):
        wire.check_schema(wire.MESSAGES, v, {**wire.SCHEMA_HISTORY, v + 1: digest})


class _TrainInfoOtherDoc(NamedTuple):
    """Docstrings and comments are not layout."""

    steps_done: wire.U32
    params_size: wire.U32
    lr_shift: wire.I32  # a comment
    eval_seen: wire.U32
    eval_correct: wire.U32
    checkpoint_seq: wire.U32
    checkpoint_steps: wire.U32


def test_digest_covers_layouts_not_comments() -> None:
    assert set(wire.ERROR_DETAIL) == set(wire.ErrorCode)
    assert wire.check_schema(_changed(wire.TRAIN_INFO_ANSWER, _TrainInfoOtherDoc)) == wire.schema_digest()


# --- the PlatformIO hook ---------------------------------------------------------------------------

_RUN_HOOK = textwrap.dedent("""
    import os, sys
    hook, build_dir, break_import, bad_history = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
    if break_import:
        sys.modules["kilotrain"] = None  # as in a python without the project installed
    elif bad_history:
        from kilotrain.device import wire
        wire.SCHEMA_HISTORY[wire.SCHEMA_VERSION] ^= 1

    class Env:
        cpppath = []
        def subst(self, s):
            return s.replace("$BUILD_DIR", build_dir)
        def Prepend(self, CPPPATH):
            self.cpppath[:0] = CPPPATH
        def Append(self, **kw):
            raise AssertionError(kw)
        def Exit(self, code):
            sys.exit(code)

    env = Env()
    os.environ.pop("KILOTRAIN_MODEL_DIR", None)
    exec(compile(open(hook).read(), hook, "exec"), {"Import": lambda *_: None, "env": env, "__name__": "SCons"})
    print(env.cpppath)
""")


def _hook(build_dir: Path, break_import: bool = False, bad_history: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN_HOOK, str(HOOK), str(build_dir), str(int(break_import)), str(int(bad_history))],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_hook_generates_header_into_build_tree_once(tmp_path: Path) -> None:
    run = _hook(tmp_path)
    assert run.returncode == 0, run.stderr
    include = tmp_path / "generated" / "include"
    assert run.stdout.strip() == repr([str(include)])
    header = include / "kt_wire.h"
    assert header.read_text() == wire.c_header(kilotrain.__version__)
    stamp = header.stat().st_mtime_ns
    os.utime(header, ns=(stamp - 10**9, stamp - 10**9))
    assert _hook(tmp_path).returncode == 0
    assert header.stat().st_mtime_ns == stamp - 10**9, "an unchanged header must not be rewritten (incremental builds)"


def test_hook_without_kilotrain_fails_with_one_line(tmp_path: Path) -> None:
    run = _hook(tmp_path, break_import=True)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kilotrain: error: ") and "run tools/setup" in lines[0], lines
    assert not (tmp_path / "generated").exists()


def test_hook_refuses_a_schema_changed_without_version_bump(tmp_path: Path) -> None:
    run = _hook(tmp_path, bad_history=True)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "changed without a version bump" in lines[0], lines
