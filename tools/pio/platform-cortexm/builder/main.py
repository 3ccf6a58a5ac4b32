"""Bare-metal Cortex-M7 builder (offline): arm-none-eabi-gcc from PATH, newlib-nano, no OS.

The board manifest gives the CPU/FPU and the linker script; the link prints FLASH/RAM use
(`--print-memory-usage`) and fails when a region overflows; PlatformIO's size check compares
against the board's upload.maximum_size / maximum_ram_size.
"""
import os

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
cpu = board.get("build.cpu", "cortex-m7")
fpu = board.get("build.fpu", "fpv5-sp-d16")
machine = ["-mthumb", "-mcpu=%s" % cpu, "-mfpu=%s" % fpu, "-mfloat-abi=hard"]

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.rodata|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
    PROGNAME="firmware",
)
env.Append(
    ASFLAGS=machine,
    CCFLAGS=machine + ["-O2", "-g", "-ffunction-sections", "-fdata-sections",
                       "-Wall", "-Wextra", "-Werror", "-fstack-usage"],
    CFLAGS=["-std=c99"],
    LINKFLAGS=machine + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                         "-Wl,--gc-sections", "-Wl,--print-memory-usage",
                         "-Wl,-Map,${BUILD_DIR}/firmware.map"],
    LIBPATH=[os.path.join(platform.get_dir(), "ldscripts")],
    LIBS=["c", "gcc", "nosys"],
    BUILDERS=dict(ElfToBin=Builder(action=env.VerboseAction(
        "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"), suffix=".bin")),
)
if not env.get("LDSCRIPT_PATH"):
    env.Replace(LDSCRIPT_PATH=board.get("build.ldscript"))

elf = env.BuildProgram()
binary = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), elf)
Default([binary])  # BuildProgram() already checks the size against the board's limits
openocd_board = board.get("upload.openocd_board", "")
if openocd_board:  # Debian's openocd through the board's ST-LINK: flash, verify, reset, exit
    env.Replace(
        UPLOADER="openocd",
        UPLOADERFLAGS=["-f", openocd_board, "-c", "program {${SOURCE.abspath}} verify reset exit"],
        UPLOADCMD='$UPLOADER $UPLOADERFLAGS',
    )
    AlwaysBuild(env.Alias("upload", elf, env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE with OpenOCD")))
else:  # QEMU loads the ELF itself (kilotrain qemu / -kernel)
    AlwaysBuild(env.Alias("upload", binary, env.VerboseAction(
        "@echo this board needs no upload: QEMU boots $PROGNAME.elf directly", "")))
