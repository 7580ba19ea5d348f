"""What an inversion needs to know about a trained model beyond its weights, computed once per run.

* the latent prior (see :mod:`dgno.inverse.prior`), fitted to the encoded training inputs for tanh encoders;
* the forward model's own error: the per-node RMS of G_u(enc(a)) - u over the validation split. Inverting
  with it in the likelihood (variance sigma^2 + sigma_model^2) and in the predictive intervals keeps the
  posterior from being more certain than the network is accurate.

Both are stored in ``RUN/inverse_<checkpoint>.pt`` and reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dgno.config.schema import Config
from dgno.errors import DgnoError
from dgno.evaluate.metrics import predict_dataset
from dgno.inverse.prior import LatentPrior, choose_prior
from dgno.models import DGNO
from dgno.reference.dataset import load_h5


@dataclass(frozen=True)
class Calibration:
    prior: LatentPrior
    model_error: np.ndarray  # (*grid_u) RMS error of the forward model at the u nodes
    x_u: np.ndarray  # (*grid_u, d)
    source: dict  # where they came from

    def model_error_at(self, x: np.ndarray) -> np.ndarray:
        """sigma_model at points x (K, d), by bilinear interpolation of the nodal RMS (exact at nodes)."""
        from scipy.interpolate import RegularGridInterpolator

        axes = [np.unique(self.x_u[..., k]) for k in range(self.x_u.shape[-1])]
        interp = RegularGridInterpolator(axes, self.model_error, method="linear")
        return interp(np.clip(x, [a[0] for a in axes], [a[-1] for a in axes]))

    def state(self) -> dict:
        return {"prior": self.prior.state(), "model_error": torch.from_numpy(self.model_error),
                "x_u": torch.from_numpy(self.x_u), "source": self.source}

    @classmethod
    def from_state(cls, s: dict) -> Calibration:
        return cls(LatentPrior.from_state(s["prior"]), s["model_error"].numpy(), s["x_u"].numpy(), s["source"])


def model_error_field(model: DGNO, a: np.ndarray, u: np.ndarray, x_u: np.ndarray) -> np.ndarray:
    """Per-node RMS over samples of G_u(enc(a)) - u: (N, *grid), (N, *grid_u) -> (*grid_u)."""
    pred = predict_dataset(model, torch.from_numpy(a), torch.from_numpy(x_u))["u"]
    err = pred.double().numpy() - u
    return np.sqrt((err**2).mean(0))


def calibrate(model: DGNO, cfg: Config, *, run: str | os.PathLike, checkpoint: str, prior: str | None = None,
              data_dir: str | os.PathLike | None = None, refresh: bool = False) -> Calibration:
    """The run's calibration for ``prior`` (None: the model's default), from the cache or from its data."""
    path = Path(run) / f"inverse_{checkpoint}.pt"
    kind = prior or ("standard" if model.variational else "fitted")
    if path.is_file() and not refresh:
        cal = Calibration.from_state(torch.load(path, weights_only=False))
        if cal.prior.kind == kind:
            return cal
    data_dir = Path(data_dir or cfg.data.dir)
    files = {s: data_dir / f"{s}.h5" for s in ("train", "val")}
    for split, f in files.items():
        if not f.is_file():
            raise DgnoError(f"{f}: the inversion's calibration needs the run's {split} split "
                            "(the data directory of its config, or --calibration-data DIR)")
    val = load_h5(files["val"], require_u=True)
    encoded = None
    if kind == "fitted":
        train = load_h5(files["train"], read_u=False)
        encoded = predict_dataset(model, torch.from_numpy(train.a), torch.from_numpy(train.x_u))["beta"]
    latent = choose_prior(kind, variational=model.variational, encoded=encoded, dim=model.a_decoder.d_beta)
    cal = Calibration(latent, model_error_field(model, val.a, val.u, val.x_u), val.x_u.astype(float),
                      {"train": str(files["train"]), "val": str(files["val"]), "checkpoint": checkpoint,
                       "n_val": len(val)})
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(cal.state(), tmp)
    os.replace(tmp, path)
    return cal
