"""What an inversion needs to know about a trained model beyond its weights, computed once per run.

* the latent prior (see :mod:`dgno.inverse.prior`), fitted to the encoded training inputs for tanh encoders;
* the forward model's own error: the per-node RMS over the validation split of G(enc(a)) - u for every output
  (sigma_model, (*grid_u, C)) and of the decoded input E[a | enc(a)] - a (sigma_a, (*grid_a)). Inverting with
  sigma_model in the likelihood (variance sigma^2 + sigma_model^2) and both in the predictive intervals keeps
  the posterior from being more certain than the network is accurate;
* the correlation of that error in space (:mod:`dgno.inverse.model_error`), fitted to the same validation errors,
  for ``--model-error correlated``;
* the same two from the latent that best fits each validation u instead of the encoder's latent
  (``--model-error-from latent``): G(beta*) - u with beta* the MAP of the latent given all of u (the likelihood
  of the encoder's error, the fitted prior), and E[a | beta*] - a. An inversion never uses the encoder: its latent
  is fitted to the observations, so the error it cannot remove is the best fit's, which is smaller than the
  encoder's (darcy-pwc, 90-minute model: 0.0115 against 0.0333 relative L2 on validation);
* the mean of the outputs' error per node (``bias``, from either latent), for ``--model-bias mean``: a
  physics-only model can be off in one direction (the 90-minute darcy-pwc model's u is 2.6 % low on average, more
  than half its RMS error), and an inversion that ignores it moves a to make up for it.

Both are stored in ``RUN/inverse_<checkpoint>.pt`` and reused. Any grid works: the RMS fields live on the data's
nodes and are read between them by :func:`dgno.inverse.grids.interpolate`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dgno.atomic import atomic_path
from dgno.errors import DgnoError
from dgno.evaluate.metrics import predict_dataset
from dgno.inverse.grids import interpolate
from dgno.inverse.model_error import CorrelatedError, fit_correlated_error
from dgno.inverse.prior import LatentPrior, choose_prior
from dgno.models import DGNO
from dgno.reference.dataset import load_h5


@dataclass(frozen=True)
class Calibration:
    prior: LatentPrior
    model_error: np.ndarray  # (*grid_u[, C]) RMS error of the forward model's outputs at the u nodes
    x_u: np.ndarray  # (*grid_u, d)
    source: dict  # where they came from
    a_error: np.ndarray | None = None  # (*grid_a) RMS error of the decoded input at the input nodes
    correlated: CorrelatedError | None = None  # the spatial correlation of the outputs' model error
    fit: dict | None = None  # the same from the best-fitting latent: model_error, a_error, correlated, bias
    bias: np.ndarray | None = None  # (*grid_u[, C]) mean error of the forward model's outputs at the u nodes

    def bias_nodes(self) -> np.ndarray:
        """The mean error G - u at the u nodes as (n_u, C) (zeros when not known)."""
        if self.bias is None:
            return np.zeros_like(self.model_error_nodes())
        return self.bias.reshape(int(np.prod(self.grid_u)), -1)

    def bias_at(self, x: np.ndarray) -> np.ndarray:
        """The mean error of every output at points x (K, d): (K, C), linear interpolation of the nodal means."""
        values = self.bias_nodes().reshape(*self.grid_u, -1)
        return interpolate(self.x_u, values, np.asarray(x, dtype=float), method="linear")

    def centred(self) -> Calibration:
        """The error about its mean: sigma_model^2 - bias^2 per node (what remains once the mean is accounted
        for). Only for the independent error: the correlated fit is of the uncentred errors."""
        if self.bias is None:
            raise DgnoError("the calibration has no mean model error (recompute it)")
        spread = np.sqrt(np.maximum(self.model_error**2 - self.bias**2, 0.0))
        return replace(self, model_error=spread, correlated=None)

    def error_from(self, source: str) -> Calibration:
        """This calibration with the model error measured from ``source``: "encoder" (G(enc(a)) - u, as stored)
        or "latent" (G(beta*) - u, beta* the latent that best fits u)."""
        if source == "encoder":
            return self
        if source != "latent":
            raise DgnoError(f"--model-error-from must be encoder or latent, got {source!r}")
        if self.fit is None:
            raise DgnoError("the calibration has no latent-fit model error (recompute it)")
        return replace(self, model_error=self.fit["model_error"], a_error=self.fit["a_error"],
                       correlated=self.fit["correlated"], bias=self.fit["bias"], fit=None)

    @property
    def grid_u(self) -> tuple[int, ...]:
        return tuple(self.x_u.shape[:-1])

    def model_error_nodes(self) -> np.ndarray:
        """sigma_model at the u nodes as (n_u, C)."""
        return self.model_error.reshape(int(np.prod(self.grid_u)), -1)

    def model_error_at(self, x: np.ndarray) -> np.ndarray:
        """sigma_model of every output at points x (K, d): (K, C), linear interpolation of the nodal RMS (exact at
        nodes), on any grid."""
        values = self.model_error_nodes().reshape(*self.grid_u, -1)  # (*grid_u, C)
        return np.maximum(interpolate(self.x_u, values, np.asarray(x, dtype=float), method="linear"), 0.0)

    def state(self) -> dict:
        return {"prior": self.prior.state(), "model_error": torch.from_numpy(self.model_error),
                "x_u": torch.from_numpy(self.x_u), "source": self.source,
                "a_error": None if self.a_error is None else torch.from_numpy(self.a_error),
                "correlated": None if self.correlated is None else self.correlated.state(),
                "bias": None if self.bias is None else torch.from_numpy(self.bias),
                "fit": None if self.fit is None else {
                    "model_error": torch.from_numpy(self.fit["model_error"]),
                    "bias": torch.from_numpy(self.fit["bias"]),
                    "a_error": torch.from_numpy(self.fit["a_error"]), "correlated": self.fit["correlated"].state(),
                    "relative_l2": self.fit["relative_l2"]}}

    @classmethod
    def from_state(cls, s: dict) -> Calibration:
        a_error, fit, bias = s.get("a_error"), s.get("fit"), s.get("bias")
        if fit is not None and "bias" in fit:
            fit = {"model_error": fit["model_error"].numpy(), "a_error": fit["a_error"].numpy(),
                   "correlated": CorrelatedError.from_state(fit["correlated"]), "relative_l2": fit["relative_l2"],
                   "bias": fit["bias"].numpy()}
        else:
            fit = None  # an older cache: recomputed
        return cls(LatentPrior.from_state(s["prior"]), s["model_error"].numpy(), s["x_u"].numpy(), s["source"],
                   None if a_error is None else a_error.numpy(), CorrelatedError.from_state(s.get("correlated")), fit,
                   None if bias is None else bias.numpy())


def model_errors(model: DGNO, a: np.ndarray, u: np.ndarray, x_u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The errors themselves, per sample: G(enc(a)) - u (N, *grid_u[, C]) and E[a | enc(a)] - a (N, *grid_a)."""
    pred = predict_dataset(model, torch.from_numpy(a), torch.from_numpy(x_u))
    return pred["u"].double().numpy() - u, pred["a_mean"].double().numpy() - a


