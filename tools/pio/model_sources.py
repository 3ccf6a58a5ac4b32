"""PlatformIO pre-build hook: compile a generated model into the firmware.

`kilotrain infer --engine qemu` (and the tests) generate kt_model.c into the build tree and
point KILOTRAIN_MODEL_DIR at it; this script adds those sources and defines KT_HAVE_MODEL, so
the serial app serves the model commands (and, when kt_train.c is there, KT_HAVE_TRAIN and
the training commands). Without the variable the firmware has no model.
"""
import os

Import("env")  # noqa: F821 - provided by SCons

model_dir = os.environ.get("KILOTRAIN_MODEL_DIR")
if model_dir:
    model_dir = os.path.abspath(model_dir)  # a relative path is relative to the project directory
    env.Append(CPPDEFINES=["KT_HAVE_MODEL"])  # noqa: F821
    if os.path.exists(os.path.join(model_dir, "kt_train.c")):
        env.Append(CPPDEFINES=["KT_HAVE_TRAIN"])  # noqa: F821
    env.BuildSources(os.path.join("$BUILD_DIR", "model"), model_dir)  # noqa: F821
