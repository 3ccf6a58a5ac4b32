from platformio.public import PlatformBase


class CortexmPlatform(PlatformBase):
    pass
