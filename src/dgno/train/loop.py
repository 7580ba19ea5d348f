"""The training loop: sample a batch and particles, loss, backward, step; validate; checkpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from dgno import __version__
from dgno.evaluate.metrics import evaluate, predict_dataset
from dgno.evaluate.plots import plot_curves, plot_predictions
from dgno.models.baselines import count_parameters
from dgno.reference.dataset import write_text_atomic
from dgno.train.checkpoint import load_checkpoint, save_checkpoint
from dgno.train.data import TrainData
from dgno.weak.layouts import WeakLayout


def to_device(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move to ``device`` and cast the real floating-point tensors to ``dtype``; complex ones (the spectral
    weights of a peer FNO) keep their type, where Module.to(dtype) would drop their imaginary parts."""
    return model.to(device)._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)


@dataclass
class BatchOrder:
    """Epoch-wise random permutations of the training indices, resumable."""

    n: int
    batch_size: int
    perm: torch.Tensor
    pos: int = 0

    def next(self, generator: torch.Generator) -> torch.Tensor:
        if self.pos + self.batch_size > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=generator), 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx


@dataclass(frozen=True)
class LoopOptions:
    """The loop's schedule: how long, how often to validate, log and checkpoint, and its seed."""

    steps: int = 80_000
    batch_size: int = 25
    val_every: int = 500
    val_seconds: float | None = None  # also validate when this much training time has passed since the last
    log_every: int = 50
    checkpoint_every: int = 1_000
    max_minutes: float | None = None  # wall-clock budget; stops early (checkpointing) when reached
    seed: int = 0
    compile: bool = False  # torch.compile the loss


def train(
    model: torch.nn.Module,
    data: TrainData,
    *,
    layout: WeakLayout | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    options: LoopOptions,
    out_dir: str | Path,
    device: torch.device,
    dtype: torch.dtype,
    record: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Train ``model`` (DGNO or a baseline, on ``device`` in ``dtype``) on ``data``, writing checkpoints, metrics and a
    summary to ``out_dir``.

    Each step: a batch of inputs, the weak points of ``layout`` (None for methods without them), loss, backward,
    optimiser and scheduler steps. ``record`` (the resolved config) is saved as config.yaml and in every checkpoint.
    """
    t, opt, sched = options, optimizer, scheduler
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if device.type == "cpu":
        # Subnormal floats appear as training converges and slow x86 arithmetic several-fold (measured: step
        # time 0.09 s -> 0.25 s after 20k steps); flushing them to zero changes results by < 1e-38.
        torch.set_flush_denormal(True)
    record = dict(record or {})
    n = data.a.shape[0]
    gen = torch.Generator().manual_seed(t.seed)
    order = BatchOrder(n, t.batch_size, torch.randperm(n, generator=gen))
    step, best, elapsed = 0, float("inf"), 0.0
    if resume and (out / "last.pt").exists():
        ck = load_checkpoint(out / "last.pt")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["rng"]["generator"])
        order.perm, order.pos = ck["order"]["perm"], ck["order"]["pos"]
        step, best, elapsed = ck["step"], ck["best_val"], ck["elapsed"]
        log(f"resumed {out / 'last.pt'} at step {step}")
    write_text_atomic(out / "config.yaml", yaml.safe_dump(record, sort_keys=False))

    def checkpoint(name: str) -> None:
        save_checkpoint(out / name, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "step": step, "best_val": best, "elapsed": elapsed, "rng": {"generator": gen.get_state()},
            "order": {"perm": order.perm, "pos": order.pos}, "config": record, "version": __version__,
            "data_preset": data.preset,
        })

    loss_fn = torch.compile(model.loss) if t.compile else model.loss
    metrics_file = (out / "metrics.jsonl").open("a")

    def validate() -> dict:
        """Validation errors; the best checkpoint is chosen on them (never on a test split)."""
        nonlocal best
        model.eval()
        metrics = evaluate(model, data.val_a, data.val_u, data.x_u)
        model.train()
        row = {"step": step, "seconds": elapsed, **{f"val_{k}": v for k, v in metrics.items()}}
        metrics_file.write(json.dumps(row) + "\n")
        if metrics["rel_l2_mean"] < best:
            best = metrics["rel_l2_mean"]
            checkpoint("best.pt")
        return metrics

    x_u = data.x_u.to(device, dtype)
    bar = tqdm(total=t.steps, initial=step, disable=not progress, desc="train", dynamic_ncols=True)
    start = time.perf_counter() - elapsed
    budget = None if t.max_minutes is None else 60 * t.max_minutes
    val, last_val = None, elapsed
    try:
        while step < t.steps and (budget is None or time.perf_counter() - start < budget):
            idx = order.next(gen)
            a = data.a[idx].to(device, dtype)
            points = layout.sample(gen, device=device, dtype=dtype) if layout is not None else None
            # physics only: no solutions at all; semi-supervised: u and the labeled mask of the batch
            u = data.u[idx].to(device, dtype) if data.u is not None else None
            labeled = data.labeled[idx].to(device) if data.u is not None else None
            out_loss = loss_fn(a, points, u=u, labeled=labeled, x_u=x_u)
            opt.zero_grad(set_to_none=True)
            out_loss.total.backward()
            opt.step()
            sched.step()
            step += 1
            elapsed = time.perf_counter() - start
            bar.update(1)
            if step % t.log_every == 0 or step == 1:
                row = {"step": step, "loss": out_loss.total.item(), "lr": sched.get_last_lr()[0],
                       "seconds": elapsed, **{k: v.item() for k, v in out_loss.parts.items()}}
                metrics_file.write(json.dumps(row) + "\n")
                bar.set_postfix(loss=f"{row['loss']:.4g}", val=f"{best:.4f}")
            if step % t.val_every == 0 or (t.val_seconds is not None and elapsed - last_val >= t.val_seconds):
                val, last_val = validate(), elapsed
                bar.set_postfix(loss=f"{out_loss.total.item():.4g}", val=f"{val['rel_l2_mean']:.4f}")
            if step % t.checkpoint_every == 0:
                checkpoint("last.pt")
            metrics_file.flush()
        if val is None or last_val < elapsed:
            val = validate()
        checkpoint("last.pt")
    finally:
        bar.close()
        metrics_file.close()
    summary = {"method": record.get("model", {}).get("kind", type(model).__name__), "steps": step,
               "seconds": elapsed, "best_val_u_rel_l2": best,
               "last_val": val, "device": str(device), "seconds_per_step": elapsed / max(step, 1),
               "parameters": count_parameters(model),
               "labels_used": int(data.labeled.sum()) if data.u is not None else 0}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    plot_curves(rows, out / "curves.png")
    pred = predict_dataset(model, data.val_a[:4], data.x_u)
    a_pred = pred["a_mean"].numpy() if "a_mean" in pred else None
    plot_predictions(data.x_a.numpy(), data.x_u.numpy(), data.val_a[:4].numpy(), a_pred, data.val_u[:4].numpy(),
                     pred["u"].numpy(), out / "predictions_val.png", names=getattr(model, "output_names", ("u",)),
                     triangles=data.triangles)
    return summary
