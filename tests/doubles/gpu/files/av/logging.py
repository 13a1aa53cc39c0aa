"""Fake av.logging: levels and set_level (the probe turns FFmpeg's error log on)."""

ERROR = 16
VERBOSE = 40
_level = None


def set_level(level):
    global _level
    _level = level
