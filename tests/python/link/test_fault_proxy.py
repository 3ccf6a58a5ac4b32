"""Training through a link that drops, duplicates, corrupts, truncates, delays and reorders frames
in both directions (the seeded fault-injecting proxy, device/proxy.py) ends bit-exact with the
golden model: no update lost, none applied twice.

The test command runs 200 steps at 5 % loss, duplication and corruption each; the long soak at
10 % is ``tools/run soak --steps 5000`` (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilotrain.device.protocol import encode
from kilotrain.device.proxy import split_frames
from kilotrain.jobs.soak import FIVE_PERCENT, run_soak


@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=6),
    noise=st.lists(st.binary(max_size=5).filter(lambda b: b"K" not in b), min_size=7, max_size=7),
    chunk=st.integers(1, 97),
)
def test_split_frames_cuts_at_frame_boundaries(payloads: list[bytes], noise: list[bytes], chunk: int) -> None:
    frames = [encode(0x11, i + 1, p) for i, p in enumerate(payloads)]
    stream = b"".join(n + f for n, f in zip(noise, frames)) + noise[len(frames)]
    buf, pieces = bytearray(), []
    for i in range(0, len(stream), chunk):
        buf += stream[i : i + chunk]
        pieces += split_frames(buf)
    pieces += [bytes(buf)] if buf else []
    assert b"".join(pieces) == stream
    assert [p for p in pieces if p.startswith(b"KT")] == frames


@pytest.mark.qemu
def test_200_steps_through_5_percent_loss_duplication_and_corruption(qemu_elf: Path) -> None:
    counts = run_soak(200, FIVE_PERCENT, seed=7)
    for direction in ("host->device", "device->host"):
        c = counts[direction]
        assert c["frames"] >= 400, counts
        for fault in ("drop", "duplicate", "corrupt"):
            assert c.get(fault, 0) >= 10, (direction, fault, counts)  # the faults really happened
    assert counts["host_resends"] >= 20


def test_a_resend_interval_shorter_than_the_proxy_delays_is_refused() -> None:
    with pytest.raises(ValueError, match="must exceed the proxy's max_delay"):
        run_soak(1, FIVE_PERCENT, resend_after=0.05)
