"""Config -> objects: the only place where names in a config become library objects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from dgno.config.registry import get_problem
from dgno.config.schema import METHODS, PHYSICS_METHODS, Config, MultiONetConfig, to_dict
from dgno.errors import DgnoError
from dgno.models import DGNO, BernoulliPhase, GaussianField
from dgno.models.baselines import FieldOperator, GridOperator, NeuralOpFNO, ONetOperator, solution_fields
from dgno.nn import ACTIVATIONS, CNNEncoder, FNO2d, GaussianEncoder, MLPEncoder, MultiONet
from dgno.nn.multionet import DeepONet, OutputOf, TokenMultiONet
from dgno.training import distributed
from dgno.training.data import TrainData, load_training_data
from dgno.training.loop import LoopOptions, to_device, train
from dgno.weak import WeakLayout, WeakOptions

LIKELIHOODS = ("bernoulli", "gaussian")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
    squash = squash and e.squash and not e.variational
    if e.kind == "mlp":
        n_in = int(torch.tensor(grid).prod())
        body = MLPEncoder(n_in, e.hidden, features, activation(e.activation), squash=squash)
    else:
        if len(grid) != 2:
            raise DgnoError(f"the CNN encoder needs a 2-D input grid, got {grid}")
        body = CNNEncoder(grid, channels=e.channels, fc=e.fc, d_out=features, activation=activation(e.activation),
                          squash=squash)
    return GaussianEncoder(body, features, d) if e.variational else body


def problem(cfg: Config):
    """The problem (PDE) of ``cfg.physics``."""
    _choose("interpolation", cfg.physics.interpolation, ("nearest", "bicubic"))
    return get_problem(cfg.physics)


def build_model(cfg: Config, *, x_a: Tensor, a_mean: Tensor, a_std: Tensor,
                triangles: Tensor | None = None) -> DGNO | GridOperator:
    """The model of ``cfg`` (DGNO or a baseline) for inputs at the nodes x_a (*grid_a, d_a) with per-node statistics;
    ``triangles`` (T, 3): the solution mesh's, when the data has one (what a grid baseline maps its labels with)."""
    _choose("model kind", cfg.model.kind, METHODS)
    if cfg.model.kind != "dgno":
        return build_baseline(cfg, x_a=x_a, a_mean=a_mean, a_std=a_std, triangles=triangles)
    m = cfg.model
    _choose("likelihood", m.likelihood, LIKELIHOODS)
    the_problem = problem(cfg)
    missing = sorted(set(the_problem.terms) - set(cfg.physics.precisions))
    if missing:
        raise DgnoError(f"physics.precisions needs a value for {', '.join(missing)}")
    d_x, spec = the_problem.domain.dim, the_problem.input
    if spec.output is None and x_a.shape[-1] != d_x:
        raise DgnoError(f"the input nodes have {x_a.shape[-1]} coordinates but the {cfg.physics.pde} domain has {d_x}")
    if m.likelihood == "bernoulli" and spec.output is not None:
        raise DgnoError(f"model.likelihood=bernoulli needs an input decoder; {cfg.physics.pde} reads a from its "
                        f"output {spec.output!r}: use model.likelihood=gaussian")
    try:
        return _dgno(cfg, the_problem, x_a=x_a, a_mean=a_mean, a_std=a_std)
    except ValueError as exc:  # a layer refuses its sizes (e.g. a grid too small for the CNN's convolutions)
        raise DgnoError(f"model: {exc}") from None
    except (MemoryError, RuntimeError) as exc:
        if "memory" not in str(exc).lower() and not isinstance(exc, MemoryError):
            raise
        raise DgnoError(f"model: not enough memory for the configured sizes (latent_dim={m.latent_dim}, "
                        f"field width {m.field.width} x depth {m.field.depth})") from None


def _dgno(cfg: Config, the_problem, *, x_a: Tensor, a_mean: Tensor, a_std: Tensor) -> DGNO:
    m, spec, d_x, grid = cfg.model, the_problem.input, the_problem.domain.dim, tuple(x_a.shape[:-1])
    names = [f.name for f in the_problem.fields]
    shared = tuple(m.token_fields)
    if any(n not in names for n in shared) or len(set(shared)) != len(shared):
        raise DgnoError(f"model.token_fields {list(shared)} must be distinct fields of {cfg.physics.pde}: {names}")
    decoders = {n: multionet(m.field, d_x=d_x, d_beta=m.latent_dim) for n in names if n not in shared}
    if shared:
        f = m.field
        net = TokenMultiONet(d_x, m.latent_dim, len(shared), width=f.width, depth=f.depth, n_sum=f.n_sum,
                             act_trunk=activation(f.act_trunk), act_branch=activation(f.act_branch))
        decoders.update({n: OutputOf(net, i) for i, n in enumerate(shared)})
    likelihood = BernoulliPhase(m.a_lo, m.a_hi) if m.likelihood == "bernoulli" else GaussianField(m.a_sigma)
    return DGNO(
        encoder=encoder(cfg, grid),
        decoders=decoders,
        a_decoder=multionet(m.a_decoder, d_x=d_x, d_beta=m.latent_dim) if spec.output is None else None,
        problem=the_problem,
        likelihood=likelihood,
        x_a=x_a,
        a_mean=a_mean,
        a_std=a_std,
        precisions=cfg.physics.precisions,
        labeled_sigma=cfg.physics.labeled_sigma,
        kl_weight=cfg.physics.kl_weight,
    )


