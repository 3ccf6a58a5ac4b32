"""Bad set-up ends with one clear line naming the fix."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from kilotrain import cli
from kilotrain.device import toolchain
from kilotrain.device.boards import QemuBoard


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kilotrain: error: ")
    return err[0]


def test_missing_arm_compiler(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_which = shutil.which
    monkeypatch.setattr(toolchain.shutil, "which", lambda c: None if c == "arm-none-eabi-gcc" else real_which(c))
    assert cli.main(["qemu"]) == 2
    line = _one_error_line(capsys)
    assert "arm-none-eabi-gcc not found" in line and "apt-get install" in line and "gcc-arm-none-eabi" in line


def test_missing_qemu(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    real_which = shutil.which
    monkeypatch.setattr(toolchain.shutil, "which", lambda c: None if c == "qemu-system-arm" else real_which(c))
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(toolchain.ToolError, match=r"qemu-system-arm not found.*apt-get install"):
        QemuBoard(elf)


@pytest.mark.qemu
def test_port_busy(qemu_elf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert cli.main(["qemu", "--no-build", "--port", str(port)]) == 2
    line = _one_error_line(capsys)
    assert f"port {port}" in line and "busy" in line


def test_doctor_names_the_fix(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_which = shutil.which
    monkeypatch.setattr(toolchain.shutil, "which", lambda c: None if c == "qemu-system-arm" else real_which(c))
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    qemu_line = next(ln for ln in out.splitlines() if ln.startswith("QEMU"))
    assert "MISSING" in qemu_line and "apt-get install" in qemu_line and "qemu-system-arm" in qemu_line
