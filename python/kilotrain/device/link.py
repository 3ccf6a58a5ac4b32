"""Talk to a kilotrain device (a board, QEMU or the native build) over a byte stream."""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import Any, Protocol, TypeVar

from kilotrain.device.protocol import (
    ANSWER,
    ErrorCode,
    Frame,
    FrameDecoder,
    FrameType,
    Info,
    encode,
)
from kilotrain.device.wire import Message

R = TypeVar("R", bound="tuple[Any, ...]")


class Port(Protocol):
    """The part of pyserial's ``Serial`` kilotrain uses."""

    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    def close(self) -> None: ...


class DeviceError(RuntimeError):
    """The device answered with an ERROR frame."""

    def __init__(self, code: ErrorCode, detail: int, seq: int) -> None:
        super().__init__(f"device error {code.name} (detail {detail}) for frame seq {seq}")
        self.code, self.detail, self.seq = code, detail, seq


class DeviceTimeout(TimeoutError):
    """No (complete) answer arrived in time."""


class PipePort:
    """A Port over a child process's stdin/stdout (the native firmware build)."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float = 1.0) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self.timeout = proc, timeout
        self._in, self._out = proc.stdin, proc.stdout

    def write(self, data: bytes) -> int:
        self._in.write(data)
        self._in.flush()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        ready, _, _ = select.select([self._out], [], [], self.timeout)
        if not ready:
            return b""
        return os.read(self._out.fileno(), size)

    def close(self) -> None:
        if self.proc.poll() is None:
            self._in.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


#: Reports that carry the request's seq but mean the device never executed it: the line paused
#: inside the frame (TRUNCATED), its bytes were damaged (CRC) or its length field was (LENGTH).
NOT_EXECUTED = (ErrorCode.TRUNCATED, ErrorCode.CRC, ErrorCode.LENGTH)
#: Reports with seq 0 about bytes the device dropped without seeing their seq: a pause before a
#: frame's seq byte (GARBAGE after a lone 'K', TRUNCATED after 'KT' or 'KT' + type) loses the
#: request with no report the host can tie to it.
MAYBE_LOST = (ErrorCode.TRUNCATED, ErrorCode.GARBAGE)


def _maybe_lost(frame: Frame) -> bool:
    """A seq-0 report that the request being waited for may have been dropped unexecuted."""
    if frame.seq != 0 or not frame.is_error:
        return False
    try:
        return frame.error()[0] in MAYBE_LOST
    except ValueError:
        return False


class Device:
    """Request/answer exchange with sequence numbers over any Port."""

    def __init__(
        self, port: Port, timeout: float = 10.0, resend_after: float | None = None, lost_after: float = 1.0
    ) -> None:
        self.port = port
        self.timeout = timeout
        #: Resend a request (same seq) after this long without its answer, until ``timeout``: for
        #: lossy links (every request is safe to repeat, docs/protocol.md). None: never.
        self.resend_after = resend_after
        #: After a seq-0 TRUNCATED / GARBAGE report, resend (same seq, counted in ``resends``) once
        #: the line has been silent this long: the report may be about the request's own header.
        self.lost_after = lost_after
        self._decoder = FrameDecoder()
        self._pending: list[Frame] = []
        self._seq = 0
        self.resends = 0  # requests sent again (after CRC / TRUNCATED reports or a silence)

    def next_seq(self) -> int:
        """1, 2, ..., 255, 1, ...: never 0, the seq of the device's reports about bytes it could not
        tie to a frame (GARBAGE, a header cut short), so no such report is taken for an answer."""
        self._seq = self._seq % 255 + 1
        return self._seq

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use this to send broken frames)."""
        self.port.write(data)

    def read_frame(self, timeout: float | None = None) -> Frame:
        """The next frame from the device, or DeviceTimeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._pending:
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"no frame from the device within {timeout or self.timeout:.1f} s")
            # pyserial's read(n) waits for n bytes or its timeout: ask for what is waiting (at least 1)
            waiting = getattr(self.port, "in_waiting", None)
            chunk = self.port.read(max(1, waiting) if waiting is not None else 4096)
            if chunk:
                self._pending.extend(self._decoder.feed(chunk))
        return self._pending.pop(0)

    def request(self, type_: int, payload: bytes = b"", timeout: float | None = None, resends: int = 3) -> Frame:
        """Send one request and return its answer; an ERROR answer raises DeviceError.

        A request the device reports as cut short (TRUNCATED: the line paused inside the frame for
        longer than the device's idle timeout, e.g. a busy host) or damaged (CRC, or LENGTH: a
        length field hit by noise) was not executed, so it is sent again with the same sequence
        number, up to ``resends`` times (with ``resend_after``: until the timeout)."""
        seq = self.next_seq()
        data = encode(type_, seq, payload)
        self.port.write(data)
        sent = 0
        total = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        lost = False  # a seq-0 report may have been about this request's header
        while True:
            wait = deadline - time.monotonic()
            if self.resend_after is not None:
                wait = min(wait, self.resend_after)
            if lost:
                wait = min(wait, self.lost_after)
            try:
                frame = self.read_frame(max(wait, 0.0))
            except DeviceTimeout:
                if time.monotonic() >= deadline or (self.resend_after is None and not lost):
                    raise DeviceTimeout(f"no answer from the device within {total:.1f} s") from None
                if lost:  # re-armed only by a new seq-0 report
                    sent, lost = sent + 1, False
                self.resends += 1
                self.port.write(data)
                continue
            if frame.seq != seq:
                lost = lost or (_maybe_lost(frame) and sent < resends)
                continue  # a stale answer or error about earlier bytes
            if frame.is_error:
                code, detail = frame.error()
                again = sent < resends or (self.resend_after is not None and time.monotonic() < deadline)
                if code in NOT_EXECUTED and again:
                    sent += 1
                    self.resends += 1
                    self.port.write(data)
                    continue
                raise DeviceError(code, detail, frame.seq)
            if frame.type != (type_ | ANSWER):
                raise DeviceError(ErrorCode.UNKNOWN_TYPE, frame.type, frame.seq)
            return frame

    def call(self, request: Message[Any], answer: Message[R], timeout: float | None = None, **fields: Any) -> R:
        """Send ``request`` holding ``fields`` and decode the answer as ``answer`` (wire layouts)."""
        if answer.frame != request.frame:
            raise ValueError(f"{answer.name} does not answer {request.name}")
        return answer.decode(self.request(request.frame, request.encode(**fields), timeout).payload)

    def info(self) -> Info:
        return Info.parse(self.request(FrameType.INFO).payload)

    def echo(self, data: bytes) -> bytes:
        return self.request(FrameType.ECHO, data).payload

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
