"""The kilotrain serial protocol, host side: frame encoding, an incremental decoder, and the
payload layouts (docs/protocol.md). The device side is firmware/app/kt_frame.c."""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"KT"
HEADER = struct.Struct("<2sBBH")  # magic, type, seq, len
TRAILER = struct.Struct("<I")  # crc32 of type..payload
ANSWER = 0x80


class FrameType(enum.IntEnum):
    """Request types; the answer to a request carries ``type | ANSWER``."""

    INFO = 0x01
    ECHO = 0x02
    MODEL_INFO = 0x10
    INPUT_WRITE = 0x11
    INVOKE = 0x12
    OUTPUT_READ = 0x13
    TRAIN_STEP = 0x20
    PARAMS_READ = 0x21
    TRAIN_INFO = 0x22
    ERROR = 0x7F


class ErrorCode(enum.IntEnum):
    """Codes of an ERROR frame (see kt_frame.h)."""

    CRC = 1
    TRUNCATED = 2
    GARBAGE = 3
    LENGTH = 4
    UNKNOWN_TYPE = 5
    BAD_PAYLOAD = 6
    STEP_ORDER = 7


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    @property
    def is_error(self) -> bool:
        return self.type == FrameType.ERROR

    def error(self) -> tuple[ErrorCode, int]:
        """(code, detail) of an ERROR frame."""
        code, detail = struct.unpack_from("<B3xI", self.payload)
        return ErrorCode(code), detail


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame as bytes on the wire."""
    if not 0 <= type_ <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError(f"frame type {type_} and seq {seq} must be bytes (0..255)")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the 65535-byte frame limit")
    head = HEADER.pack(MAGIC, type_, seq, len(payload))
    return head + payload + TRAILER.pack(crc32(head[2:] + payload))


class FrameDecoder:
    """Feed received bytes; collect whole, CRC-checked frames. Bytes that do not form a valid
    frame are counted in ``dropped`` (the host never answers them)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(MAGIC)
            if start < 0:
                keep = 1 if self._buf.endswith(MAGIC[:1]) else 0
                self.dropped += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                return frames
            self.dropped += start
            del self._buf[:start]
            if len(self._buf) < HEADER.size:
                return frames
            _, type_, seq, length = HEADER.unpack_from(self._buf)
            total = HEADER.size + length + TRAILER.size
            if len(self._buf) < total:
                return frames
            body = bytes(self._buf[2 : HEADER.size + length])
            (crc,) = TRAILER.unpack_from(self._buf, HEADER.size + length)
            if crc != crc32(body):
                self.dropped += 1
                del self._buf[:1]  # resynchronise on the next magic
                continue
            frames.append(Frame(type_, seq, bytes(self._buf[HEADER.size : HEADER.size + length])))
            del self._buf[:total]


INFO_FIXED = struct.Struct("<4B8I2H")


@dataclass(frozen=True)
class Info:
    """The INFO answer: what the firmware and board are."""

    protocol_version: int
    firmware_version: str
    board: str
    sram_bytes: int
    flash_bytes: int
    static_ram_bytes: int
    stack_bytes: int
    stack_high_water_bytes: int
    counter_hz: int
    instructions_per_tick: int
    uptime_ticks: int
    max_payload: int
    frame_idle_ms: int

    @classmethod
    def parse(cls, payload: bytes) -> "Info":
        if len(payload) < INFO_FIXED.size:
            raise ValueError(f"INFO answer of {len(payload)} bytes is shorter than {INFO_FIXED.size}")
        f = INFO_FIXED.unpack_from(payload)
        return cls(
            protocol_version=f[0],
            firmware_version=f"{f[1]}.{f[2]}.{f[3]}",
            sram_bytes=f[4],
            flash_bytes=f[5],
            static_ram_bytes=f[6],
            stack_bytes=f[7],
            stack_high_water_bytes=f[8],
            counter_hz=f[9],
            instructions_per_tick=f[10],
            uptime_ticks=f[11] << 10,
            max_payload=f[12],
            frame_idle_ms=f[13],
            board=payload[INFO_FIXED.size :].decode("ascii", "replace"),
        )
