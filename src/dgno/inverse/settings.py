"""The posterior's settings, declared once: a frozen dataclass whose field metadata makes the command-line flags.

Every option of an inversion is one field of :class:`InversionSettings`, with its help text, its choices and the
methods it applies to. ``dgno invert``, ``benchmarks/inverse.py`` and :func:`dgno.invert` all resolve the options a
user gave against the defaults in one place (:func:`resolve_settings`):

    generic defaults (the fields below)  <  the preset's measured defaults  <  what the user gave

and an option the user gave that does not apply to the chosen method (``warmup`` with ``method="map"``) is refused
with one line naming it. A preset's defaults that do not apply to the method the user chose are dropped silently:
they were chosen for another method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from dgno.errors import DgnoError

METHODS = ("nuts", "map")
MODEL_ERRORS = ("independent", "correlated", "off")
PRIORS = ("fitted", "standard", "box", "family")
CHAIN_METHODS = ("sequential", "vectorized")
DRAWS = {"nuts": 250, "map": 500}  # the default of ``draws`` per method (per chain for nuts, in all for map)


def option(default: Any, help: str, *, choices: tuple | None = None, methods: tuple[str, ...] = METHODS,
           flag: str | None = None) -> Any:
    """A settings field with what its command-line flag needs (``flag``: its name when not the field's)."""
    return field(default=default, metadata={"help": help, "choices": choices, "methods": methods, "flag": flag})


@dataclass(frozen=True)
class InversionSettings:
    """How the posterior of one or many instances is computed (every option of ``dgno invert``).

    See ``docs/inverse.md`` for what each does and the measurements behind the presets' defaults.
    """

    method: str = option("nuts", "nuts: NUTS over the latent (pyro), started from the MAP; map: MAP + Laplace "
                         "(draws from the Gaussian at the MAP)", choices=METHODS)
    draws: int | None = option(None, "draws per chain (nuts, default 250) or in all (map, default 500)")
    warmup: int = option(200, "NUTS adaptation steps per chain", methods=("nuts",))
    chains: int = option(2, "NUTS chains", methods=("nuts",))
    chain_method: str = option(
        "sequential", "nuts: chains one after another (each adapted alone), or vectorized: the chains as copies of "
        "the instances in one batched run (shared adaptation, far less time per draw)", choices=CHAIN_METHODS,
        methods=("nuts",))
    max_tree_depth: int = option(8, "NUTS's largest tree depth", methods=("nuts",))
    full_mass: bool = option(False, "NUTS adapts a dense mass matrix instead of a diagonal one", methods=("nuts",))
    seed: int = option(0, "seed of the MAP starts, the sampler and the predictive draws")
    prior: str | None = option(
        None, "latent prior (default: fitted for tanh encoders, standard for Gaussian encoders); family: a uniform "
        "prior on the parameters of the preset's input family (darcy-trig, stokes-cylinder)", choices=PRIORS)
    pde_weight: float = option(1.0, "weight w of the PDE virtual observables (0: the observations alone)")
    pde_temperature: float = option(
        1.0, "T >= 1: the virtual observables read a two-phase input with its logits divided by T (wider decoded "
        "interfaces, a smoother posterior for NUTS); no effect on continuous inputs")
    model_error: str = option(
        "independent", "the forward model's validation error in the likelihood and the predictive intervals: "
        "independent per point, correlated in space (a Gaussian field fitted on the validation errors, kriged from "
        "the residuals at the observations), or off", choices=MODEL_ERRORS)
    model_error_from: str = option(
        "encoder", "where the model error is measured on the validation split: the encoder's latent, or the latent "
        "that best fits each u (smaller: an inversion never uses the encoder)", choices=("encoder", "latent"))
    model_bias: str = option(
        "none", "mean: the model error's mean per node (validation) is added to the forward model and its spread "
        "about it is the model error (with --model-error independent)", choices=("none", "mean"))
    map_starts: int = option(4, "starts of the MAP search (map, and the start of nuts)")
    map_steps: int = option(400, "Adam steps of each MAP start")
    physics_check: int = option(8, "posterior draws re-solved with the data preset's ground-truth solver (0: none)")
    quadrature: str | None = option(None, "quadrature of the virtual observables (default: the training's)",
                                    choices=("grid", "gauss"))
    quadrature_n: int | None = option(None, "its size (default: the training's)")

    def __post_init__(self) -> None:
        if isinstance(self.model_error, bool):  # True / False: independent / off
            object.__setattr__(self, "model_error", "independent" if self.model_error else "off")
        for name, choices in (("method", METHODS), ("model_error", MODEL_ERRORS), ("chain_method", CHAIN_METHODS),
                              ("model_error_from", ("encoder", "latent")), ("model_bias", ("none", "mean"))):
            if getattr(self, name) not in choices:
                raise DgnoError(f"{_flag(name)} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.prior is not None and self.prior not in PRIORS:
            raise DgnoError(f"--prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        if self.quadrature is not None and self.quadrature not in ("grid", "gauss"):
            raise DgnoError(f"--quadrature must be grid or gauss, got {self.quadrature!r}")
        if self.model_bias == "mean" and self.model_error != "independent":
            raise DgnoError(f"--model-bias mean needs --model-error independent (got {self.model_error}): the "
                            "correlated fit is of the uncentred errors")
        for name in ("draws", "chains", "map_starts", "map_steps", "max_tree_depth", "quadrature_n"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise DgnoError(f"{_flag(name)} must be an integer >= 1, got {value!r}")
        for name in ("warmup", "physics_check", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DgnoError(f"{_flag(name)} must be an integer >= 0, got {value!r}")
        if not (_real(self.pde_weight) and self.pde_weight >= 0):
            raise DgnoError(f"--pde-weight must be finite and >= 0, got {self.pde_weight!r}")
        if not (_real(self.pde_temperature) and self.pde_temperature >= 1):
            raise DgnoError(f"--pde-temperature must be finite and >= 1, got {self.pde_temperature!r}")
        if self.draws is None:  # the method's own default
            object.__setattr__(self, "draws", DRAWS[self.method])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def flag(name: str) -> str:
    """The command-line flag of a settings field (``--pde-weight`` for ``pde_weight``)."""
    return _flag(name)


def _flag(name: str) -> str:
    f = next(f for f in fields(InversionSettings) if f.name == name)
    return "--" + (f.metadata.get("flag") or name.replace("_", "-"))


SETTINGS = {f.name: f for f in fields(InversionSettings)}


def resolve_settings(given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> InversionSettings:
    """The settings of an inversion: the generic defaults, then ``defaults`` (a preset's measured choice), then
    ``given`` (what the user set). A given option that does not apply to the resulting method is an error naming
    it; an unknown name is an error listing the known ones."""
    unknown = sorted(set(given) - set(SETTINGS)) + sorted(set(defaults or {}) - set(SETTINGS))
    if unknown:
        raise DgnoError(f"unknown inversion setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    method = given.get("method", (defaults or {}).get("method", SETTINGS["method"].default))
    if method not in METHODS:
        raise DgnoError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    refused = [k for k, v in given.items() if method not in SETTINGS[k].metadata["methods"]]
    if refused:
        verb = "applies" if len(refused) == 1 else "apply"
        raise DgnoError(f"{', '.join(_flag(k) for k in refused)} {verb} only to --method "
                        f"{', '.join(SETTINGS[refused[0]].metadata['methods'])}, not to --method {method}")
    kept = {k: v for k, v in (defaults or {}).items() if method in SETTINGS[k].metadata["methods"]}
    return replace(InversionSettings(), **{**kept, **given})


def describe_choice(given: Mapping[str, Any], defaults: Mapping[str, Any], source: str) -> str:
    """One line saying which defaults an inversion used, e.g. for ``dgno invert``'s output."""
    used = {k: v for k, v in defaults.items() if k not in given}
    if not used:
        return "inversion settings: the generic defaults and yours" if defaults else "inversion settings: generic"
    shown = ", ".join(f"{_flag(k)} {v}" for k, v in used.items())
    return f"inversion settings: {source}'s measured defaults ({shown}); any flag overrides them"
