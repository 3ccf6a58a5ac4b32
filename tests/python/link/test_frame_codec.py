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
