"""The payload layouts of the kilotrain serial protocol, defined once (docs/protocol.md).

Each payload (request or answer) is one ``NamedTuple`` whose annotations give its fields in wire
order, each a fixed-width little-endian integer (:data:`U8`, :data:`U16`, :data:`U32`, :data:`I32`,
:data:`U64`; ``Annotated[U8, Pad(3)]`` adds zero bytes after a field), and at most one variable-length
tail last (:data:`Bytes`, :data:`Ascii`). A :class:`Message` pairs such a record with its frame type
and is its codec (``encode(**fields) -> bytes``, ``decode(payload) -> record``); :data:`MESSAGES`
lists them all. The host (protocol.py, link.py, firmware.py, train_client.py) packs and unpacks
payloads only through these codecs.

The firmware gets the same layouts from ``kt_wire.h``, which :func:`c_header` writes: per message
``KT_WIRE_<MSG>_SIZE``, ``KT_WIRE_<MSG>_<FIELD>_OFFSET`` and byte-by-byte put/get helpers, the frame
types and error codes, and ``KT_WIRE_SCHEMA_VERSION`` / ``KT_WIRE_SCHEMA_DIGEST``. It is generated
code: tools/pio/model_sources.py writes it into the PlatformIO build tree at every build, and it is
never committed.

Versions: :data:`SCHEMA_VERSION` numbers the layouts; the C runtime states the version it was
written for (``KT_WIRE_RUNTIME_VERSION`` in include/kt_app.h) and kt_app.c refuses to compile
against a header of another version. :data:`SCHEMA_HISTORY` records the digest of every version,
so a layout change without a version bump stops the generator (:func:`check_schema`).
:data:`PROTOCOL_VERSION` is what the device reports in INFO; it changes when bytes on the wire do.
"""

from __future__ import annotations

import enum
import hashlib
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, NamedTuple, TypeVar, get_args, get_origin, get_type_hints

#: The protocol version the device reports in INFO (``KT_PROTOCOL_VERSION`` in include/kt_app.h).
PROTOCOL_VERSION = 3
#: Version of the layouts below; the C runtime's ``KT_WIRE_RUNTIME_VERSION`` must equal it.
SCHEMA_VERSION = 3
#: Digest of each schema version's layouts (:func:`schema_digest`). Changing a layout changes the
#: digest: bump SCHEMA_VERSION, add its digest here and update the C runtime (kt_app.c, kt_app.h).
SCHEMA_HISTORY: dict[int, int] = {
    1: 0xD4250E52,
    2: 0x4E24D8C2,
    3: 0xA9562243,
}
#: Where the schema lives, for messages and the generated header's banner.
SOURCE = "python/kilotrain/device/wire.py"

#: Flag of an answer's frame type: the answer to a request carries ``type | ANSWER``.
ANSWER = 0x80


class FrameType(enum.IntEnum):
    """Request types; the answer to a request carries ``type | ANSWER``."""

    INFO = 0x01
    ECHO = 0x02
    RESET = 0x03
    MODEL_INFO = 0x10
    INPUT_WRITE = 0x11
    INVOKE = 0x12
    OUTPUT_READ = 0x13
    TRAIN_STEP = 0x20
    PARAMS_READ = 0x21
    TRAIN_INFO = 0x22
    EVAL = 0x23
    INFER = 0x24
    SET_LR = 0x25
    CHECKPOINT = 0x26
    RESTORE = 0x27
    PROFILE = 0x28
    ERROR = 0x7F


class ErrorCode(enum.IntEnum):
    """Codes of an ERROR frame; :data:`ERROR_DETAIL` says what each one's detail is."""

    CRC = 1
    TRUNCATED = 2
    GARBAGE = 3
    LENGTH = 4
    UNKNOWN_TYPE = 5
    BAD_PAYLOAD = 6
    STEP_ORDER = 7
    NO_STORE = 8
    STORE_FAILED = 9
    NO_CHECKPOINT = 10


