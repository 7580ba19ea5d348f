"""Weak-form assembly: quadrature points of all particles with the test functions there, and ball averages.

A weak residual is written as the ball average of an integrand, e.g. for -div(a grad u) = f

    r_j = mean_{B_j} (a grad u . grad w_j - f w_j) ~= wp.average(a * (grad_u * wp.grad_v).sum(-1) - f * wp.v)

with every field evaluated at ``wp.points`` and brought back to (..., P, Q) by ``wp.unflatten``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from dgno.weak.particles import Particles
from dgno.weak.quadrature import QuadratureRule
from dgno.weak.testfunctions import Wendland


@dataclass(frozen=True)
class WeakPoints:
    """Quadrature points of all particles with the test function values and gradients there.

    Axes: P particles, Q quadrature points per particle, d space dimension. For particle j with centre c_j and
    radius R_j and the unit-ball rule (xi_q, w_q): x[j, q] = c_j + R_j xi_q, v[j, q] = phi(|xi_q|),
    grad_v[j, q] = grad_xi phi(xi_q) / R_j.
    """

    x: Tensor  # (P, Q, d) physical quadrature points x = c + R xi
    v: Tensor  # (P, Q) test function values phi(|xi|)
    grad_v: Tensor  # (P, Q, d) physical gradients grad_xi phi / R
    weights: Tensor  # (Q,) averaging weights, sum 1
    boundary: dict[str, Tensor] = field(default_factory=dict)  # boundary part -> points (M, d), for penalty terms

    @property
    def n_particles(self) -> int:
        """P."""
        return self.x.shape[0]

    @property
    def n_quad(self) -> int:
        """Q."""
        return self.x.shape[1]

    def average(self, integrand: Tensor) -> Tensor:
        """Ball averages (1/|B_j|) int_{B_j} g ~= sum_q weights[q] g[..., j, q]: (..., P, Q) -> (..., P)."""
        if tuple(integrand.shape[-2:]) != (self.n_particles, self.n_quad):
            raise ValueError(
                f"WeakPoints.average: integrand must end in (P, Q) = {(self.n_particles, self.n_quad)}, "
                f"got {tuple(integrand.shape)}"
            )
        return integrand @ self.weights  # (..., P)

    @property
    def points(self) -> Tensor:
        """All quadrature points, particle-major: x flattened to (P * Q, d), row j * Q + q is x[j, q]."""
        return self.x.reshape(-1, self.x.shape[-1])  # (P * Q, d)

    def unflatten(self, values: Tensor, *, axis: int = -1) -> Tensor:
        """Values at ``points`` back to particles: the axis ``axis`` of length P * Q is split into (P, Q).

        (..., P * Q) -> (..., P, Q) with the default axis = -1; e.g. gradients (B, P * Q, d) -> (B, P, Q, d) with
        axis = -2 (or 1). The new axis at ``axis`` is P (particles), the next is Q (quadrature points).
        """
        pq = self.n_particles * self.n_quad
        if values.ndim == 0 or values.shape[axis] != pq:
            raise ValueError(
                f"WeakPoints.unflatten: axis {axis} of values {tuple(values.shape)} must have length P * Q = {pq}"
                " (pass axis= to name the point axis, e.g. axis=-2 for gradients (..., P * Q, d))"
            )
        return values.unflatten(axis, (self.n_particles, self.n_quad))  # (..., P, Q, *rest)


def weak_points(particles: Particles, rule: QuadratureRule, test_function: Wendland) -> WeakPoints:
    """Map the unit-ball rule to every particle and evaluate the test function there (particles' dtype and device)."""
    c, radius = particles.centers, particles.radii  # (P, d), (P,)
    if c.shape[1] != rule.points.shape[1] or test_function.dim != c.shape[1]:
        raise ValueError(
            f"weak_points: dimensions differ: particles {c.shape[1]}, rule {rule.points.shape[1]}, "
            f"test function {test_function.dim}"
        )
    rule = rule.to(device=c.device, dtype=c.dtype)
    xi = rule.points  # (Q, d)
    phi, grad_phi = test_function.value_and_grad(xi)  # (Q,), (Q, d)
    x = c[:, None, :] + radius[:, None, None] * xi[None]  # (P, Q, d)
    v = phi.expand(c.shape[0], -1).contiguous()  # (P, Q)
    grad_v = grad_phi[None] / radius[:, None, None]  # (P, Q, d)
    return WeakPoints(x=x, v=v, grad_v=grad_v, weights=rule.weights)