def model_error_fields(model: DGNO, a: np.ndarray, u: np.ndarray, x_u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-node RMS over samples of the outputs' and the decoded input's errors.

    a (N, *grid_a), u (N, *grid_u[, C]) on x_u (*grid_u, d) -> ((*grid_u[, C]), (*grid_a)).
    """
    err_u, err_a = model_errors(model, a, u, x_u)
    return np.sqrt((err_u**2).mean(0)), np.sqrt((err_a**2).mean(0))


def best_fit_errors(model: DGNO, prior: LatentPrior, a: np.ndarray, u: np.ndarray, x_u: np.ndarray, sigma: np.ndarray,
                    *, steps: int = 300, lr: float = 0.02, chunk: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The errors of the latent that best fits each u: G(beta*) - u (N, *grid_u[, C]) and E[a | beta*] - a.

    beta* = transform(theta*), theta* = argmax -sum (G(beta)(x) - u)^2 / (2 sigma^2) + log p(theta) over the nodes
    where sigma > 0 (a hard constraint fixes the others), by Adam from the encoder's latent, ``chunk`` samples
    at a time. sigma (*grid_u[, C]) is the encoder's RMS error: the MAP given every node observed with it.
    """
    from dgno.nn.multionet import frozen_trunks

    p = next(model.parameters())
    prior = prior.to(p.device, p.dtype)
    n, c = u.shape[0], len(model.output_names)
    x = torch.as_tensor(x_u.reshape(-1, x_u.shape[-1]), dtype=p.dtype, device=p.device)
    target = torch.as_tensor(u.reshape(n, -1, c), dtype=p.dtype, device=p.device)
    sig = torch.as_tensor(np.asarray(sigma).reshape(-1, c), dtype=p.dtype, device=p.device)
    weight = torch.where(sig > 0, 1 / sig.clamp_min(1e-30) ** 2, torch.zeros_like(sig))
    beta0 = predict_dataset(model, torch.from_numpy(a), torch.from_numpy(x_u))["beta"].to(p.device, p.dtype)
    requires = [q.requires_grad for q in model.parameters()]
    for q in model.parameters():
        q.requires_grad_(False)
    fitted = []
    try:
        with frozen_trunks(model):
            for start in range(0, n, chunk):
                theta = prior.inverse(beta0[start:start + chunk]).clone().requires_grad_(True)
                y = target[start:start + chunk]
                opt = torch.optim.Adam([theta], lr=lr)
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 50)
                for _ in range(steps):
                    opt.zero_grad(set_to_none=True)
                    r = model.outputs_at(prior.transform(theta), x) - y  # (B, n_u, C)
                    loss = 0.5 * (r**2 * weight).sum() - prior.log_prob(theta).sum()
                    loss.backward()
                    opt.step()
                    sched.step()
                fitted.append(prior.transform(theta.detach()))
    finally:
        for q, r in zip(model.parameters(), requires, strict=True):
            q.requires_grad_(r)
    beta = torch.cat(fitted)
    with torch.no_grad():
        g = torch.cat([model.outputs_at(beta[i:i + chunk], x) for i in range(0, n, chunk)])
        a_hat = model.likelihood.mean(model.decode_a(beta))
    err_u = g.double().cpu().numpy().reshape(u.shape) - u
    return err_u, a_hat.double().cpu().numpy().reshape(a.shape) - a


