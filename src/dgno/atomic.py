"""The one way dgno writes a file: to a temporary name in the same folder, then an atomic rename.

A reader (or a resumed run) therefore sees either the previous complete file or the new complete file, never a
half-written one, whatever moment the writer is killed at. Every output goes through :func:`atomic_path`:
checkpoints, HDF5 data and posteriors, plots, JSON and YAML.

    with atomic_path("out/summary.json") as tmp:
        tmp.write_text(...)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """``.<stem>.tmp<pid><suffix>`` beside ``path``: hidden, unique per process, with the suffix that writers
    such as matplotlib read the format from. ``.*.tmp*`` finds the leftovers of killed writers."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any error it is removed."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
