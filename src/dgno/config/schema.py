"""The configuration schema: frozen dataclasses, loaded strictly from YAML with dotted overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class EncoderConfig:
    kind: str = "mlp"  # "mlp" (flatten + MLP) or "cnn"
    hidden: tuple[int, ...] = (512, 256)  # MLP hidden widths
    channels: tuple[int, ...] = (1, 64, 64, 64)  # CNN channels (3x3, stride 2, no padding)
    fc: tuple[int, ...] = (128, 128)  # CNN head hidden widths (then d_out)
    activation: str = "silu"
    variational: bool = False  # Gaussian encoder with a KL term to N(0, I) instead of tanh


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
    # the grid residual of those baselines: "fd" (harmonic-mean faces, the reference solver's scheme) or
    # "fd-central" (central differences twice, the reference baselines' residual)
    residual: str = "fd"
    kl_weight: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 80_000
    batch_size: int = 25
    optimizer: str = "adam"  # "adam" or "adamw"
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
            raise DgnoError(f"config key {where}: expected a mapping, got {value!r}")
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
            raise DgnoError(f"config key {where}: expected a list, got {value!r}")
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        return tuple(_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise DgnoError(f"config key {where}: expected a mapping, got {value!r}")
        key_tp, val_tp = typing.get_args(tp)
        return {_convert(k, key_tp, where): _convert(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise DgnoError(f"config key {where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        keys = ", ".join(prefix + k for k in unknown)
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
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise DgnoError(f"override {item!r}: value is not valid YAML") from None
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise DgnoError(f"override {item!r}: {part} is not a section")
        node[last] = value
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Read a YAML config (or the defaults when path is None) and apply dotted overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise DgnoError(f"{path}: no such config file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise DgnoError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise DgnoError(f"{path}: a config must be a mapping of sections")
    return from_dict(Config, apply_overrides(data, list(overrides)))
