"""The generated C training step on the host: the same kt_train.c the firmware runs, compiled
with the kernels into a host shared library and driven through ctypes. Fast enough for long
bit-exactness runs (hundreds of steps on a real model) next to the golden model."""

from __future__ import annotations

import ctypes
import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kilotrain.codegen import emit
from kilotrain.codegen import train as codegen_train
from kilotrain.kernels import build as host_lib
from kilotrain.kernels.cstructs import TrainResultC, TrainSegmentC
from kilotrain.paths import build_dir
from kilotrain.training.plan import TrainPlan


class HostTrainer:
    """One process-local instance of the generated training step (its state lives in the
    library's statics: load a fresh library per run)."""

    def __init__(self, plan: TrainPlan, source_name: str = "model.tflite") -> None:
        code = codegen_train.render_train(plan, source_name)
        digest = hashlib.sha256(code.text.encode()).hexdigest()[:16]
        source = emit.write(code.text, build_dir() / "gen" / f"host-train-{digest}", "kt_train.c")
        gen = codegen_train.GeneratedTraining(source.parent, source, code, digest)
        lib_path = host_lib.build((gen.source,), name=f"kt_train_{gen.digest}")
        # a private copy: ctypes would hand back the already-loaded library (and its trained state)
        self._copy = lib_path.with_name(f"{lib_path.stem}-{id(self):x}.so")
        self._copy.write_bytes(lib_path.read_bytes())
        self.lib = ctypes.CDLL(str(self._copy))
        self.generated = gen
        self.lib.kt_model_input_write.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32]
        self.lib.kt_model_input_write.restype = ctypes.c_int32
        self.lib.kt_train_step.argtypes = [ctypes.c_int32, ctypes.POINTER(TrainResultC)]
        self.lib.kt_train_step.restype = ctypes.c_int32
        self.input_size = int(np.prod(plan.graph.input.shape))

    def write_input(self, x: npt.NDArray[np.int8], chunk: int | None = None) -> None:
        """Write the input through kt_model_input_write(), in pieces of ``chunk`` bytes (as the
        serial protocol's INPUT_WRITE frames do) or at once."""
        data = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
        if data.size != self.input_size:
            raise ValueError(f"input of {data.size} bytes; the model takes {self.input_size}")
        step = chunk or data.size
        for off in range(0, data.size, step):
            n = min(step, data.size - off)
            status = self.lib.kt_model_input_write(off, data.ctypes.data + off, n)
            if status != 0:
                raise RuntimeError(f"kt_model_input_write({off}, {n}) returned status {status}")

    def step(self, x: npt.NDArray[np.int8], label: int, chunk: int | None = None) -> tuple[int, int, int]:
        """(p_label Q15, prediction, saturations) of one step."""
        self.write_input(x, chunk)
        r = TrainResultC()
        status = self.lib.kt_train_step(int(label), ctypes.byref(r))
        if status != 0:
            raise RuntimeError(f"kt_train_step returned status {status}")
        return int(r.p_label_q15), int(r.predicted), int(r.saturated)

    def params(self) -> bytes:
        count = ctypes.c_uint32.in_dll(self.lib, "kt_train_segment_count").value
        segs = (TrainSegmentC * count).in_dll(self.lib, "kt_train_segments")
        return b"".join(ctypes.string_at(s.data, s.size) for s in segs)

    def params_sha256(self) -> str:
        return hashlib.sha256(self.params()).hexdigest()

    def close(self) -> None:
        Path(self._copy).unlink(missing_ok=True)
