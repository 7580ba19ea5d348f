"""The posterior of one instance as a user reads it: means, spreads, intervals and draws by name, files, ArviZ."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dgno.errors import DgnoError
from dgno.inverse.run import InstanceResult, write_posterior


class InversionResult:
    """The posterior of the input ``a`` and of every output of one inverted instance.

    ``mean[name]`` and ``std[name]`` hold the posterior mean and the predictive standard deviation (the latent
    posterior's spread plus the model's own validation error, the one the credible intervals use) on the grids:
    ``a`` on the input grid (*grid_a), each output (``u``; Stokes ``u``, ``v``, ``p``) on the output grid
    (*grid_u). ``phase_prob`` (two-phase inputs) is P(a = high phase) per input node.
    """

    def __init__(self, instance: InstanceResult, *, x_a: np.ndarray, x_u: np.ndarray, output_names: tuple[str, ...],
                 settings: dict[str, Any], info: dict[str, Any] | None = None) -> None:
        self.instance = instance
        self.x_a, self.x_u = np.asarray(x_a), np.asarray(x_u)
        self.output_names = tuple(output_names)
        self.settings = dict(settings)
        self.info = dict(info or {})
        f = instance.fields
        self.mean = {"a": f["a_mean"], **self._split(f["u_mean"])}
        self.std = {"a": f["a_pred_std"], **self._split(f["u_pred_std"])}
        self.std_latent = {"a": f["a_std"], **self._split(f["u_std"])}  # without the model error
        if "phase_prob" in f:
            self.mean["phase_prob"] = f["phase_prob"]

    def _split(self, values: np.ndarray, lead: int = 0) -> dict[str, np.ndarray]:
        """An array of the stacked outputs (..., *grid_u[, C]) as {output name: (..., *grid_u)}."""
        if len(self.output_names) == 1:
            return {self.output_names[0]: values}
        return {n: values[..., c] for c, n in enumerate(self.output_names)}

    # ------------------------------------------------------------------------------------------ draws
    @property
    def summary(self) -> dict[str, Any]:
        """Metrics and diagnostics (errors against the truth when it is known, coverage, ESS, R-hat, seconds)."""
        return self.instance.summary

    @property
    def observations(self):
        return self.instance.obs

    def _check(self, name: str) -> None:
        known = ("a", *self.output_names)
        if name not in known:
            raise DgnoError(f"no posterior of {name!r}; known: {', '.join(known)}")

    def draws(self, name: str, *, predictive: bool = False) -> np.ndarray:
        """Posterior draws of ``name`` (``"a"`` or an output), (S, *grid): of the latent posterior pushed forward, or
        with ``predictive=True`` with the model's own error added (what the intervals are made of)."""
        self._check(name)
        key = "a" if name == "a" else "u"
        values = self.instance.extras[f"{key}_predictive"] if predictive else self.instance.samples[key]
        return values if name == "a" else self._split(values, lead=1)[name]

    def interval(self, name: str, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """The equal-tailed credible interval of ``name`` at ``level`` per node: (lower, upper), each (*grid), from
        the predictive draws."""
        if not 0.0 < level < 1.0:
            raise DgnoError(f"level must be in (0, 1), got {level}")
        lo, hi = np.quantile(self.draws(name, predictive=True), [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lo, hi

    # -------------------------------------------------------------------------------------- outputs
    def save(self, out: str | os.PathLike, *, title: str | None = None) -> Path:
        """Write ``summary.json``, ``posterior.h5`` and ``inversion.png`` to the folder ``out`` (what
        ``dgno invert --out`` writes)."""
        from dgno.atomic import write_text
        from dgno.evaluate.plots import plot_inversion

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        r = self.instance
        write_posterior(r, out / "posterior.h5", x_a=self.x_a, x_u=self.x_u, attrs=self.info)
        label = r.truth.label if r.truth is not None and r.truth.label else r.obs.source
        plot_inversion(self.x_a, self.x_u, r.fields, r.obs.x, out / "inversion.png",
                       true_a=r.truth.a if r.truth is not None else None,
                       true_u=r.truth.u if r.truth is not None else None, names=self.output_names, obs_y=r.obs.y,
                       axis_names=self.info.get("axis_names"),
                       title=title or f"{label}: {len(r.obs)} observations, {self.settings.get('method')}")
        write_text(out / "summary.json", json.dumps(r.summary, indent=2, default=_plain) + "\n")
        return out

    def to_arviz(self):
        """The posterior as ArviZ ``InferenceData``: group ``posterior`` with ``beta`` (chain, draw, latent), ``a``
        and each output (chain, draw, *grid) (and the family's parameters under their names), group
        ``observed_data`` with the observations, and the sampler's statistics in the attributes."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.x announces its 1.0 refactor on import
            import arviz as az

        chains = self.instance.extras["chains"]
        posterior = {"beta": chains["beta"], "a": chains["a"], **self._split(chains["u"], lead=2)}
        dims = {"beta": ["latent"], "a": [f"a_dim_{i}" for i in range(chains["a"].ndim - 2)]}
        if "params" in chains:
            names = self.summary.get("parameters", {}).keys() or [f"p{i}" for i in range(chains["params"].shape[-1])]
            for i, n in enumerate(names):
                posterior[n] = chains["params"][..., i]
        obs = self.instance.obs
        observed = {f"y_{n}": obs.y[:, c] for c, n in enumerate(obs.outputs)}
        attrs = {k: v for k, v in self.summary.items() if isinstance(v, int | float | str) and not isinstance(v, bool)}
        return az.from_dict(posterior=posterior, observed_data=observed, dims=dims,
                            constant_data={"x_obs": obs.x}, attrs={"inference_library": "dgno", **attrs})

    def __repr__(self) -> str:
        s = self.summary
        keys = [k for k in ("a_rel_l2", "u_rel_l2", "coverage90_u", "seconds") if isinstance(s.get(k), float | int)]
        shown = ", ".join(f"{k} {s[k]:.4g}" for k in keys)
        tail = f", {shown}" if shown else ""
        return f"InversionResult({s.get('method')}, {len(self.instance.obs)} observations{tail})"


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