def latent_dim(model: DGNO) -> int:
    """The dimension of beta (read off the fields' decoders)."""
    return int(next(iter(model.decoders.values())).d_beta)


def latent_fit_errors(model: DGNO, prior: LatentPrior, val, err_u: np.ndarray) -> dict:
    """The model error of the latent that best fits each validation u (:func:`best_fit_errors`): its RMS per node,
    its mean, the decoded input's RMS error, its correlated fit and the mean relative L2 error of the fit."""
    fit_u, fit_a = best_fit_errors(model, prior, val.a, val.u, val.x_u, err_u)
    rms_u = np.sqrt((fit_u**2).mean(0))
    flat = (fit_u.reshape(len(val), -1), val.u.reshape(len(val), -1))
    return {"model_error": rms_u, "a_error": np.sqrt((fit_a**2).mean(0)), "bias": fit_u.mean(0),
            "correlated": fit_correlated_error(val.x_u, fit_u, rms_u),
            "relative_l2": float(np.mean(np.linalg.norm(flat[0], axis=1) / np.linalg.norm(flat[1], axis=1)))}


def calibrate(model: DGNO, *, run: str | os.PathLike, checkpoint: str, data_dir: str | os.PathLike | None,
              prior: str | None = None, refresh: bool = False, latent_fit: bool = False,
              source: str | None = None) -> Calibration:
    """The run's calibration for ``prior`` (None: the model's default), from ``RUN/inverse_<checkpoint>.pt`` or from
    its data.

    ``dgno train`` stores it (with the latent fit) at the end of training, so that a run folder inverts without its
    data; a run without it computes it here on first use from ``data_dir``/{train,val}.h5 and stores it.
    ``latent_fit`` also fits the latent to every validation u (:func:`latent_fit_errors`, for
    ``--model-error-from latent``). A folder that cannot be written (a pretrained model in a read-only install)
    keeps what it has: the result is used, not stored."""
    default = "standard" if model.variational else "fitted"
    kind = prior or default
    # the model's default prior in inverse_<checkpoint>.pt, another in inverse_<checkpoint>_<prior>.pt (never
    # overwriting the default's)
    path = Path(run) / (f"inverse_{checkpoint}.pt" if kind == default else f"inverse_{checkpoint}_{kind}.pt")
    cal = None
    if path.is_file() and not refresh:
        try:  # a damaged or foreign cache is recomputed, never trusted
            cal = Calibration.from_state(torch.load(path, weights_only=True))
        except Exception:
            cal = None
        usable = (cal is not None and cal.prior.kind == kind and cal.a_error is not None
                  and cal.correlated is not None and cal.bias is not None)
        if not usable:
            cal = None
        elif cal.fit is not None or not latent_fit:  # complete for what is asked
            return cal
    where = source or str(run)
    missing = ("stored latent fit (model_error_from='latent')" if cal is not None else
               f"stored calibration for the {kind} prior" if path.is_file() else f"stored calibration ({path.name})")
    if data_dir is None:
        raise DgnoError(f"{where}: has no {missing}, and no data directory is known to compute it from (give "
                        "calibration data: --calibration-data DIR or calibration_data=DIR)")
    data_dir = Path(data_dir)
    files = {s: data_dir / f"{s}.h5" for s in ("train", "val")}
    for split, f in files.items():
        if not f.is_file():
            raise DgnoError(f"{where}: has no {missing}, and computing it needs the "
                            f"run's {split} split, which is not at {f} (give the folder holding train.h5 and val.h5: "
                            "--calibration-data DIR or calibration_data=DIR)")
    val = load_h5(files["val"], require_u=True)
    if cal is not None:  # the cached calibration, without the latent fit asked for now
        cal = replace(cal, fit=latent_fit_errors(model, cal.prior, val, cal.model_error))
    else:
        encoded = None
        if kind == "fitted":
            train = load_h5(files["train"], read_u=False)
            encoded = predict_dataset(model, torch.from_numpy(train.a), torch.from_numpy(train.x_u))["beta"]
        latent = choose_prior(kind, variational=model.variational, encoded=encoded, dim=latent_dim(model))
        errors_u, errors_a = model_errors(model, val.a, val.u, val.x_u)
        err_u, err_a = np.sqrt((errors_u**2).mean(0)), np.sqrt((errors_a**2).mean(0))
        cal = Calibration(latent, err_u, val.x_u.astype(float),
                          {"train": str(files["train"]), "val": str(files["val"]), "checkpoint": checkpoint,
                           "n_val": len(val)}, err_a, fit_correlated_error(val.x_u, errors_u, err_u),
                          latent_fit_errors(model, latent, val, err_u) if latent_fit else None, errors_u.mean(0))
    try:
        with atomic_path(path) as tmp:
            torch.save(cal.state(), tmp)
    except OSError:  # a read-only run folder: use it without storing
        pass
    return cal
