"""Host builder: the system gcc, C99, warnings as errors."""
from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
for var in ("CC", "CXX", "AS", "AR", "RANLIB"):
    if var in env:
        del env[var]
env.Tool("gcc")
env.Tool("g++")
env.Tool("ar")
env.Append(CCFLAGS=["-O2", "-Wall", "-Wextra", "-Werror"], CFLAGS=["-std=c99"],
           CPPDEFINES=[("_POSIX_C_SOURCE", "200809L")])
program = env.BuildProgram()
Default(program)
AlwaysBuild(env.Alias("upload", program))  # nothing to flash on the host
