"""``kilotrain bench`` on the tests' small model: DSP and portable builds on the emulated M7, the
same parameters after the same steps, the DSP step cheaper; bad options in one line."""

from __future__ import annotations

import json

import pytest

from kilotrain import cli

pytestmark = pytest.mark.qemu


def test_bench_measures_both_builds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--models", "tiny", "--steps", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    rec = r["models"]["tiny"]
    d, p = rec["dsp"], rec["portable"]
    assert d["params_sha256"] == p["params_sha256"] == rec["host"]["params_sha256"]
    assert rec["host"]["step_ms"] > 0 and rec["host"]["peak_rss_bytes"] > 0
    assert 0 < d["step_instructions"] < p["step_instructions"] and rec["dsp_speedup"] > 1
    assert 0 < d["forward_instructions"] < d["step_instructions"]
    assert d["peak_sram_bytes"] > 0 and d["flash_bytes"] > d["peak_sram_bytes"]
    assert "paper" not in rec  # TTE published no figure for it


def test_bench_bad_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--models", "tiny,resnet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kilotrain: error: unknown benchmark model(s) resnet; known: mbv2, ")
    assert "\n" not in err
    assert cli.main(["bench", "--models", "tiny", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
