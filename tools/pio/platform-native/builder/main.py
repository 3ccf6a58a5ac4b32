"""Host builder: the system gcc, C99, warnings as errors."""
from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
for var in ("CC", "CXX", "AS", "AR", "RANLIB"):
    if var in env:
        del env[var]
env.Tool("gcc")
env.Tool("g++")
env.Tool("ar")
# -O3 for this machine's vector units (the kernels' host paths, KT_HOST_SIMD), as the host engine's
# library is built (python/kilotrain/kernels/build.py)
env.Append(CCFLAGS=["-O3", "-march=native", "-Wall", "-Wextra", "-Werror"], CFLAGS=["-std=c99"],
           CPPDEFINES=[("_POSIX_C_SOURCE", "200809L")])
program = env.BuildProgram()
Default(program)
AlwaysBuild(env.Alias("upload", program))  # nothing to flash on the host
