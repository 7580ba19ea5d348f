"""The configuration edge: the one place where names become objects."""

from dgno.config.registry import DATA_PRESETS, get_preset

__all__ = ["DATA_PRESETS", "get_preset"]
