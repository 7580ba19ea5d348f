"""The configuration schema: frozen dataclasses, loaded strictly from YAML with dotted overrides."""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dgno.errors import DgnoError


@dataclass(frozen=True)
class DataConfig:
    dir: str = "data/darcy-pwc"
    preset: str | None = None  # if set, the data files must carry this preset in their provenance
    n_train: int | None = None  # use the first n training inputs (None: all)
    n_labeled: int = 0  # the first n_labeled training samples also contribute their u (semi-supervised)
    memory_budget_mb: float | None = None  # stream train.h5 from disk above this size (None: 2048 MB; 0: always)


@dataclass(frozen=True)
class EncoderConfig:
    kind: str = "mlp"  # "mlp" (flatten + MLP) or "cnn"
    hidden: tuple[int, ...] = (512, 256)  # MLP hidden widths
    channels: tuple[int, ...] = (1, 64, 64, 64)  # CNN channels (3x3, stride 2, no padding)
    fc: tuple[int, ...] = (128, 128)  # CNN head hidden widths (then d_out)
    activation: str = "silu"
    variational: bool = False  # Gaussian encoder with a KL term to N(0, I) instead of tanh
    squash: bool = True  # tanh on a deterministic encoder's output (the reference's Stokes encoder has none)


@dataclass(frozen=True)
class MultiONetConfig:
    width: int = 100
    depth: int = 5
    n_sum: int = 4
    act_trunk: str = "tanh_sin"
    act_branch: str = "tanh_sin"


@dataclass(frozen=True)
class FNOConfig:
    modes: int = 12  # Fourier modes kept per direction
    width: int = 64  # hidden channels
    layers: int = 4  # Fourier layers
    padding: int = 8  # zero padding (nodes) against wrap-around of the non-periodic boundary
    proj: int = 128  # hidden width of the output map


# The methods a config can train: DGNO, the physics-informed baselines (strong-form grid residual, no
# labels) and the supervised operators (labeled pairs); "neuralop-fno" is the peer library's FNO.
METHODS = ("dgno", "pi-deeponet", "pi-multionet", "pino", "deeponet", "multionet", "fno", "neuralop-fno")
PHYSICS_METHODS = ("dgno", "pi-deeponet", "pi-multionet", "pino")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "dgno"  # one of METHODS
    latent_dim: int = 128  # DGNO's latent; the branch-feature width of the (PI-)DeepONet/MultiONet baselines
    encoder: EncoderConfig = EncoderConfig()
    field: MultiONetConfig = MultiONetConfig()  # every PDE field (u, and the fluxes of the mixed form)
    # fields read from one multi-output network (of model.field's sizes) whose branch reads beta as tokens, like
    # the reference's Stokes stress network (nn.TokenMultiONet); the others get a MultiONet each
    token_fields: tuple[str, ...] = ()
    a_decoder: MultiONetConfig = MultiONetConfig(width=256, act_trunk="silu_sin", act_branch="silu_id")
    likelihood: str = "bernoulli"  # p(a | beta): "bernoulli" (two-phase) or "gaussian" (smooth)
    a_lo: float = 5.0
    a_hi: float = 10.0
    a_sigma: float = 0.05  # standard deviation of the Gaussian input likelihood
    fno: FNOConfig = FNOConfig()  # the FNO of pino, fno and neuralop-fno


