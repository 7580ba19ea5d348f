"""A trained operator as a user holds it: ``op = dgno.load("runs/pwc")``, then ``op.predict(a)``.

An :class:`Operator` is a run folder (or a pretrained model shipped with the package) brought back to life: the
problem, the model in eval mode, the grids of its input and outputs, and everything an inversion needs (the
calibration, stored in the run folder so that the folder travels without its data).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dgno.config.runs import load_run
from dgno.config.schema import Config
from dgno.errors import DgnoError
from dgno.inverse.calibration import Calibration, calibrate
from dgno.inverse.observations import check_in_domain
from dgno.models import DGNO

PRETRAINED = "pretrained:"


def pretrained_names() -> list[str]:
    """The pretrained models shipped with the package (``dgno.load("pretrained:<name>")``)."""
    root = resources.files("dgno") / "pretrained"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.yaml").is_file())


def resolve_run(source: str | os.PathLike) -> Path:
    """The folder of a run path or of ``pretrained:<name>`` (a folder inside the installed package)."""
    text = str(source)
    if not text.startswith(PRETRAINED):
        return Path(source)
    name = text[len(PRETRAINED):]
    names = pretrained_names()
    if name not in names:
        raise DgnoError(f"{text}: no such pretrained model; shipped: {', '.join(names) or 'none'}")
    return Path(str(resources.files("dgno") / "pretrained" / name))


@dataclass
class Operator:
    """A trained DGNO operator a -> u: ``predict`` outputs from inputs, ``invert`` (via :func:`dgno.invert`) inputs
    from observations.

    Attributes
    ----------
    model : DGNO
        The network in eval mode (its ``problem`` is the PDE it was trained on).
    config : Config
        The run's resolved configuration.
    source : str
        The run folder or ``pretrained:<name>`` it was loaded from.
    checkpoint : str
        ``"best"`` (chosen on the validation split) or ``"last"``.
    step : int or None
        The optimiser step of that checkpoint.
    preset : str or None
        The data preset the model was trained on (its measured inversion defaults and its ground-truth solver).
    """

    model: DGNO
    config: Config
    source: str
    run: Path
    checkpoint: str = "best"
    step: int | None = None
    preset: str | None = None
    card: dict[str, Any] = field(default_factory=dict)
    _calibration: Calibration | None = field(default=None, repr=False)

    # ---------------------------------------------------------------------------------------- grids
    @property
    def problem(self):
        return self.model.problem

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.model.output_names)

    @property
    def input_grid(self) -> np.ndarray:
        """Coordinates of the input's nodes, (*grid_a, d_a)."""
        return self.model.x_a.detach().cpu().double().numpy()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.x_a.shape[:-1])

    @property
    def output_grid(self) -> np.ndarray:
        """Coordinates of the output nodes of the data it was trained on, (*grid_u, d) (from the stored calibration,
        else from the preset)."""
        if self._calibration is not None or (self.run / f"inverse_{self.checkpoint}.pt").is_file():
            return self.calibration().x_u
        if self.preset:
            from dgno.config import get_preset

            return np.asarray(get_preset(self.preset).x_u(), dtype=float)
        raise DgnoError(f"{self.source}: the output grid is not known (no stored calibration and no preset); "
                        "give x= points to predict at")

    # ------------------------------------------------------------------------------------- predict
    def check_input(self, a: Any) -> np.ndarray:
        """``a`` as a float array (N, *input grid), or a DgnoError that names what is wrong with it."""
        try:
            arr = np.asarray(a, dtype=float)
        except (TypeError, ValueError):
            raise DgnoError(f"a: expected a numeric array of shape (N, {_shape(self.input_shape)}), got "
                            f"{type(a).__name__}") from None
        grid = self.input_shape
        if arr.shape == grid:
            arr = arr[None]
        if arr.ndim != len(grid) + 1 or tuple(arr.shape[1:]) != grid or arr.shape[0] == 0:
            raise DgnoError(f"a: shape {arr.shape} does not match the model's input grid: expected (N, {_shape(grid)})")
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise DgnoError(f"a: non-finite value {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
        if self.problem.input.positive and (arr <= 0).any():
            bad = np.argwhere(arr <= 0)[0]
            raise DgnoError(f"a: the {self.problem.input.role} must be positive; a{list(int(i) for i in bad)} = "
                            f"{arr[tuple(bad)]:g}")
        return arr

    @torch.no_grad()
    def predict(self, a: Any, *, x: Any = None, batch_size: int = 100) -> dict[str, np.ndarray]:
        """The outputs for inputs ``a``.

        Parameters
        ----------
        a : array_like, (N, *input_grid) or (*input_grid)
            Input values at the nodes of :attr:`input_grid` (Darcy: the coefficient on 29 x 29 nodes).
        x : array_like, (K, d), optional
            Points of the domain to evaluate the outputs at; default: the output grid of the training data.
        batch_size : int
            Inputs evaluated together.

        Returns
        -------
        dict of str to ndarray
            One entry per named output (``"u"``; Stokes: ``"u"``, ``"v"``, ``"p"``): (N, *output_grid), or (N, K)
            with ``x``; plus ``"a"``, the decoded input E[a | beta] (N, *input_grid), for models that decode it.
        """
        arr = self.check_input(a)
        if x is None:
            points = self.output_grid
            grid = tuple(points.shape[:-1])
        else:
            points = np.asarray(x, dtype=float)
            if points.ndim != 2 or points.shape[1] != self.problem.domain.dim:
                raise DgnoError(f"x: expected points (K, {self.problem.domain.dim}), got shape {points.shape}")
            check_in_domain(points, self.problem.domain, source="x")
            grid = (points.shape[0],)
        p = next(self.model.parameters())
        flat = torch.as_tensor(points.reshape(-1, points.shape[-1]), dtype=p.dtype, device=p.device)
        outs: dict[str, list[np.ndarray]] = {}
        for start in range(0, arr.shape[0], batch_size):
            chunk = torch.as_tensor(arr[start:start + batch_size], dtype=p.dtype, device=p.device)
            beta, _ = self.model.encode(chunk, sample=False)
            values = self.model.outputs_at(beta, flat, a=chunk)  # (B, K, C)
            for c, name in enumerate(self.output_names):
                outs.setdefault(name, []).append(values[..., c].reshape(-1, *grid).double().cpu().numpy())
            if self.problem.input.output is None:  # an input with its own decoder
                a_mean = self.model.likelihood.mean(self.model.decode_a(beta))
                outs.setdefault("a", []).append(a_mean.double().cpu().numpy())
        return {k: np.concatenate(v) for k, v in outs.items()}

    # --------------------------------------------------------------------------------- inversion
    def calibration(self, *, latent_fit: bool = False, prior: str | None = None,
                    data_dir: str | os.PathLike | None = None) -> Calibration:
        """What an inversion needs beyond the weights (latent prior, model error), from ``RUN/inverse_<checkpoint>.pt``
        or, when that is missing or lacks what is asked, computed from the run's train/val splits (``data_dir``, else
        the data directory of its config) and stored there."""
        if prior is None and not latent_fit and data_dir is None and self._calibration is not None:
            return self._calibration
        cal = calibrate(self.model, run=self.run, checkpoint=self.checkpoint, prior=prior, latent_fit=latent_fit,
                        data_dir=data_dir if data_dir is not None else self.config.data.dir, source=self.source)
        if prior is None:
            self._calibration = cal
        return cal

    def inversion_defaults(self) -> dict[str, Any]:
        """The inversion settings the project's measurements chose for this model's preset (docs/inverse.md), as
        recorded with the preset (``DataPreset.inversion``) or in the run's model card; {} for other problems."""
        if "inversion_defaults" in self.card:
            return dict(self.card["inversion_defaults"])
        if not self.preset:
            return {}
        from dgno.config import DATA_PRESETS, get_preset

        if self.preset not in DATA_PRESETS:
            return {}
        return dict(getattr(get_preset(self.preset), "inversion", {}) or {})

    def __repr__(self) -> str:
        return (f"Operator({self.source!r}, checkpoint={self.checkpoint!r}, step={self.step}, preset={self.preset!r}, "
                f"input {_shape(self.input_shape)}, outputs {', '.join(self.output_names)})")


def _shape(shape: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in shape)


def load(source: str | os.PathLike, *, checkpoint: str = "best", device: str = "cpu") -> Operator:
    """Load a trained operator.

    Parameters
    ----------
    source : str or path
        A run folder written by ``dgno train`` / :func:`dgno.train`, or ``"pretrained:<name>"`` for a model shipped
        with the package (:func:`pretrained_names`).
    checkpoint : {"best", "last"}
        ``best`` is the checkpoint chosen on the validation split.
    device : str
        Where the model lives (``"cpu"``, ``"cuda"``).

    Examples
    --------
    >>> op = dgno.load("pretrained:darcy-pwc")                      # doctest: +SKIP
    >>> op.predict(a)["u"].shape                                    # doctest: +SKIP
    (1, 29, 29)
    """
    if checkpoint not in ("best", "last"):
        raise DgnoError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    run = resolve_run(source)
    cfg, model, ck = load_run(run, checkpoint=checkpoint, device=device)
    if cfg.model.kind != "dgno":
        raise DgnoError(f"{source}: a {cfg.model.kind} run has no generative latent; dgno.load takes DGNO runs "
                        "(model.kind: dgno)")
    card_path = run / "card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return Operator(model=model, config=cfg, source=str(source), run=run, checkpoint=checkpoint, step=ck.get("step"),
                    preset=ck.get("data_preset") or cfg.data.preset, card=card)
