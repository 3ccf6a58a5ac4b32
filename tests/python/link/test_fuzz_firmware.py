"""The firmware's frame decoder and command handler under libFuzzer with AddressSanitizer and
UndefinedBehaviorSanitizer (device/fuzz.py, tests/fuzz/): a bounded run of each target from the
committed seed corpus must end without a finding. The long run is ``tools/run fuzz --seconds 300``
(docs/reliability.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kilotrain.device import fuzz

pytestmark = pytest.mark.skipif(
    shutil.which("clang-14") is None and shutil.which("clang") is None, reason="clang is not installed (tools/setup)"
)


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_committed_seed_corpus_is_current(target: str, tmp_path: Path) -> None:
    """The seeds are valid frames of today's wire schema: regenerate them after a schema change
    (python -c 'from kilotrain.device import fuzz; [fuzz.write_seed_corpus(t) for t in fuzz.TARGETS]')."""
    committed = {p.stem: p.read_bytes() for p in sorted((fuzz.CORPUS_DIR / target).glob("*.bin"))}
    assert committed == fuzz.seed_inputs(target)


@pytest.mark.parametrize("target,seconds", [("app", 30), ("train", 45)])
def test_bounded_fuzz_run_has_no_finding(target: str, seconds: int) -> None:
    run = fuzz.run_fuzzer(target, seconds)
    assert run.inputs > 1000 and run.frames > 10_000, run
    assert run.coverage > (500 if target == "train" else 50), run  # the training commands were reached


#: Drop the last byte of every 4-byte write (a frame's CRC trailer): the device's answers break.
SINK = "static void kt_fuzz_sink(const uint8_t *data, size_t len)\n{\n"
BROKEN_SINK = SINK + "    len = (len == 4) ? 3 : len;\n"


def test_a_finding_stops_the_run_and_names_its_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's output oracle is live: a device that sends a broken frame is a finding."""
    broken = tmp_path / "fuzz"
    shutil.copytree(fuzz.FUZZ_DIR, broken)
    app = (broken / "fuzz_app.c").read_text()
    assert SINK in app
    (broken / "fuzz_app.c").write_text(app.replace(SINK, BROKEN_SINK, 1))
    monkeypatch.setattr(fuzz, "FUZZ_DIR", broken)
    monkeypatch.setattr(fuzz, "CORPUS_DIR", broken / "corpus")
    with pytest.raises(fuzz.FuzzFinding, match=r"app fuzzer: fuzz: the device.* \(input kept at \S+crash-"):
        fuzz.run_fuzzer("app", 20)
