"""dgno: physics-aware deep generative neural operators."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dgno")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from dgno.errors import DgnoError

__all__ = ["DgnoError", "__version__"]
