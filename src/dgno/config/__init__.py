"""The configuration edge: the one place where names become objects."""

from dgno.config.registry import DATA_PRESETS, PROBLEMS, get_preset, get_problem

__all__ = ["DATA_PRESETS", "PROBLEMS", "get_preset", "get_problem"]
