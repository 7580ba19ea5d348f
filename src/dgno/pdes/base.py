"""The problem interface: what a PDE declares, in one file, to the model, the loop, evaluation and inversion.

A problem is one object that everything else consults and never looks past:

- ``domain``: a bounding box, an ``inside`` predicate, boundary parts with samplers, periodic axes;
- ``input``: the role of the input a (an interior coefficient, an initial condition u(., 0), a boundary
  profile) and where its likelihood p(a | beta) comes from (its own decoder, or an output of the fields
  read at the input points);
- ``fields``: the networks' outputs, each with its own hard constraint u = lift(x; a) + M(x) N(x);
- ``outputs``: named functions of the fields' jets (Darcy: u; Stokes: u = psi_y, v = -psi_x, p), used by
  prediction, evaluation, plots and inversion;
- ``weak_layout(options)``: how particles and quadrature are laid out;
- ``terms`` and ``residuals(...)``: the virtual observables, each term with a precision lambda;
- optionally ``boundary_residuals(...)``: penalty terms at boundary points, for conditions that no
  multiplier or lift can carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from dgno.nn.multionet import Jet
from dgno.weak.assembly import WeakPoints
from dgno.weak.layouts import WeakLayout, WeakOptions

INPUT_ROLES = ("coefficient", "initial", "boundary")


# ------------------------------------------------------------------------------------------------ domain
@dataclass(frozen=True)
class BoundaryPart:
    """One part of the boundary (a wall, an inflow edge, a hole) with a sampler of its points.

    ``sample(n, generator)`` returns n points (n, d) on the part (float64, on the generator's device).
    """

    name: str
    sample: Callable[[int, torch.Generator], Tensor]


@dataclass(frozen=True)
class Domain:
    """A domain inside the box [lower, upper]: the points of the box where ``inside`` holds (all of it if None).

    ``periodic`` lists the axes along which the box is periodic.
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    inside: Callable[[Tensor], Tensor] | None = None  # points (N, d) -> bool (N,)
    boundaries: tuple[BoundaryPart, ...] = ()
    periodic: tuple[int, ...] = ()
    axis_names: tuple[str, ...] = ()  # e.g. ("x", "t"); default x0, x1, ...

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ValueError(f"Domain: lower {self.lower} and upper {self.upper} need the same length >= 1")
        if any(hi <= lo for lo, hi in zip(self.lower, self.upper, strict=True)):
            raise ValueError(f"Domain: need lower < upper on every axis, got {self.lower}, {self.upper}")

    @property
    def dim(self) -> int:
        return len(self.lower)

    @property
    def names(self) -> tuple[str, ...]:
        return self.axis_names or tuple(f"x{i}" for i in range(self.dim))

    def contains(self, x: Tensor) -> Tensor:
        """Whether points (N, d) lie in the closed box and satisfy ``inside``: (N,) bool."""
        lo = torch.as_tensor(self.lower, dtype=x.dtype, device=x.device)
        hi = torch.as_tensor(self.upper, dtype=x.dtype, device=x.device)
        ok = ((x >= lo) & (x <= hi)).all(-1)
        if self.inside is not None:
            ok = ok & torch.as_tensor(self.inside(x), dtype=torch.bool, device=x.device)
        return ok



def unit_box(dim: int = 2) -> Domain:
    return Domain(lower=(0.0,) * dim, upper=(1.0,) * dim)


# ------------------------------------------------------------------------------------------------ fields
@dataclass(frozen=True)
class Constraint:
    """A hard constraint u = lift(x; a) + M(x) N(x) on a field's network output N.

    multiplier(x, order): M at points (N, d) with derivatives up to ``order``: Jet of value (N,), grad (N, d),
    hess (N, d, d). lift(x, a, order) (optional): a Jet over (B, N) for the batch's inputs a (B, *grid_a), e.g.
    an initial condition or an inflow profile carried exactly.
    """

    multiplier: Callable[[Tensor, int], Jet]
    lift: Callable[[Tensor, Tensor, int], Jet] | None = None


@dataclass(frozen=True)
class FieldSpec:
    """A network output: its name, the derivative order the residuals need, and its hard constraint (if any)."""

    name: str
    order: int = 1
    constraint: Constraint | None = None


@dataclass(frozen=True)
class Output:
    """A named output of the problem: a function of the fields' jets, with the derivative order it needs.

    ``of(jets)`` maps {field name: Jet over (B, N)} to values (B, N); ``reads`` names the fields it reads
    (None: all of them).
    """

    name: str
    of: Callable[[dict[str, Jet]], Tensor]
    order: int = 0
    reads: tuple[str, ...] | None = None


def field_output(name: str) -> Output:
    """The output that is a field's value itself."""
    return Output(name, lambda jets: jets[name].value, 0, (name,))


@dataclass(frozen=True)
class InputSpec:
    """The role of the input a and where its likelihood p(a | beta) comes from.

    role: "coefficient" (an interior field, read by the residuals), "initial" (u(., 0)) or "boundary" (a profile
    on part of the boundary). output: None means a has its own decoder; otherwise the name of the output that
    equals a at ``at(x_a)``, the input nodes mapped into the domain (e.g. x -> (x, 0) for an initial condition).
    positive: whether valid inputs are positive (checked on data, and needed by some likelihoods).
    """

    role: str = "coefficient"
    output: str | None = None
    at: Callable[[Tensor], Tensor] | None = None
    positive: bool = False

    def __post_init__(self) -> None:
        if self.role not in INPUT_ROLES:
            raise ValueError(f"InputSpec: role must be one of {INPUT_ROLES}, got {self.role!r}")
        if (self.output is None) != (self.at is None):
            raise ValueError("InputSpec: give both output and at (a read from the fields) or neither (own decoder)")


# ----------------------------------------------------------------------------------------------- problem
class Problem(Protocol):
    """A PDE as everything else sees it (one file per PDE in pdes/, or the user's own)."""

    domain: Domain
    input: InputSpec
    fields: tuple[FieldSpec, ...]
    outputs: tuple[Output, ...]
    terms: tuple[str, ...]  # the names of the residual terms, each with a precision lambda

    def weak_layout(self, options: WeakOptions) -> WeakLayout:
        """The particles and quadrature of one step (test functions, time levels, ...)."""
        ...

    def coefficient(self, a: Tensor, x: Tensor) -> Tensor | None:
        """The input read at points x (N, d): (B, *grid_a) -> (B, N); None when the residuals do not read a."""
        ...

    def residuals(self, fields: dict[str, Jet], a: Tensor | None, points: WeakPoints) -> dict[str, Tensor]:
        """Per-sample sums of squared residuals, each (B,): the virtual observables' misfits.

        ``fields[name]`` holds value (B, P, Q) and grad (B, P, Q, d) (hess (B, P, Q, d, d) for order 2);
        ``a`` is the coefficient at the points (B, P, Q), or None.
        """
        ...


def uses_boundary_terms(problem: Problem) -> bool:
    return callable(getattr(problem, "boundary_residuals", None))


# ------------------------------------------------------------------------------------ constraint algebra
def apply_multiplier(m: Jet, net: Jet) -> Jet:
    """u = M N by the product rule: grad u = grad M N + M grad N; hess likewise (shared points).

    m: value (N,), grad (N, d), hess (N, d, d); net: value (B, N), grad (B, N, d), hess (B, N, d, d).
    """
    value = m.value * net.value  # (B, N)
    grad = hess = None
    if net.grad is not None:
        grad = m.grad * net.value[..., None] + m.value[..., None] * net.grad  # (B, N, d)
    if net.hess is not None:
        outer = torch.einsum("ni,bnj->bnij", m.grad, net.grad)  # (B, N, d, d)
        hess = (
            m.hess * net.value[..., None, None]
            + outer
            + outer.transpose(-1, -2)
            + m.value[..., None, None] * net.hess
        )
    return Jet(value, grad, hess)


def add_jets(a: Jet, b: Jet) -> Jet:
    """The sum of two jets over the same points (derivatives present in both are summed)."""
    def plus(s: Tensor | None, t: Tensor | None) -> Tensor | None:
        return None if s is None or t is None else s + t

    return Jet(a.value + b.value, plus(a.grad, b.grad), plus(a.hess, b.hess))


def constrain(constraint: Constraint | None, x: Tensor, net: Jet, a: Tensor | None, order: int) -> Jet:
    """lift(x; a) + M(x) N(x) at shared points x (N, d), or N itself without a constraint."""
    if constraint is None:
        return net
    out = apply_multiplier(constraint.multiplier(x, order), net)
    if constraint.lift is not None:
        out = add_jets(constraint.lift(x, a, order), out)
    return out
