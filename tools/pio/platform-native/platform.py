from platformio.public import PlatformBase


class NativePlatform(PlatformBase):
    pass