#: When each error is sent and what its detail holds (the generated header's comments).
ERROR_DETAIL: dict[ErrorCode, str] = {
    ErrorCode.CRC: "CRC mismatch; detail = the CRC received",
    ErrorCode.TRUNCATED: "the line went idle mid-frame; detail = bytes received of the frame",
    ErrorCode.GARBAGE: "bytes outside any frame were dropped; detail = how many",
    ErrorCode.LENGTH: "declared length > KT_FRAME_MAX_PAYLOAD; detail = that length",
    ErrorCode.UNKNOWN_TYPE: "no handler for this type; detail = the type",
    ErrorCode.BAD_PAYLOAD: "payload size or content is wrong for the type; detail = its length",
    ErrorCode.STEP_ORDER: "TRAIN_STEP for a step that is neither the next nor the last; detail = steps done",
    ErrorCode.NO_STORE: "the board has no checkpoint store, or its slots are smaller than a checkpoint; "
    "detail = the bytes a checkpoint needs",
    ErrorCode.STORE_FAILED: "writing the checkpoint failed (the previous one stays valid); "
    "detail = the stage: 1 erase, 2 program, 3 read-back check",
    ErrorCode.NO_CHECKPOINT: "RESTORE found no valid checkpoint of this firmware's training plan; detail = 0",
}


class SchemaError(ValueError):
    """The schema is malformed or changed without a version bump; the message is one line."""


