"""The baselines DGNO is compared with: operator networks from an input a to the outputs on the solution points x_u.

Each model asks its problem (``dgno.pdes``) for what it needs, never which PDE it is:

- the fields it predicts, one per output: ``solution_fields`` where the problem declares them (Stokes: u, v and p
  directly, where its DGNO has a stream function), else the one output that is a field of the same name (Darcy,
  Burgers), each with its hard constraint u = lift(x; a) + M(x) N(x), so boundary values hold exactly;
- ``grid_input(a, x_a, x_g)``: the input as a field on the grid, the FNO's input channel (Darcy: the coefficient
  itself; Burgers: the initial condition a(x), the same at every time; Stokes: the inflow a(y) along every column);
- ``grid_residual(u, a, x_g, scheme)`` with the names ``grid_schemes``: a finite-difference residual on that grid
  (Darcy: ``physics.residual`` fd or fd-central; Burgers and Stokes: second-order differences), and optionally
  ``grid_boundary_residuals(u, a, x_g)``: named boundary conditions on the grid (Stokes: the outflow);
- optionally ``strong_residual(fields, a)``: the pointwise residual from jets of order 2 (Burgers, Stokes), and
  ``strong_boundary_residuals(fields, a)`` with ``boundary_points`` per part of ``domain.boundaries``: named
  boundary misfits at random points of those parts (Stokes: wall, inflow, outflow);
- ``input``: where a equals an output at the points ``input.at(x_a)`` (an initial condition, an inflow), the
  misfit there is a loss term, soft (the DGNO reads the same declaration for its p(a | beta)).

Grids. By default the grid models work on the solution points x_u themselves, which must then be a grid (Darcy's
29 x 29 nodes, Burgers' space-time grid). A problem whose solution lives elsewhere (Stokes: on the vertices of a
mesh around a hole) declares a grid of its own, where a grid user would put one:

- ``grid_nodes(x_u)``: the grid (*grid_g, d) (Stokes: a rectangular grid over the channel, the hole included);
- ``grid_multiplier(x_g)``: (*grid_g, C), zero where an output is held at zero (Stokes: the velocity at nodes
  inside the cylinder, the "staircase" wall, and on the channel walls), applied to the net's output;
- ``grid_mask(x_g)``: (*grid_g,) bool, the nodes where the solution is defined (Stokes: the fluid nodes);
- ``grid_to_points(u, x_g, x)``: the grid's prediction at any points x (N, d), for scoring on x_u;
- ``grid_transfer(x_u, triangles, x_g)``: the linear map (index (G, k), weight (G, k)) from values at x_u to the
  grid nodes, on the solution mesh's triangles: the supervised grid models learn the labels mapped to their grid.

Tensors cross the problem interface in the data's layout: (B, *grid) for one output, (B, *grid, C) for several.

Physics-informed, no labels (per sample, then the batch mean):

    loss = w mean_r r^2  [+ w_b mean_j r_b,j^2 per boundary term]  [+ mean_j (u(at(x_j)) - a_j)^2 for an input
                                                                        read from an output]

  * PINO: an FNO on the grid with the grid residual over its nodes.
  * PI-DeepONet / PI-MultiONet: an encoder of a gives the branch input beta; one network per output. If the problem
    declares a strong residual it is imposed at ``collocation`` random points of the domain (inside it, where the
    domain excludes a hole), drawn afresh each step, with the derivatives from the networks' forward-mode jets (one
    trunk pass shared by the batch; valid for a smooth solution); otherwise (Darcy, whose two-phase a has no strong
    form) by the grid residual at the nodes, as the reference did.

Supervised, on labeled pairs (a, u): DeepONet, MultiONet, FNO and the peer library's FNO, with the loss
mean_c ||u_c,pred - u_c||^2 / ||u_c||^2, per output c over the nodes where the model predicts (the squared relative
L2 error of each output, scale-free, as each output is scored; a grid model of its own grid compares on the fluid
nodes of that grid).

Every model exposes ``loss(a, points, u=, labeled=, x_u=) -> LossOutput`` and ``predict(a, x_u) -> {"u": ...}``
and keeps the input nodes and statistics as buffers, so that a run folder reloads it like a DGNO model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch
from torch import Tensor, nn

from dgno.models.dgno import LossOutput
from dgno.nn.multionet import Jet, MultiONet
from dgno.pdes.base import Domain, FieldSpec, Problem, constrain
from dgno.pdes.protocols import (
    GridBoundaryProblem,
    OwnGridProblem,
    SolutionFieldsProblem,
    StrongBoundaryProblem,
    StrongFormProblem,
)


class GridProblem(Problem, Protocol):
    """What a problem declares for the baselines, besides its domain, input, fields and outputs (the optional
    declarations are in the module's docstring)."""

    grid_schemes: tuple[str, ...]  # the names grid_residual accepts (physics.residual)

    def grid_input(self, a: Tensor, x_a: Tensor, x_g: Tensor) -> Tensor:
        """The input a (B, *grid_a) at the nodes x_a (*grid_a, d_a) as a field on the grid x_g (*grid_g, d).

        Returns (B, *grid_g).
        """
        ...

    def grid_residual(self, u: Tensor, a: Tensor, x_g: Tensor, scheme: str) -> Tensor:
        """Finite-difference residual of u (B, *grid_g[, C]) for inputs a (B, *grid_a): (B, ...) at inner nodes."""
        ...


def count_parameters(module: nn.Module) -> int:
    """Trainable real numbers (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


def solution_fields(problem: Problem) -> tuple[FieldSpec, ...]:
    """The fields a baseline predicts, one per output in the outputs' order: the problem's ``solution_fields``, or
    its one output when that is a field of the same name."""
    names = tuple(o.name for o in problem.outputs)
    declared = problem.solution_fields if isinstance(problem, SolutionFieldsProblem) else None
    if declared is not None:
        fields = tuple(declared)
        if tuple(f.name for f in fields) != names:
            raise ValueError(f"{type(problem).__name__}.solution_fields {[f.name for f in fields]} must name its "
                             f"outputs {list(names)} in order")
        return fields
    field = next((f for f in problem.fields if len(names) == 1 and f.name == names[0]), None)
    if field is None:
        raise ValueError(f"the baselines predict one field per output; {type(problem).__name__} has outputs "
                         f"{list(names)} and fields {[f.name for f in problem.fields]}: declare solution_fields")
    return (field,)


def uniform_points(domain: Domain, n: int, generator: torch.Generator) -> Tensor:
    """n points drawn uniformly from the domain (its box, by rejection where ``inside`` excludes part of it).

    Returns (n, d) float64 on the generator's device.
    """
    lo = torch.tensor(domain.lower, dtype=torch.float64, device=generator.device)  # (d,)
    hi = torch.tensor(domain.upper, dtype=torch.float64, device=generator.device)
    kept: list[Tensor] = []
    total = 0
    for _ in range(1000):
        x = lo + (hi - lo) * torch.rand(n, domain.dim, generator=generator, dtype=torch.float64, device=lo.device)
        if domain.inside is not None:
            x = x[domain.contains(x)]  # (n', d)
        kept.append(x)
        total += x.shape[0]
        if total >= n:
            return torch.cat(kept)[:n]
    raise ValueError(f"uniform_points: the domain's inside holds too little of its box to draw {n} points")


def node_index(nodes: Tensor, x: Tensor) -> Tensor:
    """The index of the node at each point: nodes (M, d), points x (N, d) -> (N,) long.

    ValueError if a point is not a node (to 1e-5 of the grid's extent).
    """
    dist, idx = torch.cdist(x, nodes, compute_mode="donot_use_mm_for_euclid_dist").min(1)  # (N,), (N,)
    extent = (nodes.max(0).values - nodes.min(0).values).max()
    if dist.max() > 1e-5 * extent:
        raise ValueError("the points where the input is read (input.at(x_a)) are not nodes of the solution grid")
    return idx


def squared_relative_errors(pred: Tensor, true: Tensor) -> Tensor:
    """Mean over the outputs of ||pred_c - true_c||^2 / ||true_c||^2: (B, N, C), (B, N, C) -> (B,)."""
    rel2 = (pred - true).pow(2).sum(1) / true.pow(2).sum(1).clamp_min(1e-30)  # (B, C)
    return rel2.mean(1)


def onto_grid(values: Tensor, index: Tensor, weight: Tensor) -> Tensor:
    """Values (B, N, C) at the solution points through a problem's ``grid_transfer`` map (index (G, k), weight
    (G, k)): (B, G, C) at the grid's nodes."""
    return (values[:, index] * weight[..., None].to(values.dtype)).sum(2)


def through_grid(problem: Problem, u: Tensor, x_u: Tensor, triangles: Tensor) -> Tensor:
    """The outputs u (B, *grid_u[, C]) at the solution points x_u (*grid_u, d), a mesh of ``triangles`` (T, 3),
    mapped onto the problem's own grid (``grid_transfer``, then ``grid_multiplier``) and back (``grid_to_points``):
    what a model on that grid predicts at best (the floor of FNO and PINO), in u's shape."""
    x = x_u.reshape(-1, x_u.shape[-1])
    x_g = problem.grid_nodes(x)
    c = len(solution_fields(problem))
    index, weight = problem.grid_transfer(x, triangles, x_g)
    nodes = onto_grid(u.reshape(u.shape[0], -1, c), index, weight) * problem.grid_multiplier(x_g).reshape(1, -1, c)
    grid = nodes.reshape(u.shape[0], *x_g.shape[:-1], *([c] if c > 1 else []))  # the data's layout
    return problem.grid_to_points(grid, x_g, x).reshape(u.shape)


def mean_square(r: Tensor) -> Tensor:
    """Per-sample mean of the squared residuals over every axis but the batch's: (B, ...) -> (B,)."""
    return r.pow(2).flatten(1).mean(1)


class GridOperator(nn.Module):
    """Common part of the baselines: normalisation, hard constraints, residual, input-misfit and data terms.

    Subclasses implement ``forward(a, x_u)``: the outputs at the solution points x_u (*grid_u, d) for inputs a
    (B, *grid_a), in the data's layout (B, *grid_u[, C]), and may override ``native`` (where the loss reads the
    prediction), ``physics_terms`` and ``data_term``.
    """

    uses_weak_points = False

    def __init__(
        self,
        *,
        problem: GridProblem,
        x_a: Tensor,
        a_mean: Tensor,
        a_std: Tensor,
        physics: bool,
        residual_weight: float = 1.0,
        boundary_weight: float = 1.0,
        scheme: str = "fd",
        triangles: Tensor | None = None,
    ) -> None:
        super().__init__()
        if scheme not in problem.grid_schemes:
            raise ValueError(f"unknown grid residual {scheme!r}; choose one of {', '.join(problem.grid_schemes)}")
        self.problem = problem
        self.fields = solution_fields(problem)
        self.output_names = tuple(f.name for f in self.fields)
        spec = problem.input
        if spec.output is not None and spec.output not in self.output_names:
            raise ValueError(f"the input is read from the output {spec.output!r}, "
                             f"the baselines predict {list(self.output_names)}")
        self.own_grid = isinstance(problem, OwnGridProblem)
        self.scheme = scheme
        self.physics = physics
        self.residual_weight = residual_weight
        self.boundary_weight = boundary_weight
        self.triangles = triangles  # (T, 3) of the solution mesh, when the data has one (a grid model's labels)
        self.register_buffer("x_a", x_a)  # (*grid_a, d_a)
        self.register_buffer("a_mean", a_mean)  # (*grid_a)
        self.register_buffer("a_std", a_std)  # (*grid_a)

    @property
    def needs_labels(self) -> bool:
        return not self.physics

    def normalise(self, a: Tensor) -> Tensor:
        return (a - self.a_mean) / self.a_std  # (B, *grid_a)

    # ------------------------------------------------------------------------------------------- layouts
    def shaped(self, values: Tensor, grid: tuple[int, ...]) -> Tensor:
        """(B, N, C) -> the data's layout: (B, *grid) for one output, (B, *grid, C) for several."""
        if len(self.fields) == 1:
            return values[..., 0].reshape(values.shape[0], *grid)
        return values.reshape(values.shape[0], *grid, values.shape[-1])

    def channels(self, u: Tensor) -> Tensor:
        """The data's layout (B, *grid[, C]) -> (B, N, C)."""
        return u.reshape(u.shape[0], -1, len(self.fields))

    def nodes(self, x_u: Tensor) -> Tensor:
        """The grid of the grid terms: the problem's own grid for the solution points x_u, or x_u itself."""
        return self.problem.grid_nodes(x_u) if self.own_grid else x_u

    def input_points(self) -> Tensor:
        """The points (n_a, d) where an output equals the input a (``input.at`` of the input nodes)."""
        return self.problem.input.at(self.x_a.reshape(-1, self.x_a.shape[-1]))

    def read_at(self, u: Tensor, x_g: Tensor, x: Tensor) -> Tensor:
        """The outputs u (B, *grid_g[, C]) on the grid x_g at the points x (N, d): (B, N, C). On the problem's own
        grid by its interpolation; otherwise the points must be nodes."""
        if self.own_grid:
            return self.channels(self.problem.grid_to_points(u, x_g, x))
        return self.channels(u)[:, node_index(x_g.reshape(-1, x_g.shape[-1]), x)]

    # ---------------------------------------------------------------------------------------------- loss
    @property
    def physics_reads_grid(self) -> bool:
        """Whether the physics terms read the prediction on the grid (else only at points of their own)."""
        return True

    def native(self, a: Tensor, x_u: Tensor) -> Tensor:
        """The prediction where the loss reads it: at the solution points x_u, (B, *grid_u[, C])."""
        return self(a, x_u)

    def physics_terms(self, a: Tensor, x_u: Tensor, grid: Tensor, generator: torch.Generator | None) -> dict:
        """Per-sample (B,) physics terms from the prediction on the grid (B, *grid_g[, C]): the residual, the
        problem's boundary terms on the grid and the input misfit."""
        x_g = self.nodes(x_u)
        parts = {"residual": self.residual_weight * mean_square(self.problem.grid_residual(grid, a, x_g, self.scheme))}
        if isinstance(self.problem, GridBoundaryProblem):
            for name, r in self.problem.grid_boundary_residuals(grid, a, x_g).items():
                parts[name] = self.boundary_weight * mean_square(r)
        spec = self.problem.input
        if spec.output is not None:
            c = self.output_names.index(spec.output)
            at = self.read_at(grid, x_g, self.input_points())[..., c]  # (B, n_a)
            parts[spec.role] = (at - a.flatten(1)).pow(2).mean(1)
        return parts

    def data_term(self, pred: Tensor, u: Tensor, x_u: Tensor) -> Tensor:
        """Per-sample (B,) squared relative errors of the prediction (``native``) against the labels u
        (B, *grid_u[, C]) at the solution points, averaged over the outputs."""
        if u.shape != pred.shape:
            raise ValueError(f"labeled u has shape {tuple(u.shape)}, the model predicts {tuple(pred.shape)}")
        return squared_relative_errors(self.channels(pred), self.channels(u))

    def loss(
        self,
        a: Tensor,
        points=None,
        *,
        u: Tensor | None = None,
        labeled: Tensor | None = None,
        x_u: Tensor | None = None,
        generator: torch.Generator | None = None,
        **_: object,
    ) -> LossOutput:
        """Mean over the batch of the physics terms (physics) and/or the labeled term.

        a (B, *grid_a); x_u (*grid_u, d) the solution points; u (B, *grid_u[, C]) and labeled (B,) bool the labels
        (samples with labeled = False add nothing); ``generator`` draws collocation points (default: the model's).
        """
        if x_u is None:
            raise ValueError("a baseline's loss needs the solution nodes x_u")
        has_labels = u is not None and labeled is not None and bool(labeled.any())
        pred = self.native(a, x_u) if has_labels or (self.physics and self.physics_reads_grid) else None
        parts: dict[str, Tensor] = {}
        if self.physics:
            parts.update(self.physics_terms(a, x_u, pred, generator))
        if has_labels:
            rel2 = self.data_term(pred, u, x_u)
            parts["data"] = rel2 * labeled.to(rel2.dtype)
        if not parts:
            raise ValueError("a supervised baseline needs labeled samples (data.n_labeled > 0)")
        total = torch.stack(list(parts.values())).sum(0).mean()
        return LossOutput(total, {k: v.detach().mean() for k, v in parts.items()})

    @torch.no_grad()
    def predict(self, a: Tensor, x_u: Tensor) -> dict[str, Tensor]:
        """The outputs at the solution points x_u (*grid_u, d): {"u": (B, *grid_u[, C])}."""
        return {"u": self(a, x_u)}


class ONetOperator(GridOperator):
    """(PI-)DeepONet / (PI-)MultiONet: output c is lift_c(x; a) + M_c(x) G_c(enc(a))(x), one network G_c per output
    (as DGNO has one per field), the encoder shared, each trunk shared by the batch.

    With physics and a problem that declares ``strong_residual``, the residual term is the mean of r^2 at
    ``collocation`` points drawn uniformly from the domain each step (and the problem's strong boundary terms at
    ``boundary_points`` random points of each boundary part): from the ``generator`` passed to the loss, or else
    from one seeded by (``seed``, the number of sets drawn so far), a counter kept as a buffer so that a resumed
    run draws what an uninterrupted one would.
    """

    def __init__(self, encoder: nn.Module, nets: Mapping[str, MultiONet], *, collocation: int = 0, seed: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if tuple(nets) != self.output_names:
            raise ValueError(f"one network per output {list(self.output_names)}, got {list(nets)}")
        self.encoder = encoder
        self.nets = nn.ModuleDict(nets)
        self.strong = self.physics and isinstance(self.problem, StrongFormProblem)
        self.strong_boundary = self.strong and isinstance(self.problem, StrongBoundaryProblem)
        if self.strong:
            if collocation < 1:
                raise ValueError(f"a strong residual needs collocation points >= 1, got {collocation}")
            self.collocation, self.seed = collocation, seed
            self.register_buffer("draws", torch.zeros((), dtype=torch.long))  # collocation sets drawn so far

    @property
    def net(self) -> MultiONet:
        """The network of a one-output model."""
        if len(self.nets) != 1:
            raise AttributeError(f"a model of the outputs {list(self.output_names)} has one network each (nets)")
        return next(iter(self.nets.values()))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Run folders of one-output models written before the models had a network per output hold it as 'net.'."""
        if len(self.nets) == 1:
            old, new = prefix + "net.", f"{prefix}nets.{self.output_names[0]}."
            for key in [k for k in state_dict if k.startswith(old)]:
                state_dict[new + key[len(old):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def field_jets(self, beta: Tensor, a: Tensor, x: Tensor, order: int,
                   names: tuple[str, ...] | None = None) -> dict[str, Jet]:
        """The outputs (or those ``names``) and their derivatives up to ``order`` at shared points x (N, d) for
        latents beta (B, d_beta): Jets over (B, N)."""
        return {f.name: constrain(f.constraint, x, self.nets[f.name].jet(x, beta, order), a, order)
                for f in self.fields if names is None or f.name in names}

    def jets(self, beta: Tensor, a: Tensor, x: Tensor, order: int) -> Jet:
        """The one output of a one-output model and its derivatives (see ``field_jets``)."""
        if len(self.fields) != 1:
            raise ValueError(f"jets() is the one output's; this model has {list(self.output_names)}: field_jets()")
        return self.field_jets(beta, a, x, order)[self.output_names[0]]

    def forward(self, a: Tensor, x_u: Tensor) -> Tensor:
        """The outputs at the points x_u (*grid_u, d) for inputs a (B, *grid_a): (B, *grid_u[, C])."""
        beta = self.encoder(self.normalise(a))  # (B, d_beta)
        jets = self.field_jets(beta, a, x_u.reshape(-1, x_u.shape[-1]), 0)
        values = torch.stack([j.value for j in jets.values()], -1)  # (B, N, C)
        return self.shaped(values, tuple(x_u.shape[:-1]))

    @property
    def physics_reads_grid(self) -> bool:
        return not self.strong

    def step_generator(self, generator: torch.Generator | None = None) -> torch.Generator:
        """This step's generator of random points, ``generator`` or else the model's next seeded one; counts the
        step either way (the count seeds the default generators)."""
        if generator is None:
            generator = torch.Generator().manual_seed(1_000_003 * self.seed + int(self.draws))
        self.draws.add_(1)
        return generator

    def collocation_points(self, generator: torch.Generator | None = None) -> Tensor:
        """A step's collocation points (n, d), uniform in the domain, in the model's dtype and device (counts the
        step, as ``step_generator``)."""
        return self._collocation(self.step_generator(generator))

    def _collocation(self, generator: torch.Generator) -> Tensor:
        x = uniform_points(self.problem.domain, self.collocation, generator)  # (n, d) float64
        return x.to(self.x_a.device, self.x_a.dtype)

    def boundary_points(self, generator: torch.Generator) -> dict[str, Tensor]:
        """``problem.boundary_points`` random points (n, d) on each boundary part, in the model's dtype and device."""
        n = self.problem.boundary_points
        return {p.name: p.sample(n, generator).to(self.x_a.device, self.x_a.dtype)
                for p in self.problem.domain.boundaries}

    def physics_terms(self, a: Tensor, x_u: Tensor, grid: Tensor | None, generator: torch.Generator | None) -> dict:
        """The strong residual at collocation points, the strong boundary terms at boundary points and the input
        misfit at its points (or, without a strong form, the grid terms)."""
        if not self.strong:
            return super().physics_terms(a, x_u, grid, generator)
        beta = self.encoder(self.normalise(a))  # (B, d_beta)
        generator = self.step_generator(generator)  # the collocation and boundary points of this step
        x = self._collocation(generator)  # (n, d)
        fields = self.field_jets(beta, a, x, 2)  # value (B, n), grad (B, n, d), hess (B, n, d, d)
        r = self.problem.strong_residual(fields, self.problem.coefficient(a, x))  # (B, n[, K])
        parts = {"residual": self.residual_weight * mean_square(r)}
        if self.strong_boundary:
            on = {part: self.field_jets(beta, a, xb, 1) for part, xb in self.boundary_points(generator).items()}
            for name, rb in self.problem.strong_boundary_residuals(on, a).items():
                parts[name] = self.boundary_weight * mean_square(rb)
        spec = self.problem.input
        if spec.output is not None:
            u0 = self.field_jets(beta, a, self.input_points(), 0, (spec.output,))[spec.output].value  # (B, n_a)
            parts[spec.role] = (u0 - a.flatten(1)).pow(2).mean(1)
        return parts


class FieldOperator(GridOperator):
    """FNO-type models, a grid-to-grid map: PINO, FNO and the peer library's FNO.

    On the grid x_g (the solution grid, or the problem's own): outputs lift + M * net(grid_input(normalised a)),
    times the problem's grid multiplier on a grid of its own; the net maps (B, H, W) -> (B, H, W[, C]). On a grid of
    its own the predictions at the solution points are the problem's interpolation of the grid's, and the labels
    are mapped onto the grid (``grid_transfer``) for the supervised loss, over the nodes of ``grid_mask``.
    """

    def __init__(self, net: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = net
        self._transfer: tuple[Tensor, Tensor, Tensor] | None = None  # (x_u, index, weight) of the label map

    def on_grid(self, a: Tensor, x_g: Tensor) -> Tensor:
        """The outputs at the nodes of the grid x_g (*grid_g, d) (one the problem maps its input onto):
        (B, *grid_g[, C])."""
        v = self.problem.grid_input(self.normalise(a), self.x_a, x_g)  # (B, *grid_g)
        raw = self.channels(self.net(v))  # (B, G, C)
        x = x_g.reshape(-1, x_g.shape[-1])  # (G, d)
        values = torch.stack([constrain(f.constraint, x, Jet(raw[..., c], None, None), a, 0).value
                              for c, f in enumerate(self.fields)], -1)  # (B, G, C)
        if self.own_grid:
            values = values * self.problem.grid_multiplier(x_g).reshape(1, -1, len(self.fields))
        return self.shaped(values, tuple(x_g.shape[:-1]))

    def native(self, a: Tensor, x_u: Tensor) -> Tensor:
        """The prediction on the grid, where the grid terms and the labels are compared."""
        return self.on_grid(a, self.nodes(x_u))

    def forward(self, a: Tensor, x_u: Tensor) -> Tensor:
        """The outputs at the solution points x_u (*grid_u, d): (B, *grid_u[, C])."""
        if not self.own_grid:
            return self.on_grid(a, x_u)
        x_g = self.nodes(x_u)
        values = self.read_at(self.on_grid(a, x_g), x_g, x_u.reshape(-1, x_u.shape[-1]))  # (B, N, C)
        return self.shaped(values, tuple(x_u.shape[:-1]))

    def transfer(self, x_u: Tensor, x_g: Tensor) -> tuple[Tensor, Tensor]:
        """The problem's map (index (G, k), weight (G, k)) from the solution points x_u to the grid, computed once."""
        if self._transfer is None or not torch.equal(self._transfer[0], x_u):
            if self.triangles is None:
                raise ValueError("a supervised model on the problem's own grid maps the labels onto it on the "
                                 "solution mesh: the data needs its triangles (extras/triangles)")
            idx, weight = self.problem.grid_transfer(x_u.reshape(-1, x_u.shape[-1]), self.triangles, x_g)
            self._transfer = (x_u.clone(), idx.to(x_u.device), weight.to(x_u.device, x_u.dtype))
        return self._transfer[1], self._transfer[2]

    def data_term(self, pred: Tensor, u: Tensor, x_u: Tensor) -> Tensor:
        """On a grid of its own: the labels mapped onto the grid, compared at the nodes of ``grid_mask``."""
        if not self.own_grid:
            return super().data_term(pred, u, x_u)
        x_g = self.nodes(x_u)
        idx, weight = self.transfer(x_u, x_g)  # (G, k)
        labels = onto_grid(self.channels(u), idx, weight)  # (B, G, C)
        mask = self.problem.grid_mask(x_g).reshape(-1)  # (G,)
        return squared_relative_errors(self.channels(pred)[:, mask], labels[:, mask])


class NeuralOpFNO(nn.Module):
    """Adapter for neuraloperator's FNO: (B, H, W) -> (B, H, W[, C]) through its (B, C, H, W) convention."""

    def __init__(self, *, modes: int, width: int, layers: int, padding: int, out_channels: int = 1) -> None:
        super().__init__()
        try:
            from neuralop.models import FNO
        except ImportError as exc:
            raise ImportError(f"neuraloperator is not installed ({exc}); pip install 'dgno[peers]'") from None
        # 'grid' positional embedding appends the (x, y) channels itself; padding as a fraction of the grid
        self.out_channels = out_channels
        self.net = FNO(n_modes=(modes, modes), in_channels=1, out_channels=out_channels, hidden_channels=width,
                       n_layers=layers, positional_embedding="grid", domain_padding=None if not padding else 0.1)

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z[:, None])  # (B, C, H, W)
        return out[:, 0] if self.out_channels == 1 else out.permute(0, 2, 3, 1)

    def state_dict(self, *args, **kwargs):
        """Tensors only: neuraloperator adds a '_metadata' entry of Python objects, which our checkpoints
        (loaded with weights_only=True) do not hold; the architecture is in the run's config instead."""
        out = super().state_dict(*args, **kwargs)
        for key in [k for k, v in out.items() if not isinstance(v, Tensor)]:
            del out[key]
        return out
