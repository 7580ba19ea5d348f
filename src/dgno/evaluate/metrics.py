"""Accuracy metrics: per-sample relative L2 errors, summarised as mean and standard deviation."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def relative_l2(pred: Tensor, true: Tensor) -> Tensor:
    """Per-sample ||pred - true|| / ||true|| over all non-sample axes: (N, ...) -> (N,)."""
    diff = (pred - true).flatten(1).norm(dim=1)
    return diff / true.flatten(1).norm(dim=1)


def summarise(errors: np.ndarray | Tensor, prefix: str) -> dict[str, float]:
    e = np.asarray(errors.cpu() if isinstance(errors, Tensor) else errors, dtype=float)
    return {f"{prefix}_mean": float(e.mean()), f"{prefix}_std": float(e.std()), f"{prefix}_max": float(e.max())}


@torch.no_grad()
def predict_dataset(model, a: Tensor, x_u: Tensor, *, batch_size: int = 100) -> dict[str, Tensor]:
    """Model predictions for all inputs a (N, *grid), in batches, on the model's device and dtype."""
    p = next(q for q in model.parameters() if q.is_floating_point())
    outs: dict[str, list[Tensor]] = {}
    x_u = x_u.to(p.device, p.dtype)
    for start in range(0, a.shape[0], batch_size):
        pred = model.predict(a[start : start + batch_size].to(p.device, p.dtype), x_u)
        for k, v in pred.items():
            outs.setdefault(k, []).append(v.cpu())
    return {k: torch.cat(v) for k, v in outs.items()}


def evaluate(model, a: Tensor, u: Tensor, x_u: Tensor, *, batch_size: int = 100) -> dict[str, float]:
    """u and (for models that decode it) a relative L2 errors (mean, std, max) and the sample count."""
    pred = predict_dataset(model, a, x_u, batch_size=batch_size)
    out = summarise(relative_l2(pred["u"].double(), u.double()), "u_rel_l2")
    if "a_mode" in pred:
        out.update(summarise(relative_l2(pred["a_mode"].double(), a.double()), "a_rel_l2"))
    return {**out, "n": int(a.shape[0])}
