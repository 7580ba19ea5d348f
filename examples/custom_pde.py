"""Add a problem that dgno does not ship, in one file, and train DGNO on it with ``dgno train``.

The problem is reaction-diffusion with an inhomogeneous boundary condition,

    -div(a grad u) + c u = f  on the unit square,   u = g(x, y) = x  on its boundary,

carried exactly by a lift: u = x + sin(pi x) sin(pi y) N(x, y). Its weak residual for a test function w_j is

    r_j = < a grad u . grad w_j + (c u - f) w_j >_j        (ball averages).

A problem declares its domain, the role of its input, its fields with their constraints, its outputs, its
weak layout and its residuals (:class:`dgno.pdes.base.Problem`); nothing in the library changes. The config
names it by file: ``physics.pde: examples/custom_pde.py:ReactionDiffusion``. Run it as

    python examples/custom_pde.py [--steps 300] [--n 64] [--out runs/custom_pde]

It writes a small data set (log-normal a; validation solutions from a finite-difference solve) and a config,
trains through ``dgno.train`` (physics only: the training solutions are never computed), then loads the run and
predicts and inverts with it from Python (``dgno.load``, ``op.predict``, ``dgno.invert``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import yaml

import dgno
from dgno.fields import LogNormalField, unit_square_nodes
from dgno.nn import Jet
from dgno.pdes import Constraint, FieldSpec, InputSpec, field_output
from dgno.pdes.base import unit_box
from dgno.pdes.darcy import bicubic, sine_multiplier
from dgno.reference.dataset import Dataset, load_h5, save_h5
from dgno.weak import BallLayout, WeakOptions, WeakPoints


def boundary_lift(x: torch.Tensor, a: torch.Tensor | None, order: int) -> Jet:
    """g(x, y) = x for every sample of the batch a (B, ...): value (B, N), grad (B, N, 2), hess (B, N, 2, 2).

    g does not depend on a, so without it (an inversion, where a is the unknown) one row broadcasts over the batch.
    """
    b, n = (1 if a is None else a.shape[0]), x.shape[0]
    value = x[:, 0].expand(b, n)
    grad = torch.tensor([1.0, 0.0], dtype=x.dtype, device=x.device).expand(b, n, 2) if order >= 1 else None
    hess = x.new_zeros(b, n, 2, 2) if order >= 2 else None
    return Jet(value, grad, hess)


@dataclass(frozen=True)
class ReactionDiffusion:
    """-div(a grad u) + c u = f on the unit square, u = x on the boundary."""

    reaction: float = 5.0
    source: float = 10.0

    domain = unit_box(2)
    input = InputSpec("coefficient", positive=True)
    fields = (FieldSpec("u", order=1, constraint=Constraint(sine_multiplier, lift=boundary_lift)),)
    outputs = (field_output("u"),)
    terms = ("weak",)

    def weak_layout(self, options: WeakOptions) -> BallLayout:
        return BallLayout.build(options, lower=self.domain.lower, upper=self.domain.upper)

    def coefficient(self, a_nodes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bicubic(a_nodes, x)

    def residuals(self, fields: dict[str, Jet], a: torch.Tensor, points: WeakPoints) -> dict[str, torch.Tensor]:
        u = fields["u"]  # value (B, P, Q), grad (B, P, Q, 2)
        integrand = (a[..., None] * u.grad * points.grad_v).sum(-1) + (self.reaction * u.value - self.source) * points.v
        return {"weak": (points.average(integrand) ** 2).sum(-1)}  # (B,)


def fd_solve(a: np.ndarray, problem: ReactionDiffusion) -> np.ndarray:
    """The 5-point finite-difference solution (second order, arithmetic-mean faces) on the nodes of a (n, n)."""
    n = a.shape[0]
    h = 1.0 / (n - 1)
    x = np.linspace(0.0, 1.0, n)
    u = np.repeat(x[:, None], n, axis=1)  # the boundary values g = x ('ij' grid: axis 0 is x)
    inner = np.arange(1, n - 1)
    index = -np.ones((n, n), dtype=int)
    index[1:-1, 1:-1] = np.arange((n - 2) ** 2).reshape(n - 2, n - 2)
    rows, cols, vals = [], [], []
    rhs = np.full((n - 2) ** 2, problem.source)
    for i in inner:
        for j in inner:
            k = index[i, j]
            diag = problem.reaction
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                face = (a[i, j] + a[i + di, j + dj]) / 2 / h**2
                diag += face
                if index[i + di, j + dj] >= 0:
                    rows.append(k), cols.append(index[i + di, j + dj]), vals.append(-face)
                else:
                    rhs[k] += face * u[i + di, j + dj]
            rows.append(k), cols.append(k), vals.append(diag)
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(rhs.size, rhs.size))
    u[1:-1, 1:-1] = spla.spsolve(matrix, rhs).reshape(n - 2, n - 2)
    return u


def make_data(folder: Path, n: int) -> None:
    """train.h5 (inputs only) and val.h5 (inputs and finite-difference solutions) on the 29 x 29 nodes."""
    rng = np.random.default_rng(0)
    nodes = unit_square_nodes(29)
    field = LogNormalField()
    a = np.stack([field.sample(rng)(nodes) for _ in range(n + 8)])
    attrs = {"preset": "reaction-diffusion-example", "a_positive": True}
    save_h5(Dataset(a=a[:n], u=None, x_a=nodes, x_u=nodes, attrs=attrs), folder / "train.h5")
    u_val = np.stack([fd_solve(ai, ReactionDiffusion()) for ai in a[n:]])
    save_h5(Dataset(a=a[n:], u=u_val, x_a=nodes, x_u=nodes, attrs=attrs), folder / "val.h5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n", type=int, default=64, help="number of unlabeled training inputs a")
    parser.add_argument("--out", type=Path, default=Path("runs/custom_pde"))
    args = parser.parse_args()

    make_data(args.out / "data", args.n)
    config = {
        "data": {"dir": str(args.out / "data"), "preset": "reaction-diffusion-example"},
        "model": {"latent_dim": 32, "encoder": {"kind": "mlp", "hidden": [128]},
                  "field": {"width": 48, "depth": 4, "n_sum": 3},
                  "a_decoder": {"width": 48, "depth": 4, "n_sum": 3}, "likelihood": "gaussian", "a_sigma": 0.05},
        "physics": {"pde": f"{Path(__file__).resolve()}:ReactionDiffusion", "pde_args": {"reaction": 5.0},
                    "particles": 64, "r_min": 0.02, "r_max": 0.05, "quadrature": "gauss", "quadrature_n": 3,
                    "precisions": {"weak": 168.2}},
        "train": {"steps": args.steps, "batch_size": 16, "lr": 1e-3, "step_size": 1000, "log_every": 5,
                  "val_every": max(args.steps // 2, 1), "checkpoint_every": args.steps, "threads": 1},
    }
    config_path = args.out / "config_in.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))  # the config, as a file a user would keep
    run = dgno.train(config_path, out=args.out / "run", log=lambda _m: None)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    val = [r["val_u_rel_l2_mean"] for r in rows if "val_u_rel_l2_mean" in r]
    print(f"validation u rel L2: first {val[0]:.4f}, last {val[-1]:.4f}")
    print(f"mean loss of the first 3 logged steps {np.mean(losses[:3]):.4f}, of the last 3 {np.mean(losses[-3:]):.4f}")
    # the trained operator from Python: predict, then invert 40 noisy interior observations of one validation u
    op = run.load()
    val_data = load_h5(args.out / "data" / "val.h5")
    u = op.predict(val_data.a[:1])["u"][0]
    rng = np.random.default_rng(0)
    nodes = rng.choice(np.flatnonzero(((val_data.x_u > 0) & (val_data.x_u < 1)).all(-1).reshape(-1)), 40,
                       replace=False)
    x_obs = val_data.x_u.reshape(-1, 2)[nodes]
    y_obs = val_data.u[0].reshape(-1)[nodes] + 0.01 * rng.standard_normal(40)
    res = dgno.invert(op, x=x_obs, y=y_obs, sigma=0.01, method="map", draws=200,
                      truth={"a": val_data.a[0], "u": val_data.u[0]})
    err = np.linalg.norm(u - val_data.u[0]) / np.linalg.norm(val_data.u[0])
    print(f"predicted u of validation input 0: rel L2 {err:.4f}; inverted from 40 observations: a rel L2 "
          f"{res.summary['a_rel_l2']:.4f}")

if __name__ == "__main__":
    main()
