"""The kilotrain serial protocol, host side: frame encoding, an incremental decoder, and the
INFO answer (docs/protocol.md). The device side is firmware/app/kt_frame.c. Payload layouts, frame
types and error codes are defined once in :mod:`kilotrain.device.wire` (re-exported here)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from kilotrain import contract
from kilotrain.device import wire
from kilotrain.device.wire import ANSWER, ErrorCode, FrameType

__all__ = ["ANSWER", "ErrorCode", "Frame", "FrameDecoder", "FrameType", "Info", "crc32", "encode"]

MAGIC = b"KT"
HEADER = struct.Struct("<2sBBH")  # magic, type, seq, len
TRAILER = struct.Struct("<I")  # crc32 of type..payload


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
        e = wire.ERROR.decode(self.payload)
        return ErrorCode(e.code), e.detail


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
    frame are counted in ``dropped`` (the host never answers them). A header declaring more than
    ``contract.FRAME_MAX_PAYLOAD`` bytes is noise: it is skipped at once, never waited for."""

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
            if length > contract.FRAME_MAX_PAYLOAD:  # no device sends this: noise that looks like a header
                self.dropped += 1
                del self._buf[:1]  # resynchronise on the next magic, as the device does
                continue
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
    model_digest: int = 0  # first 8 bytes of Graph.digest(); 0: a model-less image
    train_digest: int = 0  # first 8 bytes of TrainPlan.digest(); 0: no training step

    @classmethod
    def parse(cls, payload: bytes) -> Info:
        """The INFO answer (wire.INFO_ANSWER); ValueError when it is shorter than its layout."""
        a = wire.INFO_ANSWER.decode(payload)
        return cls(
            protocol_version=a.protocol_version,
            firmware_version=f"{a.firmware_major}.{a.firmware_minor}.{a.firmware_patch}",
            sram_bytes=a.sram_bytes,
            flash_bytes=a.flash_bytes,
            static_ram_bytes=a.static_ram_bytes,
            stack_bytes=a.stack_bytes,
            stack_high_water_bytes=a.stack_high_water_bytes,
            counter_hz=a.counter_hz,
            instructions_per_tick=a.instructions_per_tick,
            uptime_ticks=a.uptime_1024_ticks << 10,
            max_payload=a.max_payload,
            frame_idle_ms=a.frame_idle_ms,
            model_digest=a.model_digest,
            train_digest=a.train_digest,
            board=a.board,
        )
