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
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_predictions(
    x: np.ndarray, a: np.ndarray, a_pred: np.ndarray | None, u: np.ndarray, u_pred: np.ndarray,
    path: str | os.PathLike,
) -> Path:
    """One row per sample: a, decoded a (when the model has one), u, predicted u, |error|; arrays (n, *grid)."""
    path = writable_path(path)
    n, cols = a.shape[0], 5 if a_pred is not None else 4
    fig, axes = plt.subplots(n, cols, figsize=(3.2 * cols, 3.0 * n), squeeze=False)
    for k in range(n):
        row = list(axes[k])
        _image(row.pop(0), x, a[k], "a", "viridis")
        if a_pred is not None:
            _image(row.pop(0), x, a_pred[k], "decoded a", "viridis")
        _image(row[0], x, u[k], "u (reference)", "magma")
        _image(row[1], x, u_pred[k], "u (predicted)", "magma")
        rel = np.linalg.norm(u_pred[k] - u[k]) / np.linalg.norm(u[k])
        _image(row[2], x, np.abs(u_pred[k] - u[k]), f"|error|, rel L2 {rel:.4f}", "inferno")
    fig.tight_layout()
    return _save(fig, path)


def plot_curves(metrics: list[dict], path: str | os.PathLike) -> Path:
    """Training loss and validation errors against steps, from metrics.jsonl rows."""
    path = writable_path(path)
    train = [r for r in metrics if "loss" in r]
    val = [r for r in metrics if "val_u_rel_l2_mean" in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        steps = [r["step"] for r in train]
        ax1.semilogy(steps, [r["loss"] for r in train], label="total")
        for key in sorted({k for r in train for k in r} - {"step", "loss", "lr", "seconds"}):
            ax1.semilogy(steps, [max(r.get(key, np.nan), 1e-12) for r in train], label=key, alpha=0.7)
        ax1.legend(fontsize=8)
    ax1.set_xlabel("step")
    ax1.set_title("training loss (per input node)")
    if val:
        steps = [r["step"] for r in val]
        ax2.semilogy(steps, [r["val_u_rel_l2_mean"] for r in val], label="u rel L2")
        if all("val_a_rel_l2_mean" in r for r in val):
            ax2.semilogy(steps, [r["val_a_rel_l2_mean"] for r in val], label="decoded a rel L2")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("step")
    ax2.set_title("validation error")
    fig.tight_layout()
    return _save(fig, path)


def plot_inversion(
    x_a: np.ndarray,
    x_u: np.ndarray,
    fields: dict[str, np.ndarray],
    obs_x: np.ndarray,
    path: str | os.PathLike,
    *,
    true_a: np.ndarray | None = None,
    true_u: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Two rows: true a, posterior mean a, posterior std a (or P(high phase)); observations over u,
    posterior mean u, predictive std of u (with the model's own error)."""
    path = writable_path(path)
    fig, ax = plt.subplots(2, 3, figsize=(12.5, 7.2))
    if true_a is not None:
        _image(ax[0, 0], x_a, true_a, "true a", "viridis")
    else:
        ax[0, 0].axis("off")
    _image(ax[0, 1], x_a, fields["a_mean"], "posterior mean a", "viridis")
    if "phase_prob" in fields:
        _image(ax[0, 2], x_a, fields["phase_prob"], "P(high phase)", "coolwarm")
    else:
        _image(ax[0, 2], x_a, fields["a_std"], "posterior std a", "inferno")
    base = true_u if true_u is not None else fields["u_mean"]
    _image(ax[1, 0], x_u, base, f"{'true' if true_u is not None else 'posterior mean'} u, {len(obs_x)} observations",
           "magma")
    ax[1, 0].scatter(obs_x[:, 0], obs_x[:, 1], s=9, c="cyan", edgecolors="k", linewidths=0.4)
    _image(ax[1, 1], x_u, fields["u_mean"], "posterior mean u", "magma")
    _image(ax[1, 2], x_u, fields.get("u_pred_std", fields["u_std"]), "predictive std u", "inferno")
    ax[1, 2].scatter(obs_x[:, 0], obs_x[:, 1], s=4, c="cyan", linewidths=0)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_reliability(levels: list[float], observed: dict[str, list[float]], path: str | os.PathLike,
                     *, title: str = "") -> Path:
    """Coverage of the credible intervals against their nominal level, one line per group."""
    path = writable_path(path)
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="ideal")
    for name, cov in observed.items():
        ax.plot(levels, cov, "o-", label=name)
    ax.set_xlabel("nominal level of the credible interval")
    ax.set_ylabel("fraction of unobserved truth inside")
    ax.set_xlim(0.4, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_time_curves(curves: list[tuple[str, np.ndarray, np.ndarray, bool]], path: str | os.PathLike,
                     *, title: str = "") -> Path:
    """Validation error against training time: (label, seconds, errors, dashed) per method."""
    path = writable_path(path)
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, t, e, dashed in curves:
        ax.semilogy(np.asarray(t) / 60, e, "--" if dashed else "-", marker=".", ms=3, label=label)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("validation u relative L2")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
