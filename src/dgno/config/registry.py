"""Name -> constructor tables. Unknown names are errors that list the known ones."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from dgno.config.schema import PhysicsConfig
from dgno.errors import DgnoError
from dgno.pdes import Burgers, Darcy, DarcyMixed
from dgno.pdes.stokes import Stokes
from dgno.reference.presets import (
    DataPreset,
    burgers,
    darcy_pwc,
    darcy_pwc_fine,
    darcy_smooth,
    darcy_trig,
    stokes_cylinder,
)

DATA_PRESETS: dict[str, Callable[[], DataPreset]] = {
    "darcy-pwc": darcy_pwc,
    "darcy-pwc-fine": darcy_pwc_fine,
    "darcy-smooth": darcy_smooth,
    "darcy-trig": darcy_trig,
    "burgers": burgers,
    "stokes-cylinder": stokes_cylinder,
}


def get_preset(name: str) -> DataPreset:
    try:
        return DATA_PRESETS[name]()
    except KeyError:
        raise DgnoError(f"unknown preset {name!r}; choose one of {', '.join(DATA_PRESETS)}") from None


# problem name -> constructor from the physics section (pde_args are passed as keyword arguments)
PROBLEMS: dict[str, Callable[[PhysicsConfig], object]] = {
    "darcy": lambda p: Darcy(source=p.source, interpolation=p.interpolation, **p.pde_args),
    "darcy-mixed": lambda p: DarcyMixed(source=p.source, interpolation=p.interpolation, **p.pde_args),
    "burgers": lambda p: Burgers(**p.pde_args),
    "stokes": lambda p: Stokes(**p.pde_args),
}


def _user_class(name: str):
    """The class named by "module:Class" (importable) or "path/to/file.py:Class" (a user's file)."""
    module, _, attr = name.rpartition(":")
    try:
        if module.endswith(".py"):
            path = Path(module)
            if not path.is_file():
                raise DgnoError(f"physics.pde={name!r}: no such file {path}")
            spec = importlib.util.spec_from_file_location(f"dgno_user_{path.stem}", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod  # dataclasses look their module up while the file runs
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(module)
        return getattr(mod, attr)
    except DgnoError:
        raise
    except Exception as exc:  # the user's file may raise anything while it loads
        raise DgnoError(
            f"physics.pde={name!r}: cannot load {attr} from {module} ({type(exc).__name__}: {exc})") from None


def get_problem(physics: PhysicsConfig):
    """The problem of ``physics.pde``: a registered name, or a user's own class as "module:Class" (importable)
    or "path/to/file.py:Class", built with ``physics.pde_args``."""
    name = physics.pde
    try:
        if ":" in name:
            return _user_class(name)(**physics.pde_args)
        if name not in PROBLEMS:
            raise DgnoError(f"unknown pde {name!r}; choose one of {', '.join(PROBLEMS)} or give module:Class")
        return PROBLEMS[name](physics)
    except TypeError as exc:
        raise DgnoError(f"physics.pde={name!r}: bad physics.pde_args {physics.pde_args} ({exc})") from None
    except ValueError as exc:
        raise DgnoError(f"physics.pde={name!r}: {exc}") from None
