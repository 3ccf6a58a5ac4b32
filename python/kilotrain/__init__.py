"""kilotrain: on-device int8 training for microcontrollers."""

__version__ = "0.1.0"
