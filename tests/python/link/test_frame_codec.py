"""Host-side frame codec: encoding, incremental decoding, resynchronisation."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from kilotrain.device.protocol import FrameDecoder, FrameType, Info, encode


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600), st.integers(1, 64))
def test_round_trip_in_random_chunks(type_: int, seq: int, payload: bytes, chunk: int) -> None:
    wire = encode(type_, seq, payload) * 2
    dec = FrameDecoder()
    frames = []
    for i in range(0, len(wire), chunk):
        frames += dec.feed(wire[i : i + chunk])
    assert [(f.type, f.seq, f.payload) for f in frames] == [(type_, seq, payload)] * 2
    assert dec.dropped == 0


def test_wire_layout_matches_protocol_doc() -> None:
    wire = encode(FrameType.ECHO, 5, b"\x01\x02")
    assert wire[:6] == b"KT\x02\x05\x02\x00"
    assert wire[6:8] == b"\x01\x02"
    assert int.from_bytes(wire[8:], "little") == zlib.crc32(b"\x02\x05\x02\x00\x01\x02")


def test_decoder_skips_garbage_and_corrupt_frames() -> None:
    good = encode(1, 9, b"abc")
    bad = bytearray(encode(1, 8, b"xyz"))
    bad[-1] ^= 0xFF
    dec = FrameDecoder()
    frames = dec.feed(b"\x00junkK" + bytes(bad) + good)
    assert [(f.seq, f.payload) for f in frames] == [(9, b"abc")]
    assert dec.dropped > 0


def test_info_parse_rejects_short_payload() -> None:
    try:
        Info.parse(b"\x01\x00")
    except ValueError as exc:
        assert "shorter" in str(exc)
    else:
        raise AssertionError("a 2-byte INFO answer must be rejected")


def test_a_header_with_an_impossible_length_is_skipped_at_once() -> None:
    """Noise shaped like a header declaring 65535 bytes must not hold back the frames after it
    (it used to: the decoder waited for ~64 KiB before looking again)."""
    good = encode(0x81, 7, b"info")
    dec = FrameDecoder()
    frames = dec.feed(b"KT\x81\x05\xff\xff" + good)
    assert [(f.type, f.seq, f.payload) for f in frames] == [(0x81, 7, b"info")]
    assert dec.dropped > 0
    # a length just above the protocol's maximum is noise too; the maximum itself is waited for
    from kilotrain.contract import FRAME_MAX_PAYLOAD

    over = b"KT\x81\x05" + (FRAME_MAX_PAYLOAD + 1).to_bytes(2, "little")
    assert [f.seq for f in FrameDecoder().feed(over + good)] == [7]
    at_max = encode(0x81, 9, bytes(FRAME_MAX_PAYLOAD))
    assert [f.seq for f in FrameDecoder().feed(at_max)] == [9]


class _ScriptedPort:
    """A port whose device answers the first copy of a request with ``first`` and later copies
    with the echo answer."""

    def __init__(self, first: bytes) -> None:
        self.first, self.out, self.copies = first, bytearray(), 0

    def write(self, data: bytes) -> int:
        from kilotrain.device.protocol import FrameDecoder

        (req,) = FrameDecoder().feed(data)
        self.copies += 1
        if self.copies == 1:
            self.out += encode(FrameType.ERROR, req.seq, self.first)
        else:
            self.out += encode(req.type | 0x80, req.seq, req.payload)
        return len(data)

    def read(self, n: int) -> bytes:
        chunk, self.out[:] = bytes(self.out[:n]), self.out[n:]
        return chunk

    def close(self) -> None:
        pass


def test_a_request_whose_length_field_was_damaged_is_sent_again() -> None:
    """Noise in the length field makes the device report LENGTH with the request's seq: it did not
    execute the request, so the host sends it again (the soak through the proxy used to stop here)."""
    from kilotrain.device import wire
    from kilotrain.device.link import Device

    for code in (wire.ErrorCode.LENGTH, wire.ErrorCode.CRC, wire.ErrorCode.TRUNCATED):
        port = _ScriptedPort(wire.ERROR.encode(code=int(code), detail=32776))
        dev = Device(port, timeout=2)  # type: ignore[arg-type]
        assert dev.echo(b"abc") == b"abc"
        assert port.copies == 2 and dev.resends == 1
