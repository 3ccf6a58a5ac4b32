# PlatformIO runs `<python> <tool-scons>/scons.py ...`; SCons itself comes from kilotrain's venv (PyPI).
import SCons.Script

SCons.Script.main()
