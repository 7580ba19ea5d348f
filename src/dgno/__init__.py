"""dgno: physics-aware deep generative neural operators.

The public API::

    import dgno
    op = dgno.load("pretrained:darcy-pwc")                 # or a run folder written by dgno train
    out = op.predict(a)                                    # {"u": (N, 29, 29), "a": (N, 29, 29)}
    res = dgno.invert(op, x=x_obs, y=y_obs, sigma=0.003)   # the preset's measured best settings by default
    res.mean["a"], res.std["u"], res.interval("a", 0.9), res.to_arviz(), res.save("inv/3")
    run = dgno.train("darcy_pwc_quick", out="runs/nb", overrides=["train.max_minutes=2"])
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dgno")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from dgno.errors import DgnoError

# The public names, imported when first used (PEP 562), so that `import dgno` and `dgno --help` stay light
_LAZY = {
    "InversionResult": "dgno.inverse.result",
    "InversionSettings": "dgno.inverse.settings",
    "Inverter": "dgno.inversion",
    "Observations": "dgno.inverse.observations",
    "Operator": "dgno.operator",
    "Run": "dgno.api",
    "invert": "dgno.inversion",
    "load": "dgno.operator",
    "pretrained_names": "dgno.operator",
    "train": "dgno.api",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dgno' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DgnoError",
    "InversionResult",
    "InversionSettings",
    "Inverter",
    "Observations",
    "Operator",
    "Run",
    "__version__",
    "invert",
    "load",
    "pretrained_names",
    "train",
]
