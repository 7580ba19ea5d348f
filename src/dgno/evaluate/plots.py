"""Pictures of data sets and predictions (matplotlib, written as PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dgno.atomic import atomic_path
from dgno.reference.dataset import Dataset, writable_path


def _image(ax, x: np.ndarray, values: np.ndarray, title: str, cmap: str, triangles: np.ndarray | None = None) -> None:
    """Show values at the points x, by geometry.

    - a 2-D grid x (n0, n1, 2) (Darcy's 'ij' grid, or a space-time grid (x, t) stored t-major): an image with the
      first coordinate to the right and the second up;
    - a 1-D grid x (n, 1): a line;
    - scattered points x (N, 2) on a line (a boundary profile, e.g. an inflow at x = 0): a line along the
      coordinate that varies;
    - scattered points x (N, 2) (a mesh): filled contours on ``triangles`` (T, 3), or on a Delaunay triangulation.
    """
    x, values = np.asarray(x), np.asarray(values)
    if x.ndim == 2 and x.shape[-1] == 2 and triangles is None and min(np.ptp(x, axis=0)) == 0:
        x = x[:, [int(np.argmax(np.ptp(x, axis=0)))]]  # points on an axis-parallel line: plot along it
    if x.ndim == 3 and x.shape[-1] == 2:
        # which grid axis the first coordinate runs along: 0 for an 'ij' grid, 1 for a t-major (x, t) grid
        along0 = np.ptp(x[:, 0, 0]) > np.ptp(x[0, :, 0])
        image = values.T if along0 else values
        extent = (x[..., 0].min(), x[..., 0].max(), x[..., 1].min(), x[..., 1].max())
        im = ax.imshow(image, origin="lower", extent=extent, cmap=cmap, interpolation="nearest", aspect="auto")
    elif x.ndim == 2 and x.shape[-1] == 1:
        ax.plot(x[:, 0], values.reshape(-1), color=plt.get_cmap(cmap)(0.6))
        ax.set_title(title, fontsize=9)
        return
    elif x.ndim == 2 and x.shape[-1] == 2:
        import matplotlib.tri as mtri

        tri = mtri.Triangulation(x[:, 0], x[:, 1], triangles=None if triangles is None else np.asarray(triangles))
        im = ax.tricontourf(tri, values.reshape(-1), levels=32, cmap=cmap)
        ax.set_aspect("equal")
    else:
        raise ValueError(f"cannot plot values at points of shape {x.shape}")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def _components(u: np.ndarray, n_grid: int, names: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """Split u (n, *grid[, C]) into its named components, each (n, *grid)."""
    if u.ndim == n_grid + 1:
        return [(names[0] if names else "u", u)]
    return [(names[c] if c < len(names) else f"u{c}", u[..., c]) for c in range(u.shape[-1])]


def plot_samples(ds: Dataset, path: str | os.PathLike, *, n: int = 4) -> Path:
    """A figure with the first ``n`` inputs a (top row) and solutions u (bottom row)."""
    path = writable_path(path)
    n = min(n, len(ds))
    rows = 1 if ds.u is None else 2
    fig, axes = plt.subplots(rows, n, figsize=(3.2 * n, 3.0 * rows), squeeze=False)
    triangles = ds.extras.get("triangles")
    for k in range(n):
        _image(axes[0, k], ds.x_a, ds.a[k], f"a, sample {k}", "viridis")
        if ds.u is not None:
            name, values = _components(ds.u, ds.x_u.ndim - 1, ())[0]
            _image(axes[1, k], ds.x_u, values[k], f"{name}, sample {k}", "magma", triangles)
    fig.suptitle(ds.attrs.get("preset", "") + " " + ds.attrs.get("split", ""), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path


def plot_predictions(
    x_a: np.ndarray, x_u: np.ndarray, a: np.ndarray, a_pred: np.ndarray | None, u: np.ndarray, u_pred: np.ndarray,
    path: str | os.PathLike, *, names: tuple[str, ...] = ("u",), triangles: np.ndarray | None = None,
) -> Path:
    """One row per sample: a, decoded a (when the model has one), then for every output component the reference,
    the prediction and |error|; a (n, *grid_a), u (n, *grid_u[, C]); plotted by geometry (see ``_image``)."""
    path = writable_path(path)
    x_a, x_u = np.asarray(x_a), np.asarray(x_u)
    true, pred = _components(np.asarray(u), x_u.ndim - 1, names), _components(np.asarray(u_pred), x_u.ndim - 1, names)
    n, cols = a.shape[0], 1 + (a_pred is not None) + 3 * len(true)
    fig, axes = plt.subplots(n, cols, figsize=(3.2 * cols, 3.0 * n), squeeze=False)
    for k in range(n):
        row = list(axes[k])
        _image(row.pop(0), x_a, a[k], "a", "viridis")
        if a_pred is not None:
            _image(row.pop(0), x_a, a_pred[k], "decoded a", "viridis")
        for (name, ref), (_, est) in zip(true, pred, strict=True):
            _image(row.pop(0), x_u, ref[k], f"{name} (reference)", "magma", triangles)
            _image(row.pop(0), x_u, est[k], f"{name} (predicted)", "magma", triangles)
            rel = np.linalg.norm(est[k] - ref[k]) / np.linalg.norm(ref[k])
            _image(row.pop(0), x_u, np.abs(est[k] - ref[k]), f"|error|, rel L2 {rel:.4f}", "inferno", triangles)
    fig.tight_layout()
    return _save(fig, path)


def plot_curves(metrics: list[dict], path: str | os.PathLike) -> Path:
    """Training loss and validation errors against steps, from metrics.jsonl rows."""
    path = writable_path(path)
    train = [r for r in metrics if "loss" in r]
    val = [r for r in metrics if "val_rel_l2_mean" in r or "val_u_rel_l2_mean" in r]
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
        keys = sorted({k for r in val for k in r if k.endswith("_rel_l2_mean") and k not in
                       ("val_rel_l2_mean", "val_a_rel_l2_mean")})
        for key in keys:
            ax2.semilogy(steps, [r.get(key, np.nan) for r in val], label=f"{key[4:-12]} rel L2")
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
    names: tuple[str, ...] = ("u",),
    obs_y: np.ndarray | None = None,
    axis_names: tuple[str, ...] = (),
    title: str = "",
) -> Path:
    """An inversion by geometry (see ``_image``): one row for the input a, one per output component.

    Input row: for a 1-D input (x_a (n, 1), e.g. Burgers' initial condition) the truth, the posterior mean and the
    95 % interval (``a_lower``/``a_upper``) as a band, the predictive std and |mean - truth|; otherwise images of
    the true a, the posterior mean and the predictive std (or P(high phase)). Output rows: the truth (or posterior
    mean) with the observation points obs_x (K, d), the posterior mean, the predictive std (with the model's own
    error).
    fields: a_* (*grid_a), u_mean and u_pred_std (*grid_u[, C]); true_u (*grid_u[, C]); obs_y (K, C), the observed
    values of every output, is drawn over a 1-D solution.
    """
    path = writable_path(path)
    x_a, x_u, obs_x = np.asarray(x_a), np.asarray(x_u), np.asarray(obs_x)
    n_grid = x_u.ndim - 1

    def split(u: np.ndarray) -> list[tuple[str, np.ndarray]]:  # (*grid[, C]) -> [(name, (*grid))]
        return [(name, v[0]) for name, v in _components(np.asarray(u)[None], n_grid, names)]

    mean = split(fields["u_mean"])
    spread = split(fields.get("u_pred_std", fields["u_std"]))
    truth = None if true_u is None else split(true_u)
    values = None if obs_y is None else np.asarray(obs_y).reshape(len(obs_x), -1)  # (K, C) when every output is
    if values is not None and values.shape[1] != len(mean):  # observed; else only the positions are drawn
        values = None
    rows = 1 + len(mean)
    fig, ax = plt.subplots(rows, 3, figsize=(12.5, 3.6 * rows), squeeze=False)
    _input_row(ax[0], x_a, fields, true_a, axis_names)
    for c, ((name, m), (_, sd)) in enumerate(zip(mean, spread, strict=True)):
        row = ax[1 + c]
        base = m if truth is None else truth[c][1]
        _image(row[0], x_u, base, f"{'posterior mean' if truth is None else 'true'} {name}, {len(obs_x)} observations",
               "magma")
        _image(row[1], x_u, m, f"posterior mean {name}", "magma")
        _image(row[2], x_u, sd, f"predictive std {name}", "inferno")
        _observation_marks(row[0], obs_x, None if values is None else values[:, c], big=True)
        _observation_marks(row[2], obs_x, None, big=False)
        if len(axis_names) >= 2 and x_u.shape[-1] >= 2:
            row[0].set_xlabel(axis_names[0], fontsize=8)
            row[0].set_ylabel(axis_names[1], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _input_row(ax, x_a: np.ndarray, fields: dict[str, np.ndarray], true_a: np.ndarray | None,
               axis_names: tuple[str, ...]) -> None:
    """The input's panels of :func:`plot_inversion`."""
    if "phase_prob" in fields:
        spread = ("phase_prob", "P(high phase)", "coolwarm")
    elif "a_pred_std" in fields:  # the spread of the band: with the input decoder's validation error
        spread = ("a_pred_std", "predictive std a", "inferno")
    else:
        spread = ("a_std", "posterior std a", "inferno")
    if x_a.ndim == 2 and x_a.shape[-1] == 1:  # a 1-D input: lines with a credible band
        x = x_a[:, 0]
        a0 = ax[0]
        if "a_lower" in fields and "a_upper" in fields:
            a0.fill_between(x, fields["a_lower"].reshape(-1), fields["a_upper"].reshape(-1), color="tab:blue",
                            alpha=0.25, lw=0, label="95 % interval")
        a0.plot(x, fields["a_mean"].reshape(-1), color="tab:blue", lw=1.2, label="posterior mean")
        if true_a is not None:
            a0.plot(x, np.asarray(true_a).reshape(-1), "k--", lw=1.0, label="true")
        a0.legend(fontsize=7)
        a0.set_title("input a", fontsize=9)
        a0.set_xlabel(axis_names[0] if axis_names else "x", fontsize=8)
        _image(ax[1], x_a, fields[spread[0]], spread[1], spread[2])
        if true_a is not None:
            _image(ax[2], x_a, np.abs(fields["a_mean"] - np.asarray(true_a)), "|posterior mean - true| a", "inferno")
        else:
            ax[2].axis("off")
        return
    if true_a is not None:
        _image(ax[0], x_a, true_a, "true a", "viridis")
    else:
        ax[0].axis("off")
    _image(ax[1], x_a, fields["a_mean"], "posterior mean a", "viridis")
    _image(ax[2], x_a, fields[spread[0]], spread[1], spread[2])


def _observation_marks(ax, obs_x: np.ndarray, obs_y: np.ndarray | None, *, big: bool) -> None:
    """Observation points over a panel: positions in 2-D, (position, value) over a 1-D line."""
    if obs_x.shape[-1] >= 2:
        if big:
            ax.scatter(obs_x[:, 0], obs_x[:, 1], s=9, c="cyan", edgecolors="k", linewidths=0.4)
        else:
            ax.scatter(obs_x[:, 0], obs_x[:, 1], s=4, c="cyan", linewidths=0)
    elif big and obs_y is not None:
        ax.scatter(obs_x[:, 0], obs_y, s=9, c="cyan", edgecolors="k", linewidths=0.4, zorder=3)


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
