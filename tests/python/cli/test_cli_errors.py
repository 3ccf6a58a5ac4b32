"""A device-side failure reaches the user as one line and exit status 2, never a traceback: a
training step that overflows its stack region (StepFailed, as `kilotrain profile` of a kernel with a
grown frame once raised) or a checkpoint the device answers wrongly (CheckpointMismatch)."""

from __future__ import annotations

import pytest

from kilotrain import cli
from kilotrain.device.train_client import CheckpointMismatch, StepFailed


@pytest.mark.parametrize("exc", [StepFailed, CheckpointMismatch])
def test_device_failure_is_one_line(
    exc: type[Exception], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "training step 0 used the whole 1760 B stack region (an overflow): raise STACK_BASE_BYTES"

    def fail(*args: object, **kwargs: object) -> None:
        raise exc(message)

    monkeypatch.setattr(cli.profile, "run_profile", fail)
    assert cli.main(["profile", "zoo:tiny_cnn", "--scheme", "bias-only", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert err == f"kilotrain: error: {message}\n"
