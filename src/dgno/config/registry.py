"""Name -> constructor tables. Unknown names are errors that list the known ones."""

from __future__ import annotations

from collections.abc import Callable

from dgno.errors import DgnoError
from dgno.reference.presets import DarcyPreset, darcy_pwc, darcy_pwc_fine, darcy_smooth

DATA_PRESETS: dict[str, Callable[[], DarcyPreset]] = {
    "darcy-pwc": darcy_pwc,
    "darcy-pwc-fine": darcy_pwc_fine,
    "darcy-smooth": darcy_smooth,
}


def get_preset(name: str) -> DarcyPreset:
    try:
        return DATA_PRESETS[name]()
    except KeyError:
        raise DgnoError(f"unknown preset {name!r}; choose one of {', '.join(DATA_PRESETS)}") from None
