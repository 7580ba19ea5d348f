"""Data presets: the input distribution, the PDE data, and the solver that makes ground truth.

A preset is anything with the :class:`DataPreset` interface; :mod:`dgno.reference.generate` draws the
inputs of each split from ``sampler(split)``, solves each with ``solve`` and writes the results on the
preset's own grids ``x_a()`` and ``x_u()``, never asking which PDE it is.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from dgno.fields import (
    FieldSampler,
    GaussianRandomField,
    LogNormalField,
    SineSeriesField,
    TrigField,
    TwoPhaseField,
    unit_square_nodes,
)
from dgno.fields.base import Field
from dgno.reference.burgers import BurgersChebyshev
from dgno.reference.darcy_fd import DarcyFD
from dgno.reference.stokes import MU, InflowProfileField, MeshSpec, cylinder_mesh, cylinder_solver, inflow_points


@runtime_checkable
class DataPreset(Protocol):
    """What data generation needs of a preset.

    ``a_positive`` is recorded in every file (readers then check a > 0); ``layout`` is a line that
    says how the stored arrays relate to their coordinates.

    Optional: a method ``extras()`` returning arrays shared by every sample (written to each file's
    ``extras``, e.g. the ``triangles`` of a mesh); and inputs (the fields ``sampler(split)`` draws) with a
    method ``parameters()`` returning a dict of numbers have them stored per sample as ``extras/<name>`` (N,).
    """

    name: str
    a_positive: bool
    layout: str

    @property
    def splits(self) -> tuple[str, ...]:
        """train, val, test and the test_ood_<name> splits."""
        ...

    def sampler(self, split: str) -> FieldSampler:
        """The input distribution of ``split`` (KeyError for an unknown split)."""
        ...

    def x_a(self) -> np.ndarray:
        """Coordinates of the stored inputs, shape (*grid_a, d_a)."""
        ...

    def x_u(self) -> np.ndarray:
        """Coordinates of the stored solutions, shape (*grid_u, d_u)."""
        ...

    def solve(self, a: Field) -> tuple[np.ndarray, np.ndarray]:
        """(a at x_a, shape grid_a; u at x_u, shape grid_u) for one input field."""
        ...

    def describe(self) -> dict[str, Any]:
        """Everything that made the data (JSON-serialisable), recorded as provenance."""
        ...


def split_sampler(split: str, field: FieldSampler, ood: dict[str, FieldSampler]) -> FieldSampler:
    """``field`` for train/val/test, ``ood[name]`` for test_ood_<name>; KeyError otherwise."""
    if split in ("train", "val", "test"):
        return field
    name = split.removeprefix("test_ood_")
    if split.startswith("test_ood_") and name in ood:
        return ood[name]
    raise KeyError(split)


def _platform() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__}


class _Splits:
    """train/val/test from ``field`` and one OOD test split per entry of ``ood`` (what every preset here has)."""

    field: object
    ood: dict

    def sampler(self, split: str) -> FieldSampler:
        """The input distribution of a split: train/val/test, or test_ood_<name>."""
        return split_sampler(split, self.field, self.ood)

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "val", "test", *(f"test_ood_{k}" for k in self.ood))


@dataclass(frozen=True)
class DarcyPreset(_Splits):
    """-div(a grad u) = source on [0, 1]^2, u = 0 on the boundary, a drawn from ``field``.

    a and u are stored at the ``n_nodes`` x ``n_nodes`` grid; u is solved on the grid refined
    ``refine`` times (n_fine - 1 = (n_nodes - 1) * refine) and sampled at the output nodes.
    ``ood`` names the out-of-distribution input distributions of the test_ood_<name> splits.
    """

    name: str
    description: str
    field: FieldSampler
    ood: dict[str, FieldSampler] = field(default_factory=dict)
    # the inversion settings the project's measurements chose for this preset on a validation split
    # (docs/inverse.md, "Defaults"): the defaults of dgno invert and dgno.invert for its models
    inversion: dict[str, Any] = field(default_factory=dict)
    source: float = 10.0
    n_nodes: int = 29
    refine: int = 7
    solver: DarcyFD = DarcyFD()
    a_positive: ClassVar[bool] = True
    layout: ClassVar[str] = "a[n, i, j] = a(x_a[i, j]), x_a[i, j] = (i, j) / (n_nodes - 1)"

    def __post_init__(self) -> None:
        if self.refine < 1 or self.n_nodes < 3:
            raise ValueError(f"{self.name}: need refine >= 1 and n_nodes >= 3")
        parity = "odd" if self.refine % 2 else "even"
        if parity != self.solver.refine_parity:
            raise ValueError(
                f"{self.name}: {type(self.solver).__name__} needs an {self.solver.refine_parity} refinement "
                f"so that pixel edges of nodal fields are resolved, got refine={self.refine}"
            )

    @property
    def n_fine(self) -> int:
        return (self.n_nodes - 1) * self.refine + 1

    def nodes(self) -> np.ndarray:
        """The output grid, shape (n_nodes, n_nodes, 2), 'ij' indexing."""
        return unit_square_nodes(self.n_nodes)

    def x_a(self) -> np.ndarray:
        """Input nodes: the output grid, (n_nodes, n_nodes, 2)."""
        return self.nodes()

    def x_u(self) -> np.ndarray:
        """Solution nodes: the output grid, (n_nodes, n_nodes, 2)."""
        return self.nodes()

    def solve(self, a: Field) -> tuple[np.ndarray, np.ndarray]:
        """(a, u) at the output nodes, each (n_nodes, n_nodes), for one coefficient field."""
        u_fine = self.solver.solve(a, self.source, self.n_fine)
        return np.asarray(a(self.nodes()), dtype=float), u_fine[:: self.refine, :: self.refine]

    def describe(self) -> dict[str, Any]:
        return {
            "preset": self.name,
            "description": self.description,
            "pde": "-div(a grad u) = f on [0,1]^2, u = 0 on the boundary",
            "source_f": self.source,
            "n_nodes": self.n_nodes,
            "solver": {
                "type": type(self.solver).__name__,
                "order": self.solver.order,
                "refine": self.refine,
                "n_fine": self.n_fine,
                "linear_solver": "scipy.sparse.linalg.spsolve (SuperLU)",
            },
            "field": self.field.describe(),
            "ood": {k: v.describe() for k, v in self.ood.items()},
            "platform": _platform(),
        }


_GRF = GaussianRandomField(alpha=2.0, tau=3.0)
_SMOOTH_GRF = GaussianRandomField(alpha=3.0, tau=3.0)


def darcy_pwc() -> DarcyPreset:
    return DarcyPreset(
        name="darcy-pwc",
        description=(
            "two-phase a in {5, 10}: GRF (alpha 2, tau 3) thresholded at 0 at the 29x29 nodes, "
            "nearest-node field; f = 10"
        ),
        field=TwoPhaseField(grf=_GRF),
        ood={
            # shorter correlation length (about 1/6 instead of 1/3)
            "tau6": TwoPhaseField(grf=GaussianRandomField(alpha=2.0, tau=6.0)),
            # level 0.15 (about half a pointwise std) leaves about 30% in the high phase
            "frac30": TwoPhaseField(grf=_GRF, level=0.15),
        },
        refine=7,
        inversion={"method": "nuts", "chain_method": "vectorized", "draws": 150, "warmup": 100, "pde_weight": 0.0,
                   "model_error_from": "latent"},
    )


def darcy_pwc_fine() -> DarcyPreset:
    return DarcyPreset(
        name="darcy-pwc-fine",
        description=(
            "two-phase a in {5, 10}: GRF (alpha 2, tau 3) thresholded at 0 on the fine solver grid "
            "(sub-pixel interfaces); a and u stored at the 29x29 nodes; f = 10"
        ),
        field=TwoPhaseField(grf=_GRF, resolution="exact"),
        ood={
            "tau6": TwoPhaseField(grf=GaussianRandomField(alpha=2.0, tau=6.0), resolution="exact"),
            "frac30": TwoPhaseField(grf=_GRF, level=0.15, resolution="exact"),
        },
        refine=13,
    )


def darcy_smooth() -> DarcyPreset:
    return DarcyPreset(
        name="darcy-smooth",
        description="smooth a = exp(g), g a GRF (alpha 3, tau 3, sigma 9); f = 10",
        field=LogNormalField(grf=_SMOOTH_GRF),
        ood={
            # shorter correlation length
            "tau6": LogNormalField(grf=GaussianRandomField(alpha=3.0, tau=6.0)),
            # twice the standard deviation of log a (higher contrast)
            "sigma2x": LogNormalField(grf=GaussianRandomField(alpha=3.0, tau=3.0, sigma=18.0)),
        },
        refine=7,
    )


@dataclass(frozen=True)
class DarcyTrigPreset(DarcyPreset):
    """:class:`DarcyPreset` whose coefficients have two parameters, stored per sample as extras/beta1, beta2."""

    layout: ClassVar[str] = DarcyPreset.layout + "; extras/beta1, extras/beta2 (N,) the coefficient's b1, b2"
    ranges: ClassVar[str] = (
        "the form and the OOD range b ~ U(0, pi/2) are the reference authors' (smh_test_out.mat); the training "
        "range U(pi/2, 2 pi) is inferred, not published: disjoint from the OOD range and containing their inverse "
        "instance b = (5.00, 3.37), whose a reaches the bound min a = 0.1"
    )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ranges": self.ranges}


def darcy_trig() -> DarcyTrigPreset:
    return DarcyTrigPreset(
        name="darcy-trig",
        description=(
            "the DGNO authors' smooth family a = 2.1 + sin(b1 x) + cos(b2 y), b1, b2 ~ U(pi/2, 2 pi) "
            "(inferred range), so 0.1 <= a <= 4.1; f = 10"
        ),
        field=TrigField(),
        ood={
            # as the authors' out-of-distribution file: b1, b2 ~ U(0, pi/2), less than a quarter period across the
            # square, so a in [2.1, 4.1] and monotone in x and in y (training: down to 0.1, up to a period)
            "b0": TrigField(b1_range=(0.0, np.pi / 2), b2_range=(0.0, np.pi / 2)),
        },
        refine=7,
        inversion={"method": "map", "prior": "family", "pde_weight": 0.0, "map_starts": 16},
    )


def _grid_1d(n: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n)


@dataclass(frozen=True)
class BurgersPreset(_Splits):
    """u_t + u u_x = nu u_xx on [-1, 1] x [0, t_final], u(-1, t) = u(1, t) = 0, u(x, 0) = a(x) drawn from ``field``.

    Stored: a (n_x,) = a(x_j) at x_j = linspace(-1, 1, n_x), with x_a (n_x, 1); u (n_t, n_x) at
    t_i = linspace(0, t_final, n_t), with x_u (n_t, n_x, 2), x_u[i, j] = (x_j, t_i) (t-major, x first
    along the last axis). u[0] is a itself; the other rows come from ``solver`` (Chebyshev
    collocation with ETDRK4), interpolated to x_j. nu is the solver's.
    ``ood`` names the out-of-distribution initial-condition distributions of the test_ood_<name> splits.
    """

    name: str
    description: str
    field: FieldSampler
    ood: dict[str, FieldSampler] = field(default_factory=dict)
    # the inversion settings the project's measurements chose for this preset on a validation split
    # (docs/inverse.md, "Defaults"): the defaults of dgno invert and dgno.invert for its models
    inversion: dict[str, Any] = field(default_factory=dict)
    n_x: int = 128
    n_t: int = 101
    t_final: float = 1.0
    solver: BurgersChebyshev = BurgersChebyshev()
    a_positive: ClassVar[bool] = False
    layout: ClassVar[str] = (
        "a[n, j] = u(x_a[j, 0], 0), u[n, i, j] = u(x_u[i, j]), x_u[i, j] = (x_j, t_i), "
        "x_j = -1 + 2 j / (n_x - 1), t_i = t_final i / (n_t - 1)"
    )

    def __post_init__(self) -> None:
        if self.n_x < 2 or self.n_t < 2 or self.t_final <= 0:
            raise ValueError(f"{self.name}: need n_x >= 2, n_t >= 2 and t_final > 0")

    def times(self) -> np.ndarray:
        """The output times, shape (n_t,)."""
        return np.linspace(0.0, self.t_final, self.n_t)

    def x_a(self) -> np.ndarray:
        """Input points, shape (n_x, 1)."""
        return _grid_1d(self.n_x)[:, None]

    def x_u(self) -> np.ndarray:
        """Solution points (x, t), shape (n_t, n_x, 2), ``x_u[i, j] = (x_j, t_i)``."""
        return np.stack(np.meshgrid(_grid_1d(self.n_x), self.times(), indexing="xy"), axis=-1)

    def solve(self, a: Field) -> tuple[np.ndarray, np.ndarray]:
        """(a (n_x,), u (n_t, n_x)) for one initial condition."""
        x = _grid_1d(self.n_x)
        u = self.solver.solve(a, self.times(), x)
        return u[0].copy(), u

    def describe(self) -> dict[str, Any]:
        h, steps = self.solver.step_size(self.t_final / (self.n_t - 1))
        return {
            "preset": self.name,
            "description": self.description,
            "pde": "u_t + u u_x = nu u_xx on [-1,1] x [0,T], u(-1,t) = u(1,t) = 0, u(x,0) = a(x)",
            "nu": self.solver.nu,
            "t_final": self.t_final,
            "n_x": self.n_x,
            "n_t": self.n_t,
            "solver": {
                "type": type(self.solver).__name__,
                "space": "Chebyshev collocation, Gauss-Lobatto points, Dirichlet at both ends",
                "time": "ETDRK4 (Cox-Matthews), phi-functions by expm of an augmented matrix",
                "order_time": self.solver.order_time,
                "order_space": self.solver.order_space,
                "n": self.solver.n,
                "dt": h,
                "steps_per_output": steps,
                "initial_data": "degree-n truncated Chebyshev series of a",
                "output": "barycentric interpolation to x_j; u[0] = a(x_j)",
            },
            "field": self.field.describe(),
            "ood": {k: v.describe() for k, v in self.ood.items()},
            "platform": _platform(),
        }


def burgers() -> BurgersPreset:
    return BurgersPreset(
        name="burgers",
        description=(
            "viscous Burgers, nu = 0.1/pi, zero ends; a a sine-series GRF on [-1, 1] "
            "(tau 7, alpha 2.5, 512 modes, x-averaged pointwise std 0.38); u at 101 x 128 (t, x)"
        ),
        field=SineSeriesField(),
        ood={
            # tau 5: longer correlation length (2/5 instead of 2/7 in x) at the same mean std, so less energy
            # in the higher modes (6% beyond mode 2 instead of 13%) and a smaller rms slope (0.99 instead of
            # 1.22): smoother initial conditions, a shift in shape rather than in size
            "tau5": SineSeriesField(tau=5.0),
            # 1.5 times the amplitude: steeper fronts
            "amp15": SineSeriesField(scale=1.5),
        },
        solver=BurgersChebyshev(n=128, dt=5e-3),  # 3e-7 from a solve twice as fine (tests/test_burgers_reference.py)
        inversion={"method": "map", "draws": 250},
    )


@dataclass(frozen=True)
class StokesPreset(_Splits):
    """-mu Lap u + grad p = 0, div u = 0 in [0, 2] x [0, 1] minus the disk of radius 0.1 at (0.5, 0.6): no slip on
    the walls and the cylinder, u = (a(y), 0) at x = 0 with a drawn from ``field``, and at x = 2 the natural
    condition of ``viscous_form`` (``"gradient"``: mu du/dn - p n = 0, p = 0 for developed flow).

    Stored: a (n_inflow,) = a(y_j) at x_a[j] = (0, y_j), y_j = j / (n_inflow - 1); u (Nv, 3) = (u, v, p) at the
    vertices x_u (Nv, 2) of the gmsh mesh of ``mesh``, whose triangles are in every file's extras/triangles; the
    inflow parameters b1, b2 of each sample in extras/beta1 and extras/beta2. Solved with Taylor-Hood P2/P1
    (:class:`~dgno.reference.stokes.CylinderStokes`). ``ood`` names the test_ood_<name> inflow distributions.
    """

    name: str
    description: str
    field: FieldSampler
    ood: dict[str, FieldSampler] = field(default_factory=dict)
    # the inversion settings the project's measurements chose for this preset on a validation split
    # (docs/inverse.md, "Defaults"): the defaults of dgno invert and dgno.invert for its models
    inversion: dict[str, Any] = field(default_factory=dict)
    mesh: MeshSpec = MeshSpec()
    mu: float = MU
    n_inflow: int = 256
    viscous_form: str = "gradient"
    a_positive: ClassVar[bool] = False
    layout: ClassVar[str] = (
        "a[n, j] = a(y_j) at x_a[j] = (0, y_j), y_j = j / (n_inflow - 1); u[n, k] = (u, v, p) at x_u[k], the mesh "
        "vertices; extras/triangles (T, 3) vertex indices; extras/beta1, extras/beta2 (N,) the inflow parameters"
    )

    def __post_init__(self) -> None:
        if self.n_inflow < 2 or self.mu <= 0:
            raise ValueError(f"{self.name}: need n_inflow >= 2 and mu > 0")

    def x_a(self) -> np.ndarray:
        """Inflow points (0, y_j), shape (n_inflow, 2)."""
        return inflow_points(self.n_inflow)

    def x_u(self) -> np.ndarray:
        """The mesh vertices, shape (Nv, 2)."""
        return cylinder_mesh(self.mesh).vertices.copy()

    def extras(self) -> dict[str, np.ndarray]:
        """The mesh's triangles (T, 3), stored in every file."""
        return {"triangles": cylinder_mesh(self.mesh).triangles.astype(np.int64)}

    def solve(self, a: Field) -> tuple[np.ndarray, np.ndarray]:
        """(a (n_inflow,), (u, v, p) (Nv, 3)) for one inflow profile (factorised once per process)."""
        solver = cylinder_solver(self.mesh, self.mu, self.viscous_form)
        return np.asarray(a(self.x_a()), dtype=float), solver.solve(a)

    def describe(self) -> dict[str, Any]:
        return {
            "preset": self.name,
            "description": self.description,
            "pde": "-mu Lap u + grad p = 0, div u = 0 in [0,2]x[0,1] minus the disk |x - (0.5, 0.6)| < 0.1",
            "boundary": "u = v = 0 on y = 0, y = 1 and the cylinder; u = (a(y), 0) at x = 0",
            "mu": self.mu,
            "n_inflow": self.n_inflow,
            "mesh": cylinder_mesh(self.mesh).describe(),
            "solver": cylinder_solver(self.mesh, self.mu, self.viscous_form).describe(),
            "field": self.field.describe(),
            "ood": {k: v.describe() for k, v in self.ood.items()},
            "platform": _platform(),
        }


def stokes_cylinder() -> StokesPreset:
    return StokesPreset(
        name="stokes-cylinder",
        description=(
            "Stokes flow around a cylinder, mu = 0.01; inflow a(y) = 2 sin(pi y) (1 + sin(b1 y) + cos(b2 y)), "
            "b1, b2 ~ U(1, 4); (u, v, p) at the 1,718 vertices of a gmsh mesh, Taylor-Hood P2/P1"
        ),
        field=InflowProfileField(b1_range=(1.0, 4.0), b2_range=(1.0, 4.0)),
        ood={
            # b1, b2 ~ U(4, 6): up to one period of sin(b1 y), cos(b2 y) across the channel (training: under 2/3),
            # more oscillatory profiles, most with backflow at the inflow; disjoint from the training range
            "b46": InflowProfileField(b1_range=(4.0, 6.0), b2_range=(4.0, 6.0)),
        },
        inversion={"method": "map", "draws": 500},
    )
