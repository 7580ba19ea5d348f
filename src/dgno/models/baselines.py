"""The baselines DGNO is compared with: operator networks from an input a to u on the solution grid x_u.

Each model asks its problem (``dgno.pdes``) for what it needs, never which PDE it is:

- the hard constraint u = lift(x; a) + M(x) N(x) of the problem's field named like its one output
  (Darcy: M = sin(pi x) sin(pi y); Burgers: M = cos(pi x / 2)), so boundary values hold exactly;
- ``grid_input(a, x_a, x_u)``: the input as a field on the solution grid, the FNO's input channel
  (Darcy: the coefficient itself; Burgers: the initial condition a(x), the same at every time);
- ``grid_residual(u, a, x_u, scheme)`` with the names ``grid_schemes``: a finite-difference residual on
  that grid (Darcy: ``physics.residual`` fd or fd-central; Burgers: second-order central differences);
- optionally ``strong_residual(fields, a)``: the pointwise residual from jets of order 2 (Burgers);
- ``input``: where a equals the output at the points ``input.at(x_a)`` (an initial condition), the misfit
  there is a loss term, soft (the DGNO reads the same declaration for its p(a | beta)).

Physics-informed, no labels (per sample, then the batch mean):

    loss = w mean_r r^2  [+ mean_j (u(at(x_j)) - a_j)^2  for an initial or boundary input]

  * PINO: an FNO on the solution grid with the grid residual over its nodes.
  * PI-DeepONet / PI-MultiONet: an encoder of a gives the branch input beta. If the problem declares a
    strong residual it is imposed at ``collocation`` random points of the domain, drawn afresh each step,
    with u_t, u_x, u_xx from the network's forward-mode jets (one trunk pass shared by the batch; valid for
    a smooth solution); otherwise (Darcy, whose two-phase a has no strong form) by the grid residual at
    the nodes, as the reference did.

Supervised, on labeled pairs (a, u): DeepONet, MultiONet, FNO and the peer library's FNO, with the loss
mean_b ||u_pred - u||^2 / ||u||^2 over the solution grid (the squared relative L2 error, scale-free).

Every model exposes ``loss(a, points, u=, labeled=, x_u=) -> LossOutput`` and ``predict(a, x_u) -> {"u": ...}``
and keeps the input nodes and statistics as buffers, so that a run folder reloads it like a DGNO model.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from dgno.models.dgno import LossOutput
from dgno.nn.multionet import Jet, MultiONet
from dgno.pdes.base import Domain, FieldSpec, Problem, constrain


class GridProblem(Problem, Protocol):
    """What a problem declares for the baselines, besides its domain, input, fields and outputs."""

    grid_schemes: tuple[str, ...]  # the names grid_residual accepts (physics.residual)

    def grid_input(self, a: Tensor, x_a: Tensor, x_u: Tensor) -> Tensor:
        """The input a (B, *grid_a) at the nodes x_a (*grid_a, d_a) as a field on the grid x_u (*grid_u, d).

        Returns (B, *grid_u).
        """
        ...

    def grid_residual(self, u: Tensor, a: Tensor, x_u: Tensor, scheme: str) -> Tensor:
        """Finite-difference residual of u (B, *grid_u) for inputs a (B, *grid_a): (B, ...) at inner nodes."""
        ...


def count_parameters(module: nn.Module) -> int:
    """Trainable real numbers (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


def solution_field(problem: Problem) -> FieldSpec:
    """The field a baseline predicts: the problem's one output, which must be a field of the same name."""
    names = [o.name for o in problem.outputs]
    field = next((f for f in problem.fields if len(names) == 1 and f.name == names[0]), None)
    if field is None:
        raise ValueError(f"the baselines predict one output that is a field; {type(problem).__name__} has outputs "
                         f"{names} and fields {[f.name for f in problem.fields]}")
    return field


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


class GridOperator(nn.Module):
    """Common part of the baselines: normalisation, hard constraint, residual, input-misfit and data terms.

    Subclasses implement ``forward(a, x_u)``: u on the grid x_u (*grid_u, d) for inputs a (B, *grid_a),
    (B, *grid_u), and may override ``physics_terms``.
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
        scheme: str = "fd",
    ) -> None:
        super().__init__()
        if scheme not in problem.grid_schemes:
            raise ValueError(f"unknown grid residual {scheme!r}; choose one of {', '.join(problem.grid_schemes)}")
        self.problem = problem
        self.field = solution_field(problem)
        spec = problem.input
        if spec.output is not None and spec.output != self.field.name:
            raise ValueError(f"the input is read from the output {spec.output!r}, "
                             f"the baselines predict {self.field.name!r}")
        self.output_names = (self.field.name,)
        self.scheme = scheme
        self.physics = physics
        self.residual_weight = residual_weight
        self.register_buffer("x_a", x_a)  # (*grid_a, d_a)
        self.register_buffer("a_mean", a_mean)  # (*grid_a)
        self.register_buffer("a_std", a_std)  # (*grid_a)

    @property
    def needs_labels(self) -> bool:
        return not self.physics

    def normalise(self, a: Tensor) -> Tensor:
        return (a - self.a_mean) / self.a_std  # (B, *grid_a)

    def constrained(self, a: Tensor, x: Tensor, net: Jet, order: int) -> Jet:
        """lift(x; a) + M(x) N(x) at points x (N, d) for the network's jet N over (B, N)."""
        return constrain(self.field.constraint, x, net, a, order)

    def input_points(self) -> Tensor:
        """The points (n_a, d) where u equals the input a (``input.at`` of the input nodes)."""
        return self.problem.input.at(self.x_a.reshape(-1, self.x_a.shape[-1]))

    @property
    def physics_reads_grid(self) -> bool:
        """Whether the physics terms read u on the solution grid (else only at points of their own)."""
        return True

    def physics_terms(self, a: Tensor, x_u: Tensor, grid: Tensor, generator: torch.Generator | None) -> dict:
        """Per-sample (B,) physics terms from u on the grid (B, *grid_u): the residual and the input misfit."""
        r = self.problem.grid_residual(grid, a, x_u, self.scheme)  # (B, ...) at the inner nodes
        parts = {"residual": self.residual_weight * r.pow(2).flatten(1).mean(1)}
        spec = self.problem.input
        if spec.output is not None:
            idx = node_index(x_u.reshape(-1, x_u.shape[-1]), self.input_points())  # (n_a,)
            parts[spec.role] = (grid.flatten(1)[:, idx] - a.flatten(1)).pow(2).mean(1)
        return parts

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

        a (B, *grid_a); x_u (*grid_u, d) the solution nodes; u (B, *grid_u) and labeled (B,) bool the labels
        (samples with labeled = False add nothing); ``generator`` draws collocation points (default: the model's).
        """
        if x_u is None:
            raise ValueError("a baseline's loss needs the solution nodes x_u")
        has_labels = u is not None and labeled is not None and bool(labeled.any())
        grid = self(a, x_u) if has_labels or (self.physics and self.physics_reads_grid) else None  # (B, *grid_u)
        parts: dict[str, Tensor] = {}
        if self.physics:
            parts.update(self.physics_terms(a, x_u, grid, generator))
        if has_labels:
            if u.shape != grid.shape:
                raise ValueError(f"labeled u has shape {tuple(u.shape)}, the model predicts {tuple(grid.shape)}")
            rel2 = (grid - u).pow(2).flatten(1).sum(1) / u.pow(2).flatten(1).sum(1).clamp_min(1e-30)
            parts["data"] = rel2 * labeled.to(rel2.dtype)
        if not parts:
            raise ValueError("a supervised baseline needs labeled samples (data.n_labeled > 0)")
        total = torch.stack(list(parts.values())).sum(0).mean()
        return LossOutput(total, {k: v.detach().mean() for k, v in parts.items()})

    @torch.no_grad()
    def predict(self, a: Tensor, x_u: Tensor) -> dict[str, Tensor]:
        """u at the nodes x_u (*grid_u, d): {"u": (B, *grid_u)}."""
        return {"u": self(a, x_u)}


class ONetOperator(GridOperator):
    """(PI-)DeepONet / (PI-)MultiONet: u(x) = lift(x; a) + M(x) G(enc(a))(x), the trunk shared by the batch.

    With physics and a problem that declares ``strong_residual``, the residual term is the mean of r^2 at
    ``collocation`` points drawn uniformly from the domain each step: from the ``generator`` passed to the
    loss, or else from one seeded by (``seed``, the number of sets drawn so far), a counter kept as a
    buffer so that a resumed run draws what an uninterrupted one would.
    """

    def __init__(self, encoder: nn.Module, net: MultiONet, *, collocation: int = 0, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.net = net
        self.strong = self.physics and callable(getattr(self.problem, "strong_residual", None))
        if self.strong:
            if collocation < 1:
                raise ValueError(f"a strong residual needs collocation points >= 1, got {collocation}")
            self.collocation, self.seed = collocation, seed
            self.register_buffer("draws", torch.zeros((), dtype=torch.long))  # collocation sets drawn so far

    def jets(self, beta: Tensor, a: Tensor, x: Tensor, order: int) -> Jet:
        """u and its derivatives up to ``order`` at shared points x (N, d) for latents beta (B, d_beta): over (B, N)."""
        return self.constrained(a, x, self.net.jet(x, beta, order), order)

    def forward(self, a: Tensor, x_u: Tensor) -> Tensor:
        """u at the nodes x_u (*grid_u, d) for inputs a (B, *grid_a): (B, *grid_u)."""
        beta = self.encoder(self.normalise(a))  # (B, d_beta)
        u = self.jets(beta, a, x_u.reshape(-1, x_u.shape[-1]), 0).value  # (B, N)
        return u.reshape(a.shape[0], *x_u.shape[:-1])

    @property
    def physics_reads_grid(self) -> bool:
        return not self.strong

    def collocation_points(self, generator: torch.Generator | None = None) -> Tensor:
        """This step's collocation points (n, d), uniform in the domain, in the model's dtype and device."""
        if generator is None:
            generator = torch.Generator().manual_seed(1_000_003 * self.seed + int(self.draws))
        self.draws.add_(1)
        x = uniform_points(self.problem.domain, self.collocation, generator)  # (n, d) float64
        return x.to(self.x_a.device, self.x_a.dtype)

    def physics_terms(self, a: Tensor, x_u: Tensor, grid: Tensor | None, generator: torch.Generator | None) -> dict:
        """The strong residual at collocation points and the input misfit at its points (or the grid terms)."""
        if not self.strong:
            return super().physics_terms(a, x_u, grid, generator)
        beta = self.encoder(self.normalise(a))  # (B, d_beta)
        x = self.collocation_points(generator)  # (n, d)
        fields = {self.field.name: self.jets(beta, a, x, 2)}  # value (B, n), grad (B, n, d), hess (B, n, d, d)
        r = self.problem.strong_residual(fields, self.problem.coefficient(a, x))  # (B, n)
        parts = {"residual": self.residual_weight * r.pow(2).mean(1)}
        spec = self.problem.input
        if spec.output is not None:
            u0 = self.jets(beta, a, self.input_points(), 0).value  # (B, n_a)
            parts[spec.role] = (u0 - a.flatten(1)).pow(2).mean(1)
        return parts


class FieldOperator(GridOperator):
    """FNO-type models, a grid-to-grid map: PINO, FNO and the peer library's FNO.

    u = lift + M * net(grid_input(normalised a)) on the solution grid; the net maps (B, H, W) -> (B, H, W).
    """

    def __init__(self, net: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = net

    def forward(self, a: Tensor, x_u: Tensor) -> Tensor:
        """u at the nodes x_u (*grid_u, d) (a grid the problem maps its input onto): (B, *grid_u)."""
        v = self.problem.grid_input(self.normalise(a), self.x_a, x_u)  # (B, *grid_u)
        raw = self.net(v)  # (B, *grid_u)
        x = x_u.reshape(-1, x_u.shape[-1])  # (N, d)
        return self.constrained(a, x, Jet(raw.flatten(1), None, None), 0).value.reshape(raw.shape)


class NeuralOpFNO(nn.Module):
    """Adapter for neuraloperator's FNO: (B, H, W) -> (B, H, W) through its (B, C, H, W) convention."""

    def __init__(self, *, modes: int, width: int, layers: int, padding: int) -> None:
        super().__init__()
        try:
            from neuralop.models import FNO
        except ImportError as exc:
            raise ImportError(f"neuraloperator is not installed ({exc}); pip install 'dgno[peers]'") from None
        # 'grid' positional embedding appends the (x, y) channels itself; padding as a fraction of the grid
        self.net = FNO(n_modes=(modes, modes), in_channels=1, out_channels=1, hidden_channels=width,
                       n_layers=layers, positional_embedding="grid", domain_padding=None if not padding else 0.1)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, None])[:, 0]

    def state_dict(self, *args, **kwargs):
        """Tensors only: neuraloperator adds a '_metadata' entry of Python objects, which our checkpoints
        (loaded with weights_only=True) do not hold; the architecture is in the run's config instead."""
        out = super().state_dict(*args, **kwargs)
        for key in [k for k, v in out.items() if not isinstance(v, Tensor)]:
            del out[key]
        return out
