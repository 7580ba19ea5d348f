"""The grid residual of the physics-informed baselines: zero on the reference solution, second order."""

from __future__ import annotations

import math

import numpy as np
import torch

from dgno.fields import TwoPhaseField, unit_square_nodes
from dgno.pdes import darcy_fd_residual
from dgno.reference import DarcyFD


def test_reference_solution_has_zero_grid_residual(rng):
    n = 29
    field = TwoPhaseField().sample(rng)
    a = np.asarray(field(unit_square_nodes(n)))
    u = DarcyFD().solve(field, 10.0, n)
    r = darcy_fd_residual(torch.tensor(u)[None], torch.tensor(a)[None], 10.0)
    assert r.shape == (1, n - 2, n - 2)
    assert r.abs().max().item() < 1e-8 * 10


def _manufactured(n: int):
    """u = sin(pi x) sin(pi y), a = 1 + x y and f = -div(a grad u) exactly, at the n x n nodes."""
    x = torch.tensor(unit_square_nodes(n))
    X, Y = x[..., 0], x[..., 1]
    u = torch.sin(math.pi * X) * torch.sin(math.pi * Y)
    a = 1 + X * Y
    ux = math.pi * torch.cos(math.pi * X) * torch.sin(math.pi * Y)
    uy = math.pi * torch.sin(math.pi * X) * torch.cos(math.pi * Y)
    return u, a, -(Y * ux + a * (-(math.pi**2)) * u + X * uy + a * (-(math.pi**2)) * u)


def test_residual_of_a_manufactured_solution_is_second_order():
    """u = sin(pi x) sin(pi y), a = 1 + x y: f = -div(a grad u) exactly; the residual is O(h^2)."""
    errs = []
    for n in (17, 33, 65):
        u, a, f = _manufactured(n)
        r = darcy_fd_residual(u[None], a[None], 0.0) - f[None, 1:-1, 1:-1]  # constant source 0, f subtracted here
        errs.append(r.abs().max().item())
    orders = [math.log2(errs[k] / errs[k + 1]) for k in range(2)]
    assert all(1.8 < p < 2.2 for p in orders), (errs, orders)


def test_grid_solve_equals_the_reference_fd_solver(rng):
    """darcy_fd_solve inverts the residual: the same nodal solution as DarcyFD on that grid."""
    from dgno.pdes import darcy_fd_solve

    n = 17
    fields = [TwoPhaseField().sample(rng) for _ in range(2)]
    a = torch.tensor(np.stack([np.asarray(f(unit_square_nodes(n))) for f in fields]))
    u = darcy_fd_solve(a, 10.0)
    want = np.stack([DarcyFD().solve(f, 10.0, n) for f in fields])
    np.testing.assert_allclose(u.numpy(), want, atol=1e-10 * np.abs(want).max())
    assert darcy_fd_residual(u, a, 10.0).abs().max() < 1e-8


def test_central_residual_of_the_reference_baselines_is_second_order_on_its_inner_nodes():
    """The reference baselines' form: (B, n, n) -> (B, n - 4, n - 4), O(h^2) for smooth a."""
    from dgno.pdes import darcy_fd_residual_central

    errs = []
    for n in (17, 33, 65):
        u, a, f = _manufactured(n)
        r = darcy_fd_residual_central(u[None], a[None], 0.0)
        assert r.shape == (1, n - 4, n - 4)
        errs.append((r - f[None, 2:-2, 2:-2]).abs().max().item())
    orders = [math.log2(errs[k] / errs[k + 1]) for k in range(2)]
    assert all(1.8 < p < 2.2 for p in orders), (errs, orders)
