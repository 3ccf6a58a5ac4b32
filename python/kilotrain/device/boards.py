"""Boot the qemu_m7 firmware in QEMU (mps2-an500, Cortex-M7) with its UART on a loopback TCP
port (pyserial's ``socket://`` URL; optionally through the fault-injecting proxy) or on a
pseudo-terminal (pyserial's ``Serial``, as a real board's port); open a real board's serial port
(:func:`open_serial`)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import serial

from kilotrain.device.link import Device
from kilotrain.device.proxy import FaultProxy, Faults
from kilotrain.device.toolchain import ToolError, require

QEMU_MACHINE = "mps2-an500"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def qemu_command(elf: Path, port: int | None, icount: bool = True) -> list[str]:
    """The QEMU command line: the UART on a loopback TCP ``port``, or on a pseudo-terminal
    (``port=None``: QEMU names the /dev/pts device on its stderr)."""
    cmd = [require("qemu-system-arm"), "-M", QEMU_MACHINE, "-nographic", "-monitor", "none"]
    if icount:  # SysTick then counts instructions: 40 per tick, deterministic
        cmd += ["-icount", "shift=0,align=off,sleep=off"]
    cmd += [
        "-serial",
        f"tcp:127.0.0.1:{port},server=on,wait=on" if port is not None else "pty",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]
    return cmd


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends it SIGKILL when the process that started it
    dies, however that happens (SIGTERM, SIGINT to its PID alone, SIGKILL, a crash), so no board
    outlives its host (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def open_serial(path: str, baud: int = 115200, timeout: float = 10.0) -> Device:
    """A :class:`Device` on a serial port (a board's /dev/ttyACM0, a QEMU pty) through pyserial's
    ordinary ``Serial`` class; ToolError in one line when the port cannot be opened."""
    try:
        port = serial.Serial(path, baud, timeout=0.2)
    except (serial.SerialException, ValueError, OSError) as e:
        raise ToolError(f"cannot open serial port {path} at {baud} baud: {e}") from None
    return Device(port, timeout=timeout)


class QemuBoard:
    """A running QEMU board; use as a context manager. ``device`` talks to its UART, over a
    loopback TCP port, or with ``pty=True`` over the pseudo-terminal ``pty_path`` (a real tty,
    opened like a board's serial port)."""

    def __init__(
        self,
        elf: Path,
        port: int | None = None,
        timeout: float = 20.0,
        icount: bool = True,
        pty: bool = False,
        faults: Faults | None = None,
        fault_seed: int = 0,
    ) -> None:
        self.proxy: FaultProxy | None = None
        if not Path(elf).exists():
            raise ToolError(f"firmware {elf} does not exist: build it with `pio run -e qemu_m7`")
        self.timeout = timeout
        if pty:
            self.port = None
            self.proc = self._start(qemu_command(Path(elf), None, icount))
            self.pty_path = self._pty_path()
            self.device = open_serial(self.pty_path, 115200, timeout)
            return
        if port is not None and not port_is_free(port):
            raise ToolError(
                f"TCP port {port} on 127.0.0.1 is busy: free it or pass another --port (0 picks a free one)"
            )
        self.port = port or free_port()
        self.proc = self._start(qemu_command(Path(elf), self.port, icount))
        if faults is not None:  # the host talks to QEMU through the fault-injecting proxy
            self.proxy = FaultProxy(self.port, faults, fault_seed)
        self.device = Device(self._connect(), timeout=timeout)

    @staticmethod
    def _start(cmd: list[str]) -> subprocess.Popen[bytes]:
        """QEMU with its messages piped to us, dying with this process (:func:`_die_with_parent`)."""
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_die_with_parent
        )

    def _pty_path(self) -> str:
        """The /dev/pts device QEMU announces ("char device redirected to /dev/pts/N")."""
        deadline = time.monotonic() + 10.0
        seen = b""
        streams = [st for st in (self.proc.stderr, self.proc.stdout) if st is not None]
        while time.monotonic() < deadline:
            ready, _, _ = select.select(streams, [], [], 0.2)
            for st in ready:
                chunk = os.read(st.fileno(), 4096)
                seen += chunk
                m = re.search(rb"(/dev/pts/\d+)", seen)
                if m:
                    return m.group(1).decode()
            if self.proc.poll() is not None:
                break
        self.close()
        raise ToolError(f"QEMU announced no serial pty within 10 s: {seen.decode(errors='replace').strip()[-200:]}")

    def _connect(self) -> serial.SerialBase:
        deadline = time.monotonic() + 10.0
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
                if "Address already in use" in err:
                    raise ToolError(f"TCP port {self.port} on 127.0.0.1 is busy: free it or pass another --port")
                raise ToolError(
                    f"QEMU exited with code {self.proc.returncode}: {err.splitlines()[-1] if err else 'no message'}"
                )
            try:
                to = self.proxy.port if self.proxy is not None else self.port
                port = serial.serial_for_url(f"socket://127.0.0.1:{to}", timeout=0.2)
                # small request frames must not wait for Nagle / delayed ACKs (40 ms each)
                sock = getattr(port, "_socket", None)
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return port
            except serial.SerialException:
                if time.monotonic() > deadline:
                    self.close()
                    raise ToolError(f"QEMU did not open its serial port {self.port} within 10 s") from None
                time.sleep(0.05)

    def close(self) -> None:
        if getattr(self, "device", None) is not None:
            with contextlib.suppress(Exception):
                self.device.close()
        if self.proxy is not None:
            self.proxy.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def __enter__(self) -> QemuBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NativeBoard:
    """The native firmware build serving the protocol over stdin/stdout. ``store``: the file that
    holds its two checkpoint slots (environment variable KT_STORE; none: no store);
    ``store_fail_at``: the simulated power loss of firmware/bsp/kt_bsp_native.c (KT_STORE_FAIL_AT:
    reset once that many bytes have been programmed, or ``"erase"``: halfway through an erase)."""

    def __init__(
        self, program: Path, timeout: float = 10.0, store: Path | None = None, store_fail_at: int | str | None = None
    ) -> None:
        from kilotrain.device.link import PipePort

        env = {k: v for k, v in os.environ.items() if k not in ("KT_STORE", "KT_STORE_FAIL_AT")}
        if store is not None:
            env["KT_STORE"] = str(store)
        if store_fail_at is not None:
            env["KT_STORE_FAIL_AT"] = str(store_fail_at)
        self.proc = subprocess.Popen(
            [str(program)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, preexec_fn=_die_with_parent
        )
        self.device = Device(PipePort(self.proc, timeout=0.2), timeout=timeout)

    def close(self) -> None:
        self.device.close()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> NativeBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
