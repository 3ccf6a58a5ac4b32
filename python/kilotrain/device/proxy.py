"""A fault-injecting link proxy: a loopback TCP proxy between the host and a board's TCP UART
(QEMU's ``-serial tcp:...``) that damages frames on purpose, seeded, in both directions.

Bytes are cut into frames at the protocol's magic and declared length (without trusting the CRC,
as a noisy line would not); each frame is then, with the configured probabilities:

* **dropped** (loss),
* **duplicated** (sent twice in a row),
* **corrupted** (one random bit of one random byte flipped),
* **truncated** (only a random prefix sent: the device reports TRUNCATED after its idle time),
* **delayed** (held for up to ``max_delay`` seconds before it is sent),
* **reordered** (held back and sent after the next frame, or on its own after ``hold``).

Bytes between frames pass as they are. :attr:`FaultProxy.counts` says what was done. The host's
retry rules (docs/protocol.md, docs/reliability.md) must make training through it bit-exact:
resend after a silence (``Device.resend_after``) longer than ``max_delay`` and ``hold``, so that a
late frame always arrives before its resend.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

from kilotrain import contract
from kilotrain.device.protocol import HEADER, MAGIC, TRAILER

FAULTS = ("drop", "duplicate", "corrupt", "truncate", "delay", "reorder")


@dataclass(frozen=True)
class Faults:
    """Probability of each fault per frame (each drawn independently), and the time bounds."""

    drop: float = 0.0
    duplicate: float = 0.0
    corrupt: float = 0.0
    truncate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    max_delay: float = 0.1  # seconds a delayed frame waits at most
    hold: float = 0.05  # seconds a reordered frame waits for a successor

    def check(self) -> None:
        for name in FAULTS:
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault probability {name} = {p} is not in [0, 1]")


def split_frames(buf: bytearray) -> list[bytes]:
    """Take whole frames (and the bytes between them, as their own pieces) off the front of
    ``buf``; an incomplete frame stays. A header declaring more than the protocol allows is not a
    frame: its first byte passes as noise."""
    out: list[bytes] = []
    while buf:
        start = buf.find(MAGIC)
        if start < 0:
            keep = 1 if buf.endswith(MAGIC[:1]) else 0
            if len(buf) > keep:
                out.append(bytes(buf[: len(buf) - keep]))
                del buf[: len(buf) - keep]
            return out
        if start > 0:
            out.append(bytes(buf[:start]))
            del buf[:start]
        if len(buf) < HEADER.size:
            return out
        length = int.from_bytes(buf[4:6], "little")
        if length > contract.FRAME_MAX_PAYLOAD:
            out.append(bytes(buf[:1]))
            del buf[:1]
            continue
        total = HEADER.size + length + TRAILER.size
        if len(buf) < total:
            return out
        out.append(bytes(buf[:total]))
        del buf[:total]
    return out


class _Pump:
    """One direction: read from ``src``, damage frames, write to ``dst``."""

    def __init__(self, name: str, src: socket.socket, dst: socket.socket, faults: Faults, rng: random.Random) -> None:
        self.name, self.src, self.dst, self.faults, self.rng = name, src, dst, faults, rng
        self.counts: Counter[str] = Counter()
        self.held: tuple[bytes, float] | None = None  # a reordered frame and when it must go
        self.lock = threading.Lock()

    def _send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.dst.sendall(data)

    def _flush_held(self, force: bool = False) -> None:
        with self.lock:
            if self.held is not None and (force or time.monotonic() >= self.held[1]):
                data, _ = self.held
                self.held = None
                self._send(data)

    def forward(self, piece: bytes) -> None:
        f, rng = self.faults, self.rng
        is_frame = piece.startswith(MAGIC) and len(piece) >= HEADER.size + TRAILER.size
        if not is_frame:
            self._send(piece)
            return
        self.counts["frames"] += 1
        if rng.random() < f.drop:
            self.counts["drop"] += 1
            return
        data = bytearray(piece)
        if rng.random() < f.corrupt:
            self.counts["corrupt"] += 1
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        if rng.random() < f.truncate:
            self.counts["truncate"] += 1
            data = data[: rng.randrange(1, len(data))]
        copies = 2 if rng.random() < f.duplicate else 1
        self.counts["duplicate"] += copies - 1
        if rng.random() < f.delay:
            self.counts["delay"] += 1
            time.sleep(rng.uniform(0.0, f.max_delay))
        out = bytes(data) * copies
        if rng.random() < f.reorder:
            self.counts["reorder"] += 1
            self._flush_held(force=True)
            with self.lock:
                self.held = (out, time.monotonic() + f.hold)
            return
        self._send(out)
        self._flush_held(force=True)  # a held frame goes after this one

    def run(self) -> None:
        buf = bytearray()
        self.src.settimeout(0.01)
        while True:
            self._flush_held()
            try:
                chunk = self.src.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            for piece in split_frames(buf):
                self.forward(piece)
        self._flush_held(force=True)
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)


class FaultProxy:
    """Listen on a free loopback port; on the first connection, connect to ``target_port`` and
    pump both directions through the fault injector (``seed`` makes the faults reproducible)."""

    def __init__(self, target_port: int, faults: Faults, seed: int = 0) -> None:
        faults.check()
        self.target_port, self.faults, self.seed = target_port, faults, seed
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = int(self.listener.getsockname()[1])
        self.pumps: list[_Pump] = []
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True, name="fault-proxy")
        self._accept.start()

    def _serve(self) -> None:
        try:
            host, _ = self.listener.accept()
        except OSError:
            return
        deadline = time.monotonic() + 10.0
        while True:  # the board's server may still be starting
            try:
                board = socket.create_connection(("127.0.0.1", self.target_port), timeout=1.0)
                board.settimeout(None)
                break
            except OSError:
                if time.monotonic() > deadline:
                    host.close()
                    return
                time.sleep(0.05)
        for s in (host, board):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socks = [host, board]
        rng_up, rng_down = random.Random(self.seed * 2 + 1), random.Random(self.seed * 2 + 2)
        self.pumps = [
            _Pump("host->device", host, board, self.faults, rng_up),
            _Pump("device->host", board, host, self.faults, rng_down),
        ]
        for p in self.pumps:
            t = threading.Thread(target=p.run, daemon=True, name=f"fault-proxy {p.name}")
            t.start()
            self._threads.append(t)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Frames seen and faults injected, per direction."""
        return {p.name: dict(p.counts) for p in self.pumps}

    def close(self) -> None:
        for s in [self.listener, *self._socks]:
            with contextlib.suppress(OSError):
                s.close()
        for t in self._threads:
            t.join(timeout=2)
