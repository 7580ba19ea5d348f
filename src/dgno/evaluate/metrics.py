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


def output_errors(pred: Tensor, true: Tensor, names: tuple[str, ...], n_grid: int) -> dict[str, float]:
    """Relative L2 errors of each output component and their mean ``rel_l2_mean``.

    pred, true: (N, *grid) for one output, (N, *grid, C) for C named outputs; n_grid = len(grid).
    Keys ``<name>_rel_l2_mean``, ``_std``, ``_max`` per component.
    """
    if true.shape != pred.shape:
        raise ValueError(f"predictions {tuple(pred.shape)} and solutions {tuple(true.shape)} differ in shape")
    if true.ndim == n_grid + 1:
        pred, true = pred[..., None], true[..., None]
    if true.shape[-1] != len(names):
        raise ValueError(f"the solutions hold {true.shape[-1]} components but the model names {len(names)}: {names}")
    out: dict[str, float] = {}
    for c, name in enumerate(names):
        out.update(summarise(relative_l2(pred[..., c].double(), true[..., c].double()), f"{name}_rel_l2"))
    out["rel_l2_mean"] = float(np.mean([out[f"{name}_rel_l2_mean"] for name in names]))
    return out


def evaluate(model, a: Tensor, u: Tensor, x_u: Tensor, *, batch_size: int = 100) -> dict[str, float]:
    """Relative L2 errors (mean, std, max) of every output component, their mean ``rel_l2_mean``, the decoded
    input's (for models that decode it) and the sample count."""
    pred = predict_dataset(model, a, x_u, batch_size=batch_size)
    names = tuple(getattr(model, "output_names", ("u",)))
    out = output_errors(pred["u"], u, names, x_u.ndim - 1)
    if "a_mode" in pred:
        out.update(summarise(relative_l2(pred["a_mode"].double(), a.double()), "a_rel_l2"))
    return {**out, "n": int(a.shape[0])}


def describe_errors(result: dict) -> str:
    """One line: each output's relative L2 (mean +- std), their mean when there are several, the decoded a's."""
    names = [k[: -len("_rel_l2_mean")] for k in result if k.endswith("_rel_l2_mean") and k not in
             ("rel_l2_mean", "a_rel_l2_mean")]
    parts = [f"{n} rel L2 {result[f'{n}_rel_l2_mean']:.4f} +- {result[f'{n}_rel_l2_std']:.4f}" for n in names]
    if len(names) > 1:
        parts.append(f"mean {result['rel_l2_mean']:.4f}")
    if "a_rel_l2_mean" in result:
        parts.append(f"decoded a rel L2 {result['a_rel_l2_mean']:.4f}")
    return ", ".join(parts)
