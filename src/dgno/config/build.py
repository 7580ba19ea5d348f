"""Config -> objects: the only place where names in a config become library objects."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dgno.config.schema import METHODS, PHYSICS_METHODS, Config, MultiONetConfig
from dgno.errors import DgnoError
from dgno.models import DGNO, BernoulliPhase, GaussianField
from dgno.models.baselines import FieldOperator, GridOperator, NeuralOpFNO, ONetOperator
from dgno.nn import ACTIVATIONS, CNNEncoder, FNO2d, GaussianEncoder, MLPEncoder, MultiONet
from dgno.nn.multionet import DeepONet
from dgno.pdes import Darcy, DarcyMixed
from dgno.pdes.darcy import GRID_RESIDUALS
from dgno.weak import ParticleSampler, QuadratureRule, Wendland, gauss_rule, grid_rule

PDES = {"darcy": Darcy, "darcy-mixed": DarcyMixed}
LIKELIHOODS = ("bernoulli", "gaussian")


def _choose(kind: str, value: str, options) -> None:
    if value not in options:
        raise DgnoError(f"unknown {kind} {value!r}; choose one of {', '.join(options)}")


def activation(name: str):
    _choose("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def multionet(cfg: MultiONetConfig, *, d_x: int, d_beta: int) -> MultiONet:
    if not 1 <= cfg.n_sum < cfg.depth:
        raise DgnoError(f"MultiONet needs 1 <= n_sum < depth, got n_sum={cfg.n_sum}, depth={cfg.depth}")
    return MultiONet(
        d_x,
        d_beta,
        width=cfg.width,
        depth=cfg.depth,
        n_sum=cfg.n_sum,
        act_trunk=activation(cfg.act_trunk),
        act_branch=activation(cfg.act_branch),
    )


def encoder(cfg: Config, grid: tuple[int, ...], *, squash: bool = True) -> torch.nn.Module:
    """DGNO's encoder (squashed by tanh unless variational), or with squash=False a plain body (baselines)."""
    e, d = cfg.model.encoder, cfg.model.latent_dim
    _choose("encoder kind", e.kind, ("mlp", "cnn"))
    features = 256 if e.variational else d  # width of the features the Gaussian heads read
    squash = squash and not e.variational
    if e.kind == "mlp":
        n_in = int(torch.tensor(grid).prod())
        body = MLPEncoder(n_in, e.hidden, features, activation(e.activation), squash=squash)
    else:
        if len(grid) != 2:
            raise DgnoError(f"the CNN encoder needs a 2-D input grid, got {grid}")
        body = CNNEncoder(grid, channels=e.channels, fc=e.fc, d_out=features, activation=activation(e.activation),
                          squash=squash)
    return GaussianEncoder(body, features, d) if e.variational else body


def pde(cfg: Config):
    p = cfg.physics
    _choose("pde", p.pde, PDES)
    _choose("interpolation", p.interpolation, ("nearest", "bicubic"))
    return PDES[p.pde](source=p.source, interpolation=p.interpolation)


def build_model(cfg: Config, *, x_a: Tensor, a_mean: Tensor, a_std: Tensor) -> DGNO | GridOperator:
    """The model of ``cfg`` (DGNO or a baseline) for inputs on the grid x_a (*grid, d) with per-node statistics."""
    _choose("model kind", cfg.model.kind, METHODS)
    if cfg.model.kind != "dgno":
        return build_baseline(cfg, x_a=x_a, a_mean=a_mean, a_std=a_std)
    m = cfg.model
    _choose("likelihood", m.likelihood, LIKELIHOODS)
    the_pde = pde(cfg)
    missing = sorted(set(the_pde.terms) - set(cfg.physics.precisions))
    if missing:
        raise DgnoError(f"physics.precisions needs a value for {', '.join(missing)}")
    d_x, grid = x_a.shape[-1], tuple(x_a.shape[:-1])
    decoders = {f.name: multionet(m.field, d_x=d_x, d_beta=m.latent_dim) for f in the_pde.fields}
    likelihood = BernoulliPhase(m.a_lo, m.a_hi) if m.likelihood == "bernoulli" else GaussianField(m.a_sigma)
    return DGNO(
        encoder=encoder(cfg, grid),
        decoders=decoders,
        a_decoder=multionet(m.a_decoder, d_x=d_x, d_beta=m.latent_dim),
        pde=the_pde,
        likelihood=likelihood,
        x_a=x_a,
        a_mean=a_mean,
        a_std=a_std,
        precisions=cfg.physics.precisions,
        labeled_sigma=cfg.physics.labeled_sigma,
        kl_weight=cfg.physics.kl_weight,
    )


def build_baseline(cfg: Config, *, x_a: Tensor, a_mean: Tensor, a_std: Tensor) -> GridOperator:
    """PI-DeepONet, PI-MultiONet, PINO (grid residual, no labels) or a supervised DeepONet, MultiONet, FNO."""
    m, kind = cfg.model, cfg.model.kind
    if x_a.shape[-1] != 2 or x_a.dim() != 3:
        raise DgnoError(f"model.kind={kind} needs inputs on a 2-D grid, got nodes of shape {tuple(x_a.shape)}")
    common = dict(x_a=x_a, a_mean=a_mean, a_std=a_std, physics=kind in PHYSICS_METHODS,
                  source=cfg.physics.source, residual_weight=cfg.physics.residual_weight)
    _choose("physics.residual", cfg.physics.residual, GRID_RESIDUALS)
    common["residual"] = cfg.physics.residual
    if kind in ("pi-deeponet", "deeponet", "pi-multionet", "multionet"):
        f = m.field
        if kind.endswith("deeponet"):
            net = DeepONet(2, m.latent_dim, width=f.width, depth=f.depth, act_trunk=activation(f.act_trunk),
                           act_branch=activation(f.act_branch))
        else:
            net = multionet(f, d_x=2, d_beta=m.latent_dim)
        return ONetOperator(encoder(cfg, tuple(x_a.shape[:-1]), squash=False), net, **common)
    fno = m.fno
    if min(fno.modes, fno.width, fno.layers, fno.proj) < 1 or fno.padding < 0:
        raise DgnoError(f"model.fno: modes, width, layers and proj must be >= 1 and padding >= 0, got {fno}")
    if kind == "neuralop-fno":
        try:
            net = NeuralOpFNO(modes=fno.modes, width=fno.width, layers=fno.layers, padding=fno.padding)
        except ImportError as exc:
            raise DgnoError(f"model.kind=neuralop-fno: {exc}") from None
    else:
        net = FNO2d(modes=fno.modes, width=fno.width, layers=fno.layers, padding=fno.padding, proj=fno.proj)
    return FieldOperator(net, **common)


@dataclass(frozen=True)
class WeakSetup:
    """Everything that makes the weak points of one step: particles, quadrature, test function."""

    sampler: ParticleSampler
    rule: QuadratureRule
    test_function: Wendland


def weak_setup(cfg: Config, *, dim: int = 2) -> WeakSetup:
    p = cfg.physics
    _choose("quadrature", p.quadrature, ("grid", "gauss"))
    try:
        sampler = ParticleSampler(n=p.particles, r_min=p.r_min, r_max=p.r_max, lower=(0.0,) * dim,
                                  upper=(1.0,) * dim, method=p.sampling)
        rule = grid_rule(p.quadrature_n, dim) if p.quadrature == "grid" else gauss_rule(p.quadrature_n, dim=dim)
        return WeakSetup(sampler, rule, Wendland(dim=dim, smoothness=p.smoothness))
    except ValueError as exc:
        raise DgnoError(f"physics: {exc}") from None
