"""No board outlives its host: a host process that starts QEMU (or the native firmware) and is
then stopped by SIGTERM, by SIGINT sent to its PID alone, or killed outright, takes the board with
it. (QEMU used to stay behind, re-parented to PID 1 at ~100 % CPU with its TCP port open.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HOST = """
import signal, sys, time
from pathlib import Path
# as started from a shell: Ctrl-C raises KeyboardInterrupt (a test runner may have SIGINT ignored,
# and an ignored signal stays ignored across exec)
signal.signal(signal.SIGINT, signal.default_int_handler)
from kilotrain.device.boards import NativeBoard, QemuBoard
board = QemuBoard(Path(sys.argv[1]), icount=False) if sys.argv[2] == "qemu" else NativeBoard(Path(sys.argv[1]))
board.device.echo(b"up")
print(board.proc.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _board_after_host_signal(target: Path, kind: str, sig: int) -> bool:
    """Start a host holding a board, signal the host alone, report whether the board still runs 5 s on."""
    host = subprocess.Popen([sys.executable, "-c", HOST, str(target), kind], stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        board_pid = int(host.stdout.readline())
        assert _alive(board_pid)
        os.kill(host.pid, sig)
        host.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _alive(board_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = _alive(board_pid)
        if alive:
            os.kill(board_pid, signal.SIGKILL)
        return alive
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


@pytest.mark.qemu
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: signal.Signals(s).name)
def test_qemu_stops_with_its_host(qemu_elf: Path, sig: int) -> None:
    assert not _board_after_host_signal(qemu_elf, "qemu", sig)


def test_native_firmware_stops_with_its_host(native_program: Path) -> None:
    assert not _board_after_host_signal(native_program, "native", signal.SIGKILL)
