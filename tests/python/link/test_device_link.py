"""The framed serial link to the firmware, on the native build (stdin/stdout) and on the
emulated Cortex-M7 (QEMU, UART on a loopback TCP port, pyserial socket://)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kilotrain
from kilotrain.device import wire
from kilotrain.device.boards import NativeBoard, QemuBoard
from kilotrain.device.link import Device, DeviceError
from kilotrain.device.protocol import ErrorCode, FrameType, encode

MAX_PAYLOAD = 2048


@pytest.fixture(scope="module", params=["native", pytest.param("qemu", marks=pytest.mark.qemu)])
def device(request: pytest.FixtureRequest) -> Iterator[Device]:
    if request.param == "native":
        program: Path = request.getfixturevalue("native_program")
        with NativeBoard(program) as board:
            yield board.device
    else:
        elf: Path = request.getfixturevalue("qemu_elf")
        with QemuBoard(elf) as board:
            yield board.device


def _expect_error(device: Device, code: ErrorCode) -> tuple[int, int]:
    frame = device.read_frame(timeout=20)
    assert frame.is_error, f"expected an ERROR frame, got type {frame.type:#x}"
    got, detail = frame.error()
    assert got == code
    return frame.seq, detail


def test_info_round_trip(device: Device) -> None:
    info = device.info()
    assert info.protocol_version == wire.PROTOCOL_VERSION
    assert info.firmware_version == kilotrain.__version__
    assert info.max_payload == MAX_PAYLOAD
    assert (info.model_digest, info.train_digest) == (0, 0)  # the model-less image
    if info.board == "qemu_mps2_an500":
        assert info.sram_bytes == 320 * 1024 and info.flash_bytes == 1024 * 1024
        assert info.instructions_per_tick == 40 and info.counter_hz == 25_000_000
        assert 0 < info.stack_high_water_bytes < info.stack_bytes <= info.static_ram_bytes < info.sram_bytes
    else:
        assert info.board == "native"


def test_echo_largest_payload(device: Device) -> None:
    data = bytes((i * 31 + 7) & 0xFF for i in range(MAX_PAYLOAD))
    assert device.echo(data) == data
    assert device.echo(b"") == b""


def test_bad_crc_gets_error_and_device_keeps_serving(device: Device) -> None:
    raw = bytearray(encode(FrameType.ECHO, 77, b"hello"))
    raw[-2] ^= 0x40
    device.send_raw(bytes(raw))
    seq, _ = _expect_error(device, ErrorCode.CRC)
    assert seq == 77
    assert device.echo(b"still here") == b"still here"


def test_truncated_frame_gets_error_after_idle(device: Device) -> None:
    raw = encode(FrameType.ECHO, 78, b"0123456789")
    device.send_raw(raw[:9])
    seq, detail = _expect_error(device, ErrorCode.TRUNCATED)
    assert (seq, detail) == (78, 9)
    assert device.info().protocol_version == wire.PROTOCOL_VERSION


def test_garbage_bytes_get_error(device: Device) -> None:
    device.send_raw(b"\x00\x13garbage\xff")
    _, detail = _expect_error(device, ErrorCode.GARBAGE)
    assert detail == 10
    assert device.echo(b"after garbage") == b"after garbage"


def test_garbage_right_before_a_frame(device: Device) -> None:
    seq = device.next_seq()
    device.send_raw(b"noise" + encode(FrameType.ECHO, seq, b"x"))
    _, detail = _expect_error(device, ErrorCode.GARBAGE)
    assert detail == 5
    answer = device.read_frame()
    assert (answer.type, answer.seq, answer.payload) == (FrameType.ECHO | 0x80, seq, b"x")


def test_length_over_limit_and_unknown_type(device: Device) -> None:
    big = MAX_PAYLOAD + 1
    device.send_raw(b"KT\x02\x09" + big.to_bytes(2, "little"))
    _, detail = _expect_error(device, ErrorCode.LENGTH)
    assert detail == big
    time.sleep(0.2)
    with pytest.raises(DeviceError) as err:
        device.request(0x55)
    assert err.value.code == ErrorCode.UNKNOWN_TYPE
    with pytest.raises(DeviceError) as err:
        device.request(FrameType.INFO, b"\x01")
    assert err.value.code == ErrorCode.BAD_PAYLOAD
    assert device.info().protocol_version == wire.PROTOCOL_VERSION


class _StallOnce:
    """A port that pauses for ``pause`` s in the middle of the first frame it writes (a busy host)."""

    def __init__(self, port: object, pause: float) -> None:
        self.port, self.pause, self.stalled = port, pause, False

    def write(self, data: bytes) -> int | None:
        if not self.stalled and len(data) > 12:
            self.stalled = True
            self.port.write(data[:9])  # type: ignore[attr-defined]
            time.sleep(self.pause)
            return self.port.write(data[9:])  # type: ignore[attr-defined,no-any-return]
        return self.port.write(data)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.port, name)


def test_a_frame_cut_by_a_pause_is_sent_again(device: Device) -> None:
    """The device drops a frame that pauses longer than its idle timeout (TRUNCATED) and has not
    executed it: the host sends it again instead of failing (a CI flake under load before)."""
    real = device.port
    device.port = _StallOnce(real, pause=1.5)  # type: ignore[assignment]
    try:
        assert device.echo(b"0123456789abcdef") == b"0123456789abcdef"
        assert device.port.stalled  # type: ignore[attr-defined]
    finally:
        device.port = real
    assert device.echo(b"after") == b"after"


class _StallAt:
    """A port that pauses for ``pause`` s after the first ``cut`` bytes of the first frame it writes."""

    def __init__(self, port: object, cut: int, pause: float) -> None:
        self.port, self.cut, self.pause, self.stalled = port, cut, pause, False

    def write(self, data: bytes) -> int | None:
        if not self.stalled and len(data) > 12:
            self.stalled = True
            self.port.write(data[: self.cut])  # type: ignore[attr-defined]
            time.sleep(self.pause)
            return self.port.write(data[self.cut :])  # type: ignore[attr-defined,no-any-return]
        return self.port.write(data)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.port, name)


@pytest.mark.parametrize("board", ["native", pytest.param("qemu", marks=pytest.mark.qemu)])
@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_frame_cut_before_its_seq_is_sent_again(request: pytest.FixtureRequest, board: str, cut: int) -> None:
    """A pause before the seq byte (after 'K', 'KT' or 'KT' + type) makes the device drop the frame
    with a seq-0 report (GARBAGE or TRUNCATED) the host cannot tie to its request: the host used to
    wait out its whole timeout (test_steps_apply_exactly_once under load: QEMU without -icount,
    where the 50 ms idle timeout is wall time). It now resends after a silence."""
    if board == "native":
        opened: NativeBoard | QemuBoard = NativeBoard(request.getfixturevalue("native_program"), timeout=5.0)
    else:
        opened = QemuBoard(request.getfixturevalue("qemu_elf"), icount=False, timeout=5.0)
    with opened:
        dev = opened.device
        real = dev.port
        dev.port = _StallAt(real, cut, pause=0.4)  # type: ignore[assignment]
        try:
            assert dev.echo(b"0123456789abcdef") == b"0123456789abcdef"
            assert dev.port.stalled and dev.resends >= 1  # type: ignore[attr-defined]
        finally:
            dev.port = real
        assert dev.echo(b"after") == b"after"


def test_sequence_numbers_never_collide_with_noise_reports(native_program: Path) -> None:
    """The device reports bytes it could not tie to a frame with seq 0. The host's sequence
    numbers used to wrap 255 -> 0, so noise before the 256th request made the host take that report
    for the request's answer (a TRAIN_STEP applied while the host believed it failed)."""
    with NativeBoard(native_program) as board:
        dev = board.device
        for i in range(300):
            dev.send_raw(b"\x00")  # one noise byte: the device reports GARBAGE (seq 0) before answering
            assert dev.echo(i.to_bytes(2, "little")) == i.to_bytes(2, "little"), f"request {i + 1}"
        assert dev.next_seq() != 0