def build_baseline(cfg: Config, *, x_a: Tensor, a_mean: Tensor, a_std: Tensor,
                   triangles: Tensor | None = None) -> GridOperator:
    """PI-DeepONet, PI-MultiONet, PINO (physics, no labels) or a supervised DeepONet, MultiONet, FNO for the
    problem of ``cfg.physics``, which declares the grid residual (``physics.residual``) and input map they use.
    One network per output for the operator networks, one FNO with a channel per output."""
    m, kind = cfg.model, cfg.model.kind
    the_problem = problem(cfg)
    from dgno.pdes.protocols import GridProblem

    schemes = the_problem.grid_schemes if isinstance(the_problem, GridProblem) else None
    if schemes is None:
        raise DgnoError(f"model.kind={kind}: the problem {cfg.physics.pde!r} declares no grid residual "
                        "(grid_schemes, grid_input, grid_residual) for the baselines")
    _choose("physics.residual", cfg.physics.residual, schemes)
    d_x = the_problem.domain.dim
    common = dict(problem=the_problem, x_a=x_a, a_mean=a_mean, a_std=a_std, physics=kind in PHYSICS_METHODS,
                  residual_weight=cfg.physics.residual_weight, boundary_weight=cfg.physics.boundary_weight,
                  scheme=cfg.physics.residual, triangles=triangles)
    try:
        outputs = [f.name for f in solution_fields(the_problem)]
        if kind in ("pi-deeponet", "deeponet", "pi-multionet", "multionet"):
            f = m.field

            def net() -> torch.nn.Module:
                if kind.endswith("deeponet"):
                    return DeepONet(d_x, m.latent_dim, width=f.width, depth=f.depth, act_trunk=activation(f.act_trunk),
                                    act_branch=activation(f.act_branch))
                return multionet(f, d_x=d_x, d_beta=m.latent_dim)

            nets = {name: net() for name in outputs}  # drawn before the encoder, as when there was one network
            # collocation points per step of a strong residual: physics.particles
            return ONetOperator(encoder(cfg, tuple(x_a.shape[:-1]), squash=False), nets,
                                collocation=cfg.physics.particles, seed=cfg.train.seed, **common)
        if d_x != 2:
            raise DgnoError(f"model.kind={kind} is a 2-D FNO; the {cfg.physics.pde} domain has {d_x} dimensions")
        fno = m.fno
        if min(fno.modes, fno.width, fno.layers, fno.proj) < 1 or fno.padding < 0:
            raise DgnoError(f"model.fno: modes, width, layers and proj must be >= 1 and padding >= 0, got {fno}")
        if kind == "neuralop-fno":
            try:
                net = NeuralOpFNO(modes=fno.modes, width=fno.width, layers=fno.layers, padding=fno.padding,
                                  out_channels=len(outputs))
            except ImportError as exc:
                raise DgnoError(f"model.kind=neuralop-fno: {exc}") from None
        else:
            net = FNO2d(modes=fno.modes, width=fno.width, layers=fno.layers, padding=fno.padding, proj=fno.proj,
                        out_channels=len(outputs))
        return FieldOperator(net, **common)
    except ValueError as exc:
        raise DgnoError(f"model.kind={kind}: {exc}") from None


def weak_options(cfg: Config) -> WeakOptions:
    p = cfg.physics
    _choose("quadrature", p.quadrature, ("grid", "gauss"))
    return WeakOptions(particles=p.particles, r_min=p.r_min, r_max=p.r_max, sampling=p.sampling,
                       quadrature=p.quadrature, quadrature_n=p.quadrature_n, smoothness=p.smoothness, levels=p.levels)


def weak_layout(cfg: Config, the_problem=None, *, options: WeakOptions | None = None) -> WeakLayout:
    """The weak layout of the problem with the config's physics options (or ``options``)."""
    the_problem = problem(cfg) if the_problem is None else the_problem
    try:
        return the_problem.weak_layout(weak_options(cfg) if options is None else options)
    except ValueError as exc:
        raise DgnoError(f"physics: {exc}") from None


