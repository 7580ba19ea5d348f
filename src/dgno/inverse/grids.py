"""Values known at the nodes of a data grid, read at free points: any tensor-product grid, or scattered nodes.

A data file stores nodes x (*grid, d) in whatever order its problem chose: Darcy's 'ij' grid x[i, j] = (x_i, y_j),
Burgers' t-major space-time grid x[i, j] = (x_j, t_i), a 1-D grid x (n, 1), or the scattered nodes (N, d) of a
mesh. :class:`TensorGrid` finds which coordinate runs along which grid axis, so that one interpolator serves all
of them; scattered nodes fall back to piecewise-linear interpolation on a Delaunay triangulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorGrid:
    """Nodes x (*grid, d) = the tensor product of 1-D axes: grid axis g runs along coordinate ``coords[g]``.

    ``axes[g]`` holds the (strictly monotone) coordinates along grid axis g; grid axes of length 1 are kept with
    their single value. A coordinate that no grid axis varies is constant on the grid.
    """

    shape: tuple[int, ...]
    coords: tuple[int, ...]
    axes: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, x: np.ndarray, *, atol: float = 1e-10) -> TensorGrid | None:
        """The tensor-product structure of nodes x (*grid, d), or None when x is no such grid."""
        x = np.asarray(x, dtype=float)
        shape = x.shape[:-1]
        if not shape:
            return None
        coords, axes = [], []
        for g, n in enumerate(shape):
            line = x[tuple(slice(None) if k == g else 0 for k in range(len(shape)))]  # (n, d): along axis g
            varying = np.flatnonzero(np.ptp(line, axis=0) > atol) if n > 1 else np.array([], dtype=int)
            if n > 1 and varying.size != 1:
                return None  # this axis moves several coordinates (or none): not axis-aligned
            k = int(varying[0]) if n > 1 else -1
            if n > 1 and (k in coords or not _monotone(line[:, k])):
                return None
            coords.append(k)
            axes.append(line[:, k] if n > 1 else line[:1, 0])
        grid = cls(tuple(shape), tuple(coords), tuple(axes))
        rebuilt = grid._nodes(x)
        return grid if np.allclose(rebuilt, x, atol=atol, rtol=0) else None

    def _nodes(self, x: np.ndarray) -> np.ndarray:
        """The grid rebuilt from its axes (constant coordinates taken from x's first node): (*grid, d)."""
        out = np.broadcast_to(x.reshape(-1, x.shape[-1])[0], x.shape).copy()
        for g, k in enumerate(self.coords):
            if k >= 0:
                view = [1] * len(self.shape)
                view[g] = self.shape[g]
                out[..., k] = np.broadcast_to(self.axes[g].reshape(view), self.shape)
        return out

    def varying(self) -> list[int]:
        """The grid axes of length > 1."""
        return [g for g, k in enumerate(self.coords) if k >= 0]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per coordinate k that a grid axis varies: (coordinate indices (m,), extents (m, 2))."""
        gs = self.varying()
        ks = np.array([self.coords[g] for g in gs], dtype=int)
        ext = np.array([[self.axes[g].min(), self.axes[g].max()] for g in gs])
        return ks, ext.reshape(-1, 2)


def _monotone(v: np.ndarray) -> bool:
    dv = np.diff(v)
    return bool((dv > 0).all() or (dv < 0).all())


def interpolate(x_nodes: np.ndarray, values: np.ndarray, points: np.ndarray, *, method: str = "linear") -> np.ndarray:
    """Values at the nodes read at free points: x_nodes (*grid, d), values (*grid, *rest), points (K, d) -> (K, *rest).

    On a tensor-product grid: scipy's RegularGridInterpolator over the grid axes of length > 1 with ``method``
    ("nearest", "linear" or "cubic"; cubic needs 4 nodes per axis and falls back to linear below that), points
    clipped into the grid's extent (so that rounding at the boundary is harmless). Exact at the nodes for every
    method. On scattered nodes: piecewise linear on a Delaunay triangulation (nearest node outside its hull).
    """
    from scipy.interpolate import RegularGridInterpolator

    x_nodes, values, points = (np.asarray(t, dtype=float) for t in (x_nodes, values, points))
    grid_shape = x_nodes.shape[:-1]
    rest = values.shape[len(grid_shape):]
    if values.shape[: len(grid_shape)] != grid_shape:
        raise ValueError(f"values {values.shape} do not start with the grid's shape {grid_shape}")
    grid = TensorGrid.of(x_nodes)
    if grid is None:
        return _scattered(x_nodes.reshape(-1, x_nodes.shape[-1]), values.reshape(-1, *rest), points, method)
    gs = grid.varying()
    v = values.reshape(*(grid_shape[g] for g in gs), *rest) if len(gs) < len(grid_shape) else values
    axes, pts = [], []
    for g in gs:
        ax, k = grid.axes[g], grid.coords[g]
        if ax[0] > ax[-1]:  # descending: flip to ascending
            ax = ax[::-1]
            v = np.flip(v, axis=len(axes))
        axes.append(ax)
        pts.append(np.clip(points[:, k], ax[0], ax[-1]))
    if method == "cubic" and min(len(a) for a in axes) < 4:
        method = "linear"
    flat = v.reshape(*v.shape[: len(axes)], -1)  # (*varying grid, R): trailing components side by side
    at = np.stack(pts, axis=-1)  # (K, m)
    if method == "cubic":
        out = _cubic_spline(axes, flat, at)
    else:
        out = RegularGridInterpolator(axes, flat, method=method)(at)  # (K, R)
    return out.reshape(points.shape[0], *rest)


def _cubic_spline(axes: list[np.ndarray], values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The tensor-product not-a-knot cubic spline interpolant (fourth order), fitted exactly axis by axis:
    values (*grid, R) at points (K, m) -> (K, R). (RegularGridInterpolator's "cubic" fits iteratively to a
    tolerance that caps its accuracy near 1e-5.)"""
    from scipy.interpolate import NdBSpline, make_interp_spline

    knots, coef = [], values
    for i, ax in enumerate(axes):
        spline = make_interp_spline(ax, coef, k=3, axis=i)
        knots.append(spline.t)
        coef = np.moveaxis(spline.c, 0, i)  # BSpline keeps the interpolation axis first
    return NdBSpline(tuple(knots), coef, 3)(at)


def _scattered(nodes: np.ndarray, values: np.ndarray, points: np.ndarray, method: str) -> np.ndarray:
    """Scattered nodes (N, d), values (N, *rest) at points (K, d) -> (K, *rest)."""
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    rest = values.shape[1:]
    flat = values.reshape(values.shape[0], -1)
    nearest = NearestNDInterpolator(nodes, flat)(points)
    if method == "nearest" or nodes.shape[1] < 2:
        return nearest.reshape(points.shape[0], *rest)
    out = LinearNDInterpolator(nodes, flat)(points)
    out = np.where(np.isnan(out), nearest, out)
    return out.reshape(points.shape[0], *rest)


@dataclass(frozen=True)
class NodalField:
    """A field known at nodes x (*grid, d), read between them by :func:`interpolate`: callable at (..., d) -> (...).

    For re-solving the PDE from nodal inputs (the physics check): "nearest" for two-phase inputs (each node owns
    the pixel around it, the reference's convention), "cubic" for smooth ones.
    """

    x: np.ndarray  # (*grid, d)
    values: np.ndarray  # (*grid)
    method: str = "cubic"

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=float)
        d = self.x.shape[-1]
        if points.shape[-1] != d and d == 1:  # a 1-D field called on plain points (...)
            points = points[..., None]
        flat = points.reshape(-1, d)  # (K, d)
        return interpolate(self.x, self.values, flat, method=self.method).reshape(points.shape[:-1])
