"""Inversion as a library: ``dgno.invert(op, x=x_obs, y=y_obs, sigma=0.003)``.

:class:`Inverter` prepares once what every inversion of one trained operator shares (the calibration and the
prior, the weak layout of the virtual observables, the ground-truth solver of the physics check) and inverts
batches of observations; ``dgno invert``, ``dgno demo`` and ``benchmarks/inverse.py`` are parse -> settings ->
:meth:`Inverter.invert` -> write. The PDE-agnostic posterior itself is :mod:`dgno.inverse`.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

import numpy as np

from dgno.errors import DgnoError
from dgno.inverse.calibration import Calibration
from dgno.inverse.family import family_prior, stored_parameters
from dgno.inverse.observations import (
    Observations,
    Window,
    check_sigma,
    check_snr,
    instance_observations,
    read_observations,
    sigma_from_snr,
)
from dgno.inverse.result import InversionResult
from dgno.inverse.run import Truth
from dgno.inverse.run import invert as invert_batch
from dgno.inverse.settings import (
    SETTINGS,
    InversionSettings,
    describe_choice,
    resolve_settings,
)
from dgno.operator import Operator

__all__ = [  # the library's inversion surface; the CLI and the benchmarks import from here, not from inverse/
    "SETTINGS", "InversionResult", "InversionSettings", "Inverter", "Observations", "Truth", "Window",
    "check_sigma", "check_snr", "describe_choice", "instance_observations", "invert", "inverter",
    "observations_from_arrays", "read_observations", "resolve_settings", "sigma_from_snr", "stored_parameters",
]


class Inverter:
    """Everything one trained operator's inversions share, prepared on first use and kept.

    Parameters
    ----------
    op : Operator
        The trained operator (:func:`dgno.load`).
    calibration_data : path, optional
        A folder with the run's ``train.h5`` and ``val.h5``, for a run whose stored calibration lacks what a setting
        asks for (the latent fit, another prior); a run trained by ``dgno train`` stores all of it.
    """

    def __init__(self, op: Operator, *, calibration_data: str | os.PathLike | None = None) -> None:
        self.op = op
        self.calibration_data = calibration_data
        self._layouts: dict[tuple, Any] = {}
        self._solver: Any = None

    # ---------------------------------------------------------------------------------- preparation
    def settings(self, **given: Any) -> InversionSettings:
        """The settings of an inversion: the preset's measured defaults (:meth:`Operator.inversion_defaults`) with
        ``given`` on top; a given option that does not apply to the method is an error naming it."""
        return resolve_settings(given, self.op.inversion_defaults())

    def calibration(self, settings: InversionSettings) -> Calibration:
        family = settings.prior == "family"
        data = self.calibration_data
        cal = self.op.calibration(latent_fit=settings.model_error_from == "latent",
                                  prior=None if family else settings.prior,
                                  data_dir=data if data is not None else None)
        if family:  # the model error of the calibration, the prior on the input family's parameters
            from dgno.config import get_preset

            cal = replace(cal, prior=family_prior(get_preset(self.op.preset) if self.op.preset else None,
                                                  self.op.model))
        return cal

    def layout(self, settings: InversionSettings):
        """The weak layout of the virtual observables (the training's quadrature unless the settings override it)."""
        from dgno.config.build import weak_layout, weak_options

        key = (settings.quadrature, settings.quadrature_n)
        if key not in self._layouts:
            options = weak_options(self.op.config)
            options = replace(options, quadrature=settings.quadrature or options.quadrature,
                              quadrature_n=settings.quadrature_n or options.quadrature_n)
            self._layouts[key] = weak_layout(self.op.config, self.op.problem, options=options)
        return self._layouts[key]

    def physics_solver(self, preset: str | None = None):
        """The ground-truth re-solve of the physics check (the data preset's solver), or None."""
        import torch

        from dgno.config import DATA_PRESETS, get_preset
        from dgno.inverse.physics_check import reference_solve

        name = preset or self.op.preset
        if not name or name not in DATA_PRESETS:
            return None
        if self._solver is None or self._solver[0] != name:
            model = self.op.model
            two_phase = model.likelihood.phase_prob(torch.zeros(1)) is not None  # nodal a is piecewise constant
            self._solver = (name, reference_solve(get_preset(name), self.op.input_grid, piecewise_constant=two_phase))
        return self._solver[1]

    # ------------------------------------------------------------------------------------ inversion
    def invert(self, observations: list[Observations], truths: list[Truth | None] | None = None,
               settings: InversionSettings | None = None, *, batch_size: int | None = None, preset: str | None = None,
               progress: bool = False) -> list[InversionResult]:
        """Invert every instance of ``observations`` (``batch_size`` at a time; default: all of them in one batch,
        which the vectorized samplers make much cheaper per instance), each with the same number of observations
        of the same outputs; ``truths`` score them when given."""
        settings = settings or self.settings()
        truths = list(truths) if truths is not None else [None] * len(observations)
        if len(truths) != len(observations):
            raise DgnoError(f"{len(truths)} truths for {len(observations)} observation sets")
        if not observations:
            return []
        cal = self.calibration(settings)
        layout = self.layout(settings)
        resolve = self.physics_solver(preset) if settings.physics_check else None
        size = batch_size or len(observations)
        if size < 1:
            raise DgnoError(f"batch_size must be >= 1, got {size}")
        info = {"run": self.op.source, "checkpoint": self.op.checkpoint, "step": self.op.step,
                "axis_names": list(self.op.problem.domain.names)}
        out = []
        for start in range(0, len(observations), size):
            obs, tr = observations[start:start + size], truths[start:start + size]
            t0 = time.perf_counter()
            results = invert_batch(self.op.model, layout, cal, obs, tr, settings, resolve=resolve, progress=progress)
            wall = time.perf_counter() - t0
            for r, o in zip(results, obs, strict=True):
                r.summary.update({"observations": o.source, "observed": list(o.outputs), "prior": cal.prior.kind,
                                  "settings": settings.as_dict(), "batch": len(obs), "batch_wall_seconds": wall,
                                  "run": self.op.source, "checkpoint": self.op.checkpoint, "step": self.op.step})
                out.append(InversionResult(r, x_a=self.op.input_grid, x_u=cal.x_u, output_names=self.op.output_names,
                                           settings=settings.as_dict(), info=info))
        return out


def inverter(op: Operator, *, calibration_data: str | os.PathLike | None = None) -> Inverter:
    """The operator's :class:`Inverter` (one per operator and calibration folder, kept on the operator)."""
    cache = op.__dict__.setdefault("_inverters", {})
    key = None if calibration_data is None else str(calibration_data)
    if key not in cache:
        cache[key] = Inverter(op, calibration_data=calibration_data)
    return cache[key]


def observations_from_arrays(x: Any, y: Any, *, sigma: Any = None, snr: float | None = None,
                             outputs: tuple[str, ...] | None = None, source: str = "observations") -> Observations:
    """One instance's observations from arrays: x (K, d), y (K,) or (K, C), noise ``sigma`` (scalar or (C,)) or
    ``snr`` in dB of the observed values."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2:
        raise DgnoError(f"x: expected points (K, d), got shape {x.shape}")
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise DgnoError(f"y: expected (K,) or (K, C) values for the {x.shape[0]} points of x, got shape {y.shape}")
    if (sigma is None) == (snr is None):
        raise DgnoError("give the noise as sigma= (a standard deviation) or snr= (dB), exactly one of them")
    if sigma is not None:
        sig = np.atleast_1d(np.asarray(sigma, dtype=float))
        for value in sig:
            check_sigma(float(value), source="sigma")
    else:
        check_snr(snr, source="snr")
        sig = sigma_from_snr(y if y.ndim == 2 else y[:, None], snr)
    kwargs = {} if outputs is None else {"outputs": tuple(outputs)}
    return Observations(x=x, y=y, sigma=sig, source=source, **kwargs)


def invert(op: Operator, x: Any = None, y: Any = None, sigma: Any = None, *, snr: float | None = None,
           outputs: tuple[str, ...] | list[str] | None = None, observations: list[Observations] | None = None,
           truth: dict[str, np.ndarray] | None = None, calibration_data: str | os.PathLike | None = None,
           batch_size: int | None = None, progress: bool = False, **settings: Any
           ) -> InversionResult | list[InversionResult]:
    """The posterior of the input a (and of every output) given sparse noisy observations of outputs.

    Parameters
    ----------
    op : Operator
        A trained operator (:func:`dgno.load`).
    x : array_like, (K, d) or (B, K, d)
        Observation points in the problem's domain (Darcy: (x, y); Burgers: (x, t)); a leading B inverts B instances
        together and returns a list.
    y : array_like, (K,) / (K, C), or (B, K) / (B, K, C)
        Observed values of the outputs ``outputs`` (default: every output of the model, in its order).
    sigma : float or array_like (C,)
        Standard deviation of the observation noise (or give ``snr`` in dB instead).
    observations : list of Observations, optional
        Instead of x, y, sigma: observation sets built by hand (:class:`dgno.inverse.observations.Observations`).
    truth : dict, optional
        ``{"a": (*grid_a), "u": (*grid_u)}`` of a known instance, to score the posterior (errors, coverage).
    calibration_data : path, optional
        The run's data folder, when its stored calibration lacks what the settings ask for.
    **settings
        Any field of :class:`~dgno.inverse.settings.InversionSettings` (``method="map"``, ``pde_weight=0``,
        ``prior="family"``, ...). Unset ones take the preset's measured defaults (``op.inversion_defaults()``).

    Returns
    -------
    InversionResult, or a list of them for batched x.

    Examples
    --------
    >>> op = dgno.load("pretrained:darcy-pwc")                             # doctest: +SKIP
    >>> res = dgno.invert(op, x=x_obs, y=y_obs, sigma=0.003)               # doctest: +SKIP
    >>> res.mean["a"].shape, res.interval("u", 0.9)[0].shape               # doctest: +SKIP
    ((29, 29), (29, 29))
    """
    inv = inverter(op, calibration_data=calibration_data)
    chosen = inv.settings(**settings)
    names = tuple(outputs) if outputs is not None else op.output_names
    batched = False
    if observations is None:
        if x is None or y is None:
            raise DgnoError("give the observations: x= and y= (with sigma= or snr=), or observations=")
        xa = np.asarray(x, dtype=float)
        batched = xa.ndim == 3
        if batched:
            ya = np.asarray(y, dtype=float)
            if ya.shape[0] != xa.shape[0]:
                raise DgnoError(f"x holds {xa.shape[0]} instances but y {ya.shape[0]}")
            observations = [observations_from_arrays(xa[b], ya[b], sigma=sigma, snr=snr, outputs=names,
                                                     source=f"observations[{b}]") for b in range(xa.shape[0])]
        else:
            observations = [observations_from_arrays(xa, y, sigma=sigma, snr=snr, outputs=names)]
    else:
        batched = True
        if x is not None or y is not None:
            raise DgnoError("give observations= or x=, y=, not both")
    truths = None
    if truth is not None:
        if len(observations) != 1:
            raise DgnoError("truth= scores one instance; invert batches through Inverter.invert with truths")
        unknown = set(truth) - {"a", "u"}
        if unknown:
            raise DgnoError(f"truth: unknown key(s) {sorted(unknown)}; give a and/or u")
        truths = [Truth(truth.get("a"), truth.get("u"), "truth")]
    results = inv.invert(observations, truths, chosen, batch_size=batch_size, progress=progress)
    return results if batched else results[0]
