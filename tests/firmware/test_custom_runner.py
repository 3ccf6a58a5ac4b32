"""PlatformIO test runner for kilotrain's firmware tests (offline: no Unity download).

The tests print Unity's line format (``file:line:name:PASS|FAIL: message`` and a closing
``N Tests N Failures N Ignored``) through tests/firmware/kt_test.h, so Unity's parser is reused
and only the library download and the generated unity_config are switched off.
"""

from platformio.test.runners.unity import UnityTestRunner


class CustomTestRunner(UnityTestRunner):
    EXTRA_LIB_DEPS = None

    def configure_build_env(self, env):
        env.Append(CPPDEFINES=["KT_FIRMWARE_TEST"])
        return env