def make_model(cfg: Config, data: TrainData, *, seed: int):
    """The model of ``cfg`` with its initial weights drawn from ``seed`` (global RNG untouched)."""
    std = data.a.std(0).clamp_min(1e-6)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(cfg, x_a=data.x_a.float(), a_mean=data.a.mean(0).float(), a_std=std.float(),
                           triangles=data.triangles)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DgnoError(f"train.device: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DgnoError(f"train.device={name} but CUDA is not available")
    return device


def optimiser(cfg: Config, params) -> torch.optim.Optimizer:
    """The optimiser of ``train.optimizer``: Adam and AdamW from torch, SOAP from pytorch-optimizer (a maintained
    implementation of Vyas et al. 2024, with its state in ``state_dict`` so that resume is exact)."""
    t = cfg.train
    betas = {} if t.betas is None else {"betas": tuple(t.betas)}
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, **betas)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, **betas)
    if t.optimizer == "soap":
        from pytorch_optimizer import SOAP

        return SOAP(params, lr=t.lr, weight_decay=t.weight_decay, precondition_frequency=t.precondition_frequency,
                    **betas)
    raise DgnoError(f"unknown optimizer {t.optimizer!r}; choose adam, adamw or soap")


def run_training(cfg: Config, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict:
    """Build everything ``cfg`` names (data, problem, model, layout, optimiser) and run the training loop."""
    t = cfg.train
    if t.dtype not in DTYPES:
        raise DgnoError(f"train.dtype must be one of {', '.join(DTYPES)}, got {t.dtype!r}")
    if t.batch_size < 1 or t.steps < 0:
        raise DgnoError("train.batch_size must be >= 1 and train.steps >= 0")
    dist = distributed.from_env()  # torchrun's RANK / WORLD_SIZE, or one process
    device, dtype = distributed.device_for(dist, pick_device(t.device)), DTYPES[t.dtype]
    if not dist.main:
        progress, log = False, (lambda _msg: None)
    if t.threads:
        torch.set_num_threads(t.threads)
    d = cfg.data
    data = load_training_data(d.dir, preset=d.preset, n_train=d.n_train, n_labeled=d.n_labeled,
                              memory_budget_mb=d.memory_budget_mb)
    if t.batch_size > data.a.shape[0]:
        raise DgnoError(f"train.batch_size={t.batch_size} exceeds the {data.a.shape[0]} training inputs")
    model = to_device(make_model(cfg, data, seed=t.seed), device, dtype)
    if getattr(model, "needs_labels", False) and data.u is None:
        raise DgnoError(f"model.kind={cfg.model.kind} is supervised: set data.n_labeled > 0 (labeled training pairs)")
    layout = weak_layout(cfg, model.problem) if getattr(model, "uses_weak_points", True) else None
    opt = optimiser(cfg, model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t.step_size, gamma=t.gamma)
    options = LoopOptions(steps=t.steps, batch_size=t.batch_size, val_every=t.val_every, val_seconds=t.val_seconds,
                          log_every=t.log_every, checkpoint_every=t.checkpoint_every, max_minutes=t.max_minutes,
                          seed=t.seed, compile=t.compile, cuda_graph=t.cuda_graph, ema=t.ema)
    dist.local_slice(t.batch_size)  # a batch that does not split over the processes is refused before they start
    distributed.init(dist, device)
    try:
        summary = train(model, data, layout=layout, optimizer=opt, scheduler=sched, options=options, out_dir=out_dir,
                        device=device, dtype=dtype, record=to_dict(cfg), resume=resume, progress=progress, log=log,
                        dist=dist)
    finally:
        distributed.shutdown(dist)
    if dist.main and t.calibrate and cfg.model.kind == "dgno":
        summary["calibration_seconds"] = store_calibration(out_dir, cfg.data.dir, log=log)
    return summary


def store_calibration(run: str | Path, data_dir: str | Path, *, log: Callable[[str], None] = print) -> float:
    """Compute what inversions of the run's best checkpoint need (the latent prior, the model error at the encoder's
    latent and at the best-fitting one) from its train/val splits and store it in ``RUN/inverse_best.pt``, so that
    the run folder inverts without its data. Returns the seconds it took."""
    import time

    from dgno.operator import load

    t0 = time.perf_counter()
    op = load(run)
    op.calibration(latent_fit=True, data_dir=data_dir)
    seconds = time.perf_counter() - t0
    log(f"calibration for inversion stored in {Path(run) / 'inverse_best.pt'} ({seconds:.1f} s)")
    return seconds
