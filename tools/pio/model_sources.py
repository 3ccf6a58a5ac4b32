"""PlatformIO pre-build hook (every env, `pio run` and `pio test`): the generated wire header, and
a generated model compiled into the firmware.

1. kt_wire.h, the payload layouts of the serial protocol, is generated from
   python/kilotrain/device/wire.py into $BUILD_DIR/generated/include (written only when its text
   changes, so builds stay incremental) and put first on the include path. It is never committed.
   PlatformIO runs this script in the project's venv python, where tools/setup installed kilotrain.

2. A generated model: `kilotrain compile` writes kt_train.c and manifest.json into
   build/compiled/ (kilotrain.paths.compiled_dir), which a plain `pio run -e <env>` builds;
   `kilotrain infer/train --engine qemu` (and the tests) generate into their own directory and
   point KILOTRAIN_MODEL_DIR at it, which wins; KILOTRAIN_MODEL_DIR=- builds the model-less image
   whatever is compiled (`kilotrain build`, `tools/run test`). This script adds those sources and defines
   KT_HAVE_MODEL, so the serial app serves the model commands (and, when kt_train.c is there,
   KT_HAVE_TRAIN and the training commands). With neither, the firmware has no model.
"""
import os
import sys

Import("env")  # noqa: F821 - provided by SCons


def _fail(message):
    sys.stderr.write(f"kilotrain: error: {message}\n")
    env.Exit(1)  # noqa: F821


try:
    import kilotrain
    from kilotrain.device import wire
except ImportError as exc:
    _fail(f"cannot generate kt_wire.h: {sys.executable} cannot import kilotrain.device.wire ({exc}); run tools/setup")
else:
    wire_dir = env.subst(os.path.join("$BUILD_DIR", "generated", "include"))  # noqa: F821
    try:
        wire.write_c_header(os.path.join(wire_dir, wire.HEADER_NAME), kilotrain.__version__)
    except wire.SchemaError as exc:
        _fail(f"cannot generate kt_wire.h: {exc}")
    env.Prepend(CPPPATH=[wire_dir])  # noqa: F821

model_dir = os.environ.get("KILOTRAIN_MODEL_DIR")
if model_dir == "-":
    model_dir = None
elif not model_dir:
    try:
        from kilotrain.paths import compiled_dir
    except ImportError:
        compiled_dir = None
    if compiled_dir is not None:
        candidate = str(compiled_dir())
        if any(os.path.exists(os.path.join(candidate, f)) for f in ("kt_train.c", "kt_model.c")):
            model_dir = candidate
            print(f"kilotrain: building the compiled model in {candidate} (kilotrain compile --clear removes it)")
if model_dir:
    model_dir = os.path.abspath(model_dir)  # a relative path is relative to the project directory
    env.Append(CPPDEFINES=["KT_HAVE_MODEL"])  # noqa: F821
    if os.path.exists(os.path.join(model_dir, "kt_train.c")):
        env.Append(CPPDEFINES=["KT_HAVE_TRAIN"])  # noqa: F821
    env.BuildSources(os.path.join("$BUILD_DIR", "model"), model_dir)  # noqa: F821
