"""Darcy data presets: the input distribution, the PDE data, and the solver that makes ground truth."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dgno.fields import FieldSampler, GaussianRandomField, LogNormalField, TwoPhaseField, unit_square_nodes
from dgno.fields.base import Field
from dgno.reference.darcy_fd import DarcyFD


@dataclass(frozen=True)
class DarcyPreset:
    """-div(a grad u) = source on [0, 1]^2, u = 0 on the boundary, a drawn from ``field``.

    a and u are stored at the ``n_nodes`` x ``n_nodes`` grid; u is solved on the grid refined
    ``refine`` times (n_fine - 1 = (n_nodes - 1) * refine) and sampled at the output nodes.
    ``ood`` names the out-of-distribution input distributions of the test_ood_<name> splits.
    """

    name: str
    description: str
    field: FieldSampler
    ood: dict[str, FieldSampler] = field(default_factory=dict)
    source: float = 10.0
    n_nodes: int = 29
    refine: int = 7
    solver: DarcyFD = DarcyFD()

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

    def solve(self, a: Field) -> tuple[np.ndarray, np.ndarray]:
        """(a, u) at the output nodes, each (n_nodes, n_nodes), for one coefficient field."""
        u_fine = self.solver.solve(a, self.source, self.n_fine)
        return np.asarray(a(self.nodes()), dtype=float), u_fine[:: self.refine, :: self.refine]

    def sampler(self, split: str) -> FieldSampler:
        """The input distribution of a split: train/val/test, or test_ood_<name>."""
        if split in ("train", "val", "test"):
            return self.field
        name = split.removeprefix("test_ood_")
        if split.startswith("test_ood_") and name in self.ood:
            return self.ood[name]
        raise KeyError(split)

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "val", "test", *(f"test_ood_{k}" for k in self.ood))

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
            "platform": {"python": platform.python_version(), "numpy": np.__version__},
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
