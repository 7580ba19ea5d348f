"""Pictures of data sets and predictions (matplotlib, written as PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dgno.reference.dataset import Dataset, writable_path


def _image(ax, x: np.ndarray, values: np.ndarray, title: str, cmap: str) -> None:
    """Show nodal values (n, n) on the 'ij' grid x (n, n, 2) with x to the right and y up."""
    extent = (x[..., 0].min(), x[..., 0].max(), x[..., 1].min(), x[..., 1].max())
    im = ax.imshow(values.T, origin="lower", extent=extent, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_samples(ds: Dataset, path: str | os.PathLike, *, n: int = 4) -> Path:
    """A figure with the first ``n`` inputs a (top row) and solutions u (bottom row)."""
    path = writable_path(path)
    n = min(n, len(ds))
    rows = 1 if ds.u is None else 2
    fig, axes = plt.subplots(rows, n, figsize=(3.2 * n, 3.0 * rows), squeeze=False)
    for k in range(n):
        _image(axes[0, k], ds.x_a, ds.a[k], f"a, sample {k}", "viridis")
        if ds.u is not None:
            _image(axes[1, k], ds.x_u, ds.u[k], f"u, sample {k}", "magma")
    fig.suptitle(ds.attrs.get("preset", "") + " " + ds.attrs.get("split", ""), fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