@dataclass(frozen=True)
class PhysicsConfig:
    # the problem: a registered name ("darcy-mixed", "darcy", "burgers") or "module:Class" for a user's own,
    # constructed with pde_args as keyword arguments (Darcy also reads source and interpolation)
    pde: str = "darcy-mixed"
    pde_args: dict[str, bool | int | float | str] = field(default_factory=dict)
    source: float = 10.0
    interpolation: str = "nearest"  # how a is read between nodes: "nearest" or "bicubic"
    particles: int = 100  # per step (per level of a space-time layout)
    levels: int = 100  # levels of the strong axis of a space-time layout (Burgers: time levels)
    r_min: float = 1e-4
    r_max: float = 1e-4
    sampling: str = "lhs"
    quadrature: str = "grid"  # "grid" (the reference's equal weights) or "gauss"
    quadrature_n: int = 7  # grid points per side, or Gauss radial points
    smoothness: int = 4  # Wendland C2 or C4
    # precision lambda of each virtual-observable term (loss = ... + lambda/2 R per sample, / n_a);
    # these defaults equal the reference's weights mean(res1) + 10 mean(res2) with 100 particles, 841 nodes
    precisions: dict[str, float] = field(default_factory=lambda: {"weak": 168.2, "constitutive": 16.82})
    labeled_sigma: float = 0.01
    residual_weight: float = 1.0  # weight of the mean squared grid residual (PI-DeepONet, PI-MultiONet, PINO)
    # weight of each mean squared boundary term of those baselines, where the problem declares some (Stokes: no slip,
    # inflow v = 0, outflow); the input's own misfit (an initial condition, an inflow profile) has weight 1
    boundary_weight: float = 1.0
    # the grid residual of those baselines: "fd" (harmonic-mean faces, the reference solver's scheme) or
    # "fd-central" (central differences twice, the reference baselines' residual)
    residual: str = "fd"
    kl_weight: float = 1.0


OPTIMIZERS = ("adam", "adamw", "soap")
GRAPH_OPTIMIZERS = ("adam", "adamw")  # whose step a CUDA graph can replay


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 80_000
    batch_size: int = 25
    # "adam", "adamw" (torch.optim) or "soap" (pytorch-optimizer's SOAP: Adam in the eigenbasis of a Shampoo
    # preconditioner, which follows the ill-conditioned curvature of residual losses; docs/forward.md)
    optimizer: str = "adam"
    betas: tuple[float, ...] | None = None  # the moments' decays (None: the optimiser's own, adam (0.9, 0.999),
    # soap (0.95, 0.95))
    precondition_frequency: int = 10  # soap: steps between refreshes of the preconditioner's eigenbasis
    lr: float = 5e-4
    weight_decay: float = 1e-4
    step_size: int = 8_000  # StepLR period in optimiser steps
    gamma: float = 0.5
    val_every: int = 500
    val_seconds: float | None = None  # also validate when this much training time has passed since the last
    log_every: int = 50
    checkpoint_every: int = 1_000
    max_minutes: float | None = None  # wall-clock budget; stops early (checkpointing) when reached
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    dtype: str = "float32"
    threads: int | None = None  # torch intra-op threads on CPU (None: torch's default)
    compile: bool = False  # torch.compile the loss (about a minute to compile; faster steps)
    cuda_graph: bool = False  # replay each step from one CUDA graph (physics-only DGNO on a GPU; dgno.training.step)
    # compute and store the inversion's calibration (latent prior, model error; RUN/inverse_best.pt) after training,
    # from the validation split, so that the run folder inverts without its data (DGNO runs)
    calibrate: bool = True
    ema: float | None = None  # decay of an exponential moving average of the weights (e.g. 0.999), validated and
    # saved as best.pt in place of the raw weights; None: no average


@dataclass(frozen=True)
class Config:
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    physics: PhysicsConfig = PhysicsConfig()
    train: TrainConfig = TrainConfig()