# --- field types ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Int:
    """A fixed-width little-endian integer."""

    name: str  # u8, u16, u32, i32, u64
    code: str  # struct format character
    size: int
    signed: bool

    @property
    def ctype(self) -> str:
        return f"{'' if self.signed else 'u'}int{8 * self.size}_t"

    @property
    def lo(self) -> int:
        return -(1 << (8 * self.size - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (8 * self.size - 1)) - 1 if self.signed else (1 << (8 * self.size)) - 1


@dataclass(frozen=True)
class Pad:
    """``size`` zero bytes after the field it annotates (ignored when decoding)."""

    size: int


@dataclass(frozen=True)
class Tail:
    """The variable-length rest of a payload: raw bytes or ASCII text, at most ``max_size`` bytes
    when the device has a fixed buffer for it (None: up to the frame's payload limit)."""

    kind: Literal["bytes", "ascii"]
    max_size: int | None = None


U8 = Annotated[int, Int("u8", "B", 1, False)]
U16 = Annotated[int, Int("u16", "H", 2, False)]
U32 = Annotated[int, Int("u32", "I", 4, False)]
I32 = Annotated[int, Int("i32", "i", 4, True)]
U64 = Annotated[int, Int("u64", "Q", 8, False)]
Bytes = Annotated[bytes, Tail("bytes")]
Ascii = Annotated[str, Tail("ascii")]


@dataclass(frozen=True)
class Field:
    """A fixed-width field at ``offset`` of the payload, followed by ``pad`` zero bytes."""

    name: str
    type: Int
    offset: int
    pad: int = 0


@dataclass(frozen=True)
class TailField:
    """The variable-length tail, from ``offset`` (the fixed part's size) to the end of the payload."""

    name: str
    kind: Literal["bytes", "ascii"]
    offset: int
    max_size: int | None


R = TypeVar("R", bound="tuple[Any, ...]")


class Message(Generic[R]):
    """One payload layout and its codec: ``record`` (a NamedTuple of annotated fields) is the
    declaration; ``frame`` and ``direction`` say which frame carries it."""

    def __init__(
        self, frame: FrameType, direction: Literal["request", "answer"], record: type[R], name: str | None = None
    ) -> None:
        self.frame, self.direction, self.record = frame, direction, record
        self.name = name or f"{frame.name}_{direction.upper()}"
        self.doc = " ".join((record.__doc__ or "").split())
        self._make: Callable[..., R] = record
        fields: list[Field] = []
        tail: TailField | None = None
        offset = 0
        names: tuple[str, ...] | None = getattr(record, "_fields", None)
        if names is None:
            raise SchemaError(f"{self.name}: declare the payload as a NamedTuple, not {record!r}")
        hints = get_type_hints(record, include_extras=True)
        for fname in names:
            if tail is not None:
                raise SchemaError(f"{self.name}: field {fname} follows the variable-length tail {tail.name}")
            hint = hints[fname]
            meta = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
            ints = [m for m in meta if isinstance(m, Int)]
            tails = [m for m in meta if isinstance(m, Tail)]
            pad = sum(m.size for m in meta if isinstance(m, Pad))
            if len(ints) + len(tails) != 1:
                raise SchemaError(
                    f"{self.name}.{fname}: annotate it with exactly one wire type "
                    "(U8, U16, U32, I32, U64, Bytes, Ascii)"
                )
            if tails:
                if pad:
                    raise SchemaError(f"{self.name}.{fname}: a tail takes no padding")
                tail = TailField(fname, tails[0].kind, offset, tails[0].max_size)
            else:
                fields.append(Field(fname, ints[0], offset, pad))
                offset += ints[0].size + pad
        self.fields: tuple[Field, ...] = tuple(fields)
        self.tail = tail
        self.struct = struct.Struct("<" + "".join(f.type.code + (f"{f.pad}x" if f.pad else "") for f in fields))
        assert self.struct.size == offset

    @property
    def size(self) -> int:
        """Bytes of the fixed part (the whole payload when there is no tail)."""
        return self.struct.size

    def __repr__(self) -> str:
        return f"<wire message {self.name}: {self.describe()}>"

    def describe(self) -> str:
        """The layout in the docs' words, e.g. ``offset u32, length u16``."""
        parts = [f"{f.name} {f.type.name}" + (f" + {f.pad} zero bytes" if f.pad else "") for f in self.fields]
        if self.tail is not None:
            limit = f" (<= {self.tail.max_size})" if self.tail.max_size is not None else ""
            parts.append(f"{self.tail.name} {self.tail.kind}{limit}")
        return ", ".join(parts) or "empty"

    def encode(self, **fields: Any) -> bytes:
        """The payload holding ``fields`` (every field by name)."""
        return self.pack(self._make(**fields))

    def pack(self, record: R) -> bytes:
        """The payload holding ``record``."""
        values = tuple(record)
        for f, v in zip(self.fields, values):
            if isinstance(v, bool) or not isinstance(v, int) or not f.type.lo <= v <= f.type.hi:
                raise ValueError(f"{self.name}.{f.name} = {v!r} is not a {f.type.name} ({f.type.lo} .. {f.type.hi})")
        out = self.struct.pack(*values[: len(self.fields)])
        if self.tail is None:
            return out
        rest = values[len(self.fields)]
        if self.tail.kind == "ascii":
            if not isinstance(rest, str) or not rest.isascii():
                raise ValueError(f"{self.name}.{self.tail.name} = {rest!r} is not ASCII text")
            data = rest.encode("ascii")
        else:
            if not isinstance(rest, (bytes, bytearray, memoryview)):
                raise ValueError(f"{self.name}.{self.tail.name} must be bytes, not {type(rest).__name__}")
            data = bytes(rest)
        if self.tail.max_size is not None and len(data) > self.tail.max_size:
            raise ValueError(f"{self.name}.{self.tail.name}: {len(data)} bytes, at most {self.tail.max_size}")
        return out + data

    def decode(self, payload: bytes) -> R:
        """The record a payload holds; ValueError when its size does not fit the layout."""
        if len(payload) < self.size:
            raise ValueError(f"{self.name} payload of {len(payload)} bytes is shorter than its {self.size}-byte layout")
        if self.tail is None and len(payload) != self.size:
            raise ValueError(f"{self.name} payload of {len(payload)} bytes; the layout has {self.size}")
        values: list[Any] = list(self.struct.unpack_from(payload))
        if self.tail is not None:
            rest = bytes(payload[self.size :])
            values.append(rest.decode("ascii", "replace") if self.tail.kind == "ascii" else rest)
        return self._make(*values)


# --- the payloads ----------------------------------------------------------------------------------


class Empty(NamedTuple):
    """No payload."""


class InfoAnswer(NamedTuple):
    """What the firmware and board are. Uptime is in units of 1024 counter ticks;
    instructions_per_tick is 0 when the counter counts cycles."""

    protocol_version: U8
    firmware_major: U8
    firmware_minor: U8
    firmware_patch: U8
    sram_bytes: U32
    flash_bytes: U32
    static_ram_bytes: U32  # .data + .bss + stack region
    stack_bytes: U32
    stack_high_water_bytes: U32
    counter_hz: U32
    instructions_per_tick: U32
    uptime_1024_ticks: U32
    max_payload: U16
    frame_idle_ms: U16
    model_digest: U64  # first 8 bytes of the model's SHA-256 (Graph.digest); 0: no model
    train_digest: U64  # first 8 bytes of the training plan's (TrainPlan.digest); 0: no training
    board: Annotated[str, Tail("ascii", max_size=32)]


class Data(NamedTuple):
    """Raw bytes, the whole payload."""

    data: Bytes


class ModelInfoAnswer(NamedTuple):
    """The generated model: sizes, input format (real = scale * (q - zero_point); the scale as
    IEEE-754 float bits), classifier outputs and name."""

    arena_size: U32
    input_size: U32
    output_size: U32
    op_count: U32
    input_height: U16
    input_width: U16
    input_channels: U16
    classes: U16
    input_zero_point: I32
    input_scale_f32: U32
    name: Annotated[str, Tail("ascii", max_size=48)]


class InputWriteRequest(NamedTuple):
    """Bytes to write into the model input at ``offset``."""

    offset: U32
    data: Bytes


class InvokeAnswer(NamedTuple):
    """Status and cost of one model invocation."""

    status: I32
    ticks: U64
    instructions_per_tick: U32
    stack_high_water: U32


class ReadRequest(NamedTuple):
    """Read ``length`` bytes from ``offset``."""

    offset: U32
    length: U16


class TrainStepRequest(NamedTuple):
    """Apply step number ``step`` (the device's steps done) with ``label`` to the uploaded input."""

    step: U32
    label: I32


class TrainStepAnswer(NamedTuple):
    """What one training step did (kt_train_result) and what it cost."""

    step: U32
    status: I32
    p_label_q15: U32
    predicted: I32
    saturated: U32
    ticks: U64
    stack_high_water: U32


class TrainInfoAnswer(NamedTuple):
    """Steps done, bytes of the trainable parameters, the learning-rate exponent in force (lr =
    compiled lr * 2^lr_shift), the EVAL counters (frames, right answers) since their restart, and
    the newest valid checkpoint in the store (sequence number and steps; 0, 0: none)."""

    steps_done: U32
    params_size: U32
    lr_shift: I32
    eval_seen: U32
    eval_correct: U32
    checkpoint_seq: U32
    checkpoint_steps: U32


class ResetRequest(NamedTuple):
    """Restart as from power-on (the newest valid checkpoint is restored at boot);
    ``erase_checkpoints`` = 1 erases both checkpoint slots first, so the device restarts from the
    flashed parameters."""

    erase_checkpoints: Annotated[U8, Pad(3)]


class CheckpointAnswer(NamedTuple):
    """A checkpoint written (CHECKPOINT) or restored (RESTORE): its slot (0 or 1), sequence number
    (the newer valid slot wins), the training state it holds (steps done, lr_shift), the bytes of
    its payload (the SRAM parameters and the gradient exponents) and their CRC-32."""

    slot: Annotated[U8, Pad(3)]
    seq: U32
    steps: U32
    lr_shift: I32
    payload_size: U32
    payload_crc: U32


class EvalRequest(NamedTuple):
    """Classify the uploaded input and count the answer against ``label``; ``restart`` = 1 sets
    the counters to zero first."""

    label: I32
    restart: Annotated[U8, Pad(3)]


class EvalAnswer(NamedTuple):
    """The forward pass's answer (status 0 = OK; nothing counted otherwise) and the counters."""

    status: I32
    predicted: I32
    p_label_q15: U32
    eval_seen: U32
    eval_correct: U32
    ticks: U64


class InferAnswer(NamedTuple):
    """The forward pass on the uploaded input: status, argmax, cost and the int8 logits."""

    status: I32
    predicted: I32
    ticks: U64
    logits: Bytes


class LrShift(NamedTuple):
    """The learning-rate exponent: following steps update at compiled lr * 2^lr_shift."""

    lr_shift: I32


class ProfileRequest(NamedTuple):
    """Read ``length`` entries of the per-op profile from entry ``first``."""

    first: U16
    length: U16


class ProfileAnswer(NamedTuple):
    """The per-op profile of a ``-DKT_PROFILE`` build (``entries`` = 0 in any other build): counter
    ticks per profiled region since reset (codegen.train.ProfileEntry), u64 little-endian each,
    from entry ``first``."""

    entries: U16
    first: U16
    ticks: Bytes


class ErrorPayload(NamedTuple):
    """Why the device did not answer a frame (or what it dropped): an ErrorCode and its detail."""

    code: Annotated[U8, Pad(3)]
    detail: U32


INFO_REQUEST = Message(FrameType.INFO, "request", Empty)
INFO_ANSWER = Message(FrameType.INFO, "answer", InfoAnswer)
ECHO_REQUEST = Message(FrameType.ECHO, "request", Data)
ECHO_ANSWER = Message(FrameType.ECHO, "answer", Data)
RESET_REQUEST = Message(FrameType.RESET, "request", ResetRequest)
RESET_ANSWER = Message(FrameType.RESET, "answer", Empty)
MODEL_INFO_REQUEST = Message(FrameType.MODEL_INFO, "request", Empty)
MODEL_INFO_ANSWER = Message(FrameType.MODEL_INFO, "answer", ModelInfoAnswer)
INPUT_WRITE_REQUEST = Message(FrameType.INPUT_WRITE, "request", InputWriteRequest)
INPUT_WRITE_ANSWER = Message(FrameType.INPUT_WRITE, "answer", Empty)
INVOKE_REQUEST = Message(FrameType.INVOKE, "request", Empty)
INVOKE_ANSWER = Message(FrameType.INVOKE, "answer", InvokeAnswer)
OUTPUT_READ_REQUEST = Message(FrameType.OUTPUT_READ, "request", ReadRequest)
OUTPUT_READ_ANSWER = Message(FrameType.OUTPUT_READ, "answer", Data)
TRAIN_STEP_REQUEST = Message(FrameType.TRAIN_STEP, "request", TrainStepRequest)
TRAIN_STEP_ANSWER = Message(FrameType.TRAIN_STEP, "answer", TrainStepAnswer)
PARAMS_READ_REQUEST = Message(FrameType.PARAMS_READ, "request", ReadRequest)
PARAMS_READ_ANSWER = Message(FrameType.PARAMS_READ, "answer", Data)
TRAIN_INFO_REQUEST = Message(FrameType.TRAIN_INFO, "request", Empty)
TRAIN_INFO_ANSWER = Message(FrameType.TRAIN_INFO, "answer", TrainInfoAnswer)
EVAL_REQUEST = Message(FrameType.EVAL, "request", EvalRequest)
EVAL_ANSWER = Message(FrameType.EVAL, "answer", EvalAnswer)
INFER_REQUEST = Message(FrameType.INFER, "request", Empty)
INFER_ANSWER = Message(FrameType.INFER, "answer", InferAnswer)
SET_LR_REQUEST = Message(FrameType.SET_LR, "request", LrShift)
SET_LR_ANSWER = Message(FrameType.SET_LR, "answer", LrShift)
CHECKPOINT_REQUEST = Message(FrameType.CHECKPOINT, "request", Empty)
CHECKPOINT_ANSWER = Message(FrameType.CHECKPOINT, "answer", CheckpointAnswer)
RESTORE_REQUEST = Message(FrameType.RESTORE, "request", Empty)
RESTORE_ANSWER = Message(FrameType.RESTORE, "answer", CheckpointAnswer)
PROFILE_REQUEST = Message(FrameType.PROFILE, "request", ProfileRequest)
PROFILE_ANSWER = Message(FrameType.PROFILE, "answer", ProfileAnswer)
ERROR = Message(FrameType.ERROR, "answer", ErrorPayload, name="ERROR")

#: Every payload of the protocol, in frame-type order (request before answer).
MESSAGES: tuple[Message[Any], ...] = (
    INFO_REQUEST,
    INFO_ANSWER,
    ECHO_REQUEST,
    ECHO_ANSWER,
    RESET_REQUEST,
    RESET_ANSWER,
    MODEL_INFO_REQUEST,
    MODEL_INFO_ANSWER,
    INPUT_WRITE_REQUEST,
    INPUT_WRITE_ANSWER,
    INVOKE_REQUEST,
    INVOKE_ANSWER,
    OUTPUT_READ_REQUEST,
    OUTPUT_READ_ANSWER,
    TRAIN_STEP_REQUEST,
    TRAIN_STEP_ANSWER,
    PARAMS_READ_REQUEST,
    PARAMS_READ_ANSWER,
    TRAIN_INFO_REQUEST,
    TRAIN_INFO_ANSWER,
    EVAL_REQUEST,
    EVAL_ANSWER,
    INFER_REQUEST,
    INFER_ANSWER,
    SET_LR_REQUEST,
    SET_LR_ANSWER,
    CHECKPOINT_REQUEST,
    CHECKPOINT_ANSWER,
    RESTORE_REQUEST,
    RESTORE_ANSWER,
    PROFILE_REQUEST,
    PROFILE_ANSWER,
    ERROR,
)


# --- version and digest ----------------------------------------------------------------------------


def schema_text(messages: Iterable[Message[Any]] = MESSAGES) -> str:
    """The schema as canonical text (names, types, offsets, frame types, error codes): what the
    digest covers. Docstrings and comments are not part of it."""
    lines = [f"frame {t.name} {t.value:#04x}" for t in FrameType] + [f"answer {ANSWER:#04x}"]
    lines += [f"error {c.name} {c.value}" for c in ErrorCode]
    for m in messages:
        parts = [f"{f.name}:{f.type.name}@{f.offset}" + (f"+{f.pad}" if f.pad else "") for f in m.fields]
        if m.tail is not None:
            limit = f"<={m.tail.max_size}" if m.tail.max_size is not None else ""
            parts.append(f"{m.tail.name}:{m.tail.kind}@{m.tail.offset}{limit}")
        lines.append(f"message {m.name} {m.frame.name} {m.direction} {m.size} " + " ".join(parts))
    return "\n".join(lines) + "\n"


def schema_digest(messages: Iterable[Message[Any]] = MESSAGES) -> int:
    """32-bit digest of :func:`schema_text` (``KT_WIRE_SCHEMA_DIGEST``)."""
    return int.from_bytes(hashlib.sha256(schema_text(messages).encode()).digest()[:4], "big")


def check_schema(
    messages: Sequence[Message[Any]] = MESSAGES, version: int = SCHEMA_VERSION, history: dict[int, int] | None = None
) -> int:
    """The schema's digest, after checking that it is the one recorded for ``version`` in
    :data:`SCHEMA_HISTORY` (a changed layout needs a new version) and that message names are unique.
    SchemaError (one line) otherwise."""
    history = SCHEMA_HISTORY if history is None else history
    names = [m.name for m in messages]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SchemaError(f"wire schema: message names {dup} appear more than once")
    digest = schema_digest(messages)
    if version < max(history, default=version):
        raise SchemaError(
            f"wire schema: SCHEMA_VERSION {version} is older than the newest version in SCHEMA_HISTORY "
            f"({max(history)}) in {SOURCE}"
        )
    recorded = history.get(version)
    if recorded is None:
        raise SchemaError(
            f"wire schema: SCHEMA_HISTORY in {SOURCE} has no digest for SCHEMA_VERSION {version}; "
            f"record {version}: {digest:#010x} there"
        )
    if recorded != digest:
        raise SchemaError(
            f"wire schema changed without a version bump: digest {digest:#010x}, SCHEMA_HISTORY records "
            f"{recorded:#010x} for SCHEMA_VERSION {version}; in {SOURCE} set SCHEMA_VERSION = "
            f"{version + 1} and record {version + 1}: {digest:#010x}, then update the C runtime "
            f"(firmware/app/kt_app.c, KT_WIRE_RUNTIME_VERSION in include/kt_app.h)"
        )
    return digest


# --- the C header ----------------------------------------------------------------------------------

HEADER_NAME = "kt_wire.h"


def _c_lines(text: str, width: int = 96) -> list[str]:
    """``text`` wrapped into `` * `` comment lines."""
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(f" * {line}")
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(f" * {line}")
    return out


def _frame_doc(t: FrameType, messages: Sequence[Message[Any]]) -> str:
    """``request KT_WIRE_X_REQUEST, answer KT_WIRE_X_ANSWER``: the payloads a frame type carries."""
    return ", ".join(f"{m.direction} KT_WIRE_{m.name}" for m in messages if m.frame == t)


def c_header(version: str = "", messages: Sequence[Message[Any]] = MESSAGES) -> str:
    """The text of kt_wire.h (``version``: kilotrain's, for the banner). Checks the schema first
    (:func:`check_schema`) when ``messages`` is the protocol's."""
    digest = check_schema(messages) if messages is MESSAGES else schema_digest(messages)
    w = [
        "/* kt_wire.h: generated by kilotrain" + (f" v{version}" if version else "") + f" from {SOURCE}",
        " * -- do not edit, do not commit. It is written into the build tree at every build",
        " * (tools/pio/model_sources.py).",
        " *",
        " * The payload layouts of the serial protocol (docs/protocol.md): per message its fixed size,",
        " * field offsets and little-endian put/get helpers that work byte by byte (any alignment).",
        " * A put of a field also writes the zero bytes that follow it, so putting every field fills",
        " * the fixed part; a variable-length tail starts at the _OFFSET of its name. */",
        "#ifndef KT_WIRE_H",
        "#define KT_WIRE_H",
        "",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        "/** Version of the layouts (SCHEMA_VERSION in wire.py); the C runtime checks it. */",
        f"#define KT_WIRE_SCHEMA_VERSION {SCHEMA_VERSION}",
        "/** Digest of the layouts, frame types and error codes (wire.schema_digest). */",
        f"#define KT_WIRE_SCHEMA_DIGEST 0x{digest:08X}u",
        "",
        "/** Frame types. Answers to a request carry the request type | KT_FRAME_ANSWER. */",
        "enum kt_wire_frame_type {",
    ]
    w += [f"    KT_FRAME_{t.name} = 0x{t.value:02X}, /**< {_frame_doc(t, messages)} */" for t in FrameType]
    w += [
        f"    KT_FRAME_ANSWER = 0x{ANSWER:02X}",
        "};",
        "",
        "/** Error codes carried by a KT_FRAME_ERROR frame. */",
        "enum kt_wire_error {",
    ]
    w += [f"    KT_ERR_{c.name} = {c.value}, /**< {ERROR_DETAIL[c]} */" for c in ErrorCode]
    w += ["};", ""]
    w += _c_primitives()
    for m in messages:
        w += _c_message(m)
    w += ["#ifdef __cplusplus", "}", "#endif", "", "#endif /* KT_WIRE_H */", ""]
    return "\n".join(w)


_INTS = (get_args(U8)[1], get_args(U16)[1], get_args(U32)[1], get_args(I32)[1], get_args(U64)[1])


def _c_primitives() -> list[str]:
    w = ["/* Little-endian access, one byte at a time (no alignment needed, no packed structs). */"]
    for t in _INTS:
        if t.signed:
            u = f"uint{8 * t.size}_t"
            w += [
                f"static inline void kt_wire_put_{t.name}(uint8_t *p, {t.ctype} v)",
                "{",
                f"    kt_wire_put_u{8 * t.size}(p, ({u})v);",
                "}",
                f"static inline {t.ctype} kt_wire_get_{t.name}(const uint8_t *p)",
                "{",
                f"    return ({t.ctype})kt_wire_get_u{8 * t.size}(p);",
                "}",
            ]
            continue
        if t.size == 8:  # two u32 halves, low first
            w += [
                f"static inline void kt_wire_put_{t.name}(uint8_t *p, {t.ctype} v)",
                "{",
                "    kt_wire_put_u32(p, (uint32_t)v);",
                "    kt_wire_put_u32(p + 4, (uint32_t)(v >> 32));",
                "}",
                f"static inline {t.ctype} kt_wire_get_{t.name}(const uint8_t *p)",
                "{",
                f"    return ({t.ctype})kt_wire_get_u32(p) | (({t.ctype})kt_wire_get_u32(p + 4) << 32);",
                "}",
            ]
            continue
        puts = [f"    p[{i}] = (uint8_t)" + (f"(v >> {8 * i});" if i else "v;") for i in range(t.size)]
        gets = " | ".join(f"(({t.ctype})p[{i}] << {8 * i})" if i else f"({t.ctype})p[0]" for i in range(t.size))
        if t.size < 4:  # the shifts and ors happen in int
            gets = f"({t.ctype})({gets})"
        w += [
            f"static inline void kt_wire_put_{t.name}(uint8_t *p, {t.ctype} v)",
            "{",
            *puts,
            "}",
            f"static inline {t.ctype} kt_wire_get_{t.name}(const uint8_t *p)",
            "{",
            f"    return {gets};",
            "}",
        ]
    return [*w, ""]


def _c_message(m: Message[Any]) -> list[str]:
    p = f"KT_WIRE_{m.name}"
    fn = f"kt_wire_{m.name.lower()}"
    who = "device -> host" if m.direction == "answer" else "host -> device"
    w = [
        "/*",
        *_c_lines(f"{m.name} ({who}, frame type 0x{m.frame.value:02X}): {m.describe()}. {m.doc}"),
        " */",
        f"#define {p}_SIZE {m.size}u",
    ]
    for f in m.fields:
        off = f"{p}_{f.name.upper()}_OFFSET"
        w.append(f"#define {off} {f.offset}u")
    if m.tail is not None:
        tail = f"{p}_{m.tail.name.upper()}"
        w.append(f"#define {tail}_OFFSET {m.tail.offset}u /* {m.tail.kind}, to the end of the payload */")
        if m.tail.max_size is not None:
            w.append(f"#define {tail}_MAX_SIZE {m.tail.max_size}u")
    for f in m.fields:
        off = f"{p}_{f.name.upper()}_OFFSET"
        zeros = [f"    msg[{off} + {f.type.size}u + {i}u] = 0u;" for i in range(f.pad)]
        w += [
            f"static inline void {fn}_put_{f.name}(uint8_t *msg, {f.type.ctype} v)",
            "{",
            f"    kt_wire_put_{f.type.name}(msg + {off}, v);",
            *zeros,
            "}",
            f"static inline {f.type.ctype} {fn}_get_{f.name}(const uint8_t *msg)",
            "{",
            f"    return kt_wire_get_{f.type.name}(msg + {off});",
            "}",
        ]
    return [*w, ""]


def write_c_header(path: str | os.PathLike[str], version: str = "") -> bool:
    """Write :func:`c_header` to ``path`` unless it already holds exactly that (incremental
    builds); True when it wrote."""
    target = Path(path)
    text = c_header(version)
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return True