# ------------------------------------------------------------------------------------- loading
def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise DgnoError(f"config key {where}: expected a mapping, got {_show(value)}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except DgnoError as exc:
                errors.append(str(exc))
        raise DgnoError(errors[0])
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise DgnoError(f"config key {where}: expected a list, got {_show(value)}")
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        return tuple(_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise DgnoError(f"config key {where}: expected a mapping, got {_show(value)}")
        key_tp, val_tp = typing.get_args(tp)
        return {_convert(k, key_tp, where): _convert(v, val_tp, f"{where}.{_key(k)}") for k, v in value.items()}
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise DgnoError(f"config key {where}: expected {getattr(tp, '__name__', tp)}, got {_show(value)}")


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)  # YAML keys need not be strings (1: 2, null: 3)
    if unknown:
        prefix = f"{where}." if where else ""
        keys = ", ".join(prefix + _key(k) for k in unknown)
        raise DgnoError(f"unknown config key(s) {keys}; known: {', '.join(sorted(names))}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The plain-data form of a config (lists for tuples), as saved in run folders and checkpoints."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested mapping."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise DgnoError(f"override must look like section.key=value, got {item!r}")
        if not all(key.split(".")):
            raise DgnoError(f"override must look like section.key=value, got {item!r} (an empty key name)")
        try:
            value = yaml.safe_load(text)
        except _YAML_ERRORS:
            raise DgnoError(f"override {item!r}: value is not valid YAML") from None
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise DgnoError(f"override {item!r}: {part} is not a section")
        node[last] = value
    return data


def shipped_configs() -> list[str]:
    """The names of the configs shipped with the package (``dgno train darcy_pwc_quick``)."""
    root = resources.files("dgno") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def config_path(path: str | Path) -> Path:
    """A config file: ``path`` itself, or, for a name that is no file, the shipped config of that name (with or
    without ``.yaml``; ``compare/darcy-pwc/pino`` for the comparison's)."""
    path = Path(path)
    if path.is_file():
        return path
    name = str(path).removesuffix(".yaml")
    shipped = resources.files("dgno") / "configs" / f"{name}.yaml"
    if not path.is_absolute() and ".." not in path.parts and shipped.is_file():
        return Path(str(shipped))
    raise DgnoError(f"{path}: no such config file (nor a shipped config: {', '.join(shipped_configs())})")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Read a YAML config (a file, or the name of a shipped one; the defaults when path is None) and apply dotted
    overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = config_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DgnoError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
        except OSError as exc:
            raise DgnoError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
        try:
            data = yaml.safe_load(text)
        except _YAML_ERRORS as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DgnoError(f"{path}: invalid YAML ({first})") from None
        if data is None:  # an empty (or all-comment) file is more likely a mistake than a wish for the defaults
            raise DgnoError(f"{path}: the config file is empty (write {{}} for the defaults)")
        if not isinstance(data, dict):
            raise DgnoError(f"{path}: a config must be a mapping of sections, got {_show(data)}")
    return check_config(from_dict(Config, apply_overrides(data, list(overrides))))


# ------------------------------------------------------------------------------------------ value checks
# YAML's constructors raise more than YAMLError on a bad tag (!!float abc, !!bool maybe); deep nesting recurses
_YAML_ERRORS = (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError)
_COUNT = 10**12  # the largest count (steps, samples, periods): beyond it a value is a typo
_WIDTH = 16_384  # the largest layer width or latent dimension
_DEPTH = 1_000  # the largest number of layers
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxlevel = 40, 40, 6, 4, 3


def _show(value: Any) -> str:
    """A short one-line repr of a user's value for an error message."""
    return _SHOWN.repr(value)


def _key(key: Any) -> str:
    """A user's key for an error message: as written, or its repr when it is not printable text ('\\n', 1, None)."""
    return key if isinstance(key, str) and key.isprintable() and key.strip() == key and key else _show(key)


def _check_int(where: str, value: Any, lo: int, hi: int) -> None:
    if value is not None and not lo <= value <= hi:
        raise DgnoError(f"config key {where}: must be an integer in [{lo}, {hi}], got {_show(value)}")


def _check_float(where: str, value: Any, *, lo: float = -math.inf, positive: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < lo or (positive and value <= 0):
        bound = " > 0" if positive else f" >= {lo:g}" if lo > -math.inf else ""
        raise DgnoError(f"config key {where}: must be a finite number{bound}, got {_show(value)}")


def check_config(cfg: Config) -> Config:
    """``cfg`` after checking every value's range (sizes >= 1, finite floats, lr > 0, ...); DgnoError names the
    key and the value. Types are checked when loading; names (pde, activation, ...) where they are built."""
    d, m, p, t = cfg.data, cfg.model, cfg.physics, cfg.train
    _check_int("data.n_train", d.n_train, 1, _COUNT)
    _check_int("data.n_labeled", d.n_labeled, 0, _COUNT)
    _check_float("data.memory_budget_mb", getattr(d, "memory_budget_mb", None), lo=0.0)
    _check_int("model.latent_dim", m.latent_dim, 1, _WIDTH)
    for name in ("hidden", "channels", "fc"):
        for i, width in enumerate(getattr(m.encoder, name)):
            _check_int(f"model.encoder.{name}[{i}]", width, 1, _WIDTH)
    if not m.encoder.channels or m.encoder.channels[0] != 1:
        raise DgnoError(f"config key model.encoder.channels: must start with the input's 1 channel, "
                        f"got {list(m.encoder.channels)}")
    for name in ("field", "a_decoder"):
        net = getattr(m, name)
        _check_int(f"model.{name}.width", net.width, 1, _WIDTH)
        _check_int(f"model.{name}.depth", net.depth, 1, _DEPTH)
        _check_int(f"model.{name}.n_sum", net.n_sum, 1, _DEPTH)
    for name, hi in (("modes", _WIDTH), ("width", _WIDTH), ("layers", _DEPTH), ("proj", _WIDTH)):
        _check_int(f"model.fno.{name}", getattr(m.fno, name), 1, hi)
    _check_int("model.fno.padding", m.fno.padding, 0, _WIDTH)
    _check_float("model.a_lo", m.a_lo)
    _check_float("model.a_hi", m.a_hi)
    if not m.a_lo < m.a_hi:
        raise DgnoError(f"config keys model.a_lo, model.a_hi: need a_lo < a_hi, got {m.a_lo:g} and {m.a_hi:g}")
    _check_float("model.a_sigma", m.a_sigma, positive=True)
    for key, value in p.pde_args.items():
        if isinstance(value, float):
            _check_float(f"physics.pde_args.{_key(key)}", value)
    _check_float("physics.source", p.source)
    _check_int("physics.particles", p.particles, 1, 10**7)
    _check_int("physics.levels", p.levels, 1, 10**6)
    _check_int("physics.quadrature_n", p.quadrature_n, 1, 1_000)
    _check_float("physics.r_min", p.r_min, positive=True)
    _check_float("physics.r_max", p.r_max, positive=True)
    if p.r_min > p.r_max:
        raise DgnoError(f"config keys physics.r_min, physics.r_max: need r_min <= r_max, got {p.r_min:g} > {p.r_max:g}")
    for key, value in p.precisions.items():
        _check_float(f"physics.precisions.{_key(key)}", value, lo=0.0)
    _check_float("physics.labeled_sigma", p.labeled_sigma, positive=True)
    _check_float("physics.residual_weight", p.residual_weight, lo=0.0)
    _check_float("physics.boundary_weight", p.boundary_weight, lo=0.0)
    _check_float("physics.kl_weight", p.kl_weight, lo=0.0)
    _check_int("train.steps", t.steps, 0, _COUNT)
    for name in ("batch_size", "step_size", "val_every", "log_every", "checkpoint_every"):
        _check_int(f"train.{name}", getattr(t, name), 1, _COUNT)
    _check_float("train.lr", t.lr, positive=True)
    _check_float("train.weight_decay", t.weight_decay, lo=0.0)
    _check_float("train.gamma", t.gamma, positive=True)
    _check_float("train.val_seconds", t.val_seconds, positive=True)
    _check_float("train.max_minutes", t.max_minutes, positive=True)
    _check_int("train.seed", t.seed, 0, 2**63 - 1)
    _check_int("train.threads", t.threads, 1, 4_096)
    if t.ema is not None and not (math.isfinite(t.ema) and 0.0 < t.ema < 1.0):
        raise DgnoError(f"config key train.ema: must be a decay in (0, 1) (e.g. 0.999) or null, got {_show(t.ema)}")
    if t.optimizer not in OPTIMIZERS:
        raise DgnoError(f"config key train.optimizer: unknown optimizer {_show(t.optimizer)}; choose "
                        f"{', '.join(OPTIMIZERS)}")
    if t.betas is not None and (len(t.betas) != 2 or not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in t.betas)):
        raise DgnoError(f"config key train.betas: must be two decays in [0, 1) or null, got {_show(list(t.betas))}")
    _check_int("train.precondition_frequency", t.precondition_frequency, 1, _COUNT)
    if t.cuda_graph and t.optimizer not in GRAPH_OPTIMIZERS:
        raise DgnoError(f"config key train.cuda_graph: a CUDA graph replays one fixed step, and {t.optimizer}'s "
                        "step branches on its step count (the preconditioner refresh); use adam or adamw with it")
    return cfg
