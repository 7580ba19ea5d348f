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
from dgno.config.build import build_model, weak_setup
from dgno.config.schema import Config, to_dict
from dgno.errors import DgnoError
from dgno.evaluate.metrics import evaluate, predict_dataset
from dgno.evaluate.plots import plot_curves, plot_predictions
from dgno.models.baselines import count_parameters
from dgno.train.checkpoint import load_checkpoint, save_checkpoint
from dgno.train.data import TrainData, load_training_data
from dgno.weak import weak_points

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DgnoError(f"train.device: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DgnoError(f"train.device={name} but CUDA is not available")
    return device


def to_device(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move to ``device`` and cast the real floating-point tensors to ``dtype``; complex ones (the spectral
    weights of a peer FNO) keep their type, where Module.to(dtype) would drop their imaginary parts."""
    return model.to(device)._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)


def make_model(cfg: Config, data: TrainData, *, seed: int):
    """The model of ``cfg`` with its initial weights drawn from ``seed`` (global RNG untouched)."""
    std = data.a.std(0).clamp_min(1e-6)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(cfg, x_a=data.x_a.float(), a_mean=data.a.mean(0).float(), a_std=std.float())


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


def _optimiser(cfg: Config, params) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    raise DgnoError(f"unknown optimizer {t.optimizer!r}; choose adam or adamw")


def train(
    cfg: Config,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Train the configured method (DGNO or a baseline), writing checkpoints, metrics and a summary to ``out_dir``."""
    t = cfg.train
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if t.dtype not in DTYPES:
        raise DgnoError(f"train.dtype must be one of {', '.join(DTYPES)}, got {t.dtype!r}")
    if t.batch_size < 1 or t.steps < 0:
        raise DgnoError("train.batch_size must be >= 1 and train.steps >= 0")
    device, dtype = pick_device(t.device), DTYPES[t.dtype]
    if t.threads:
        torch.set_num_threads(t.threads)
    if device.type == "cpu":
        # Subnormal floats appear as training converges and slow x86 arithmetic several-fold (measured: step
        # time 0.09 s -> 0.25 s after 20k steps); flushing them to zero changes results by < 1e-38.
        torch.set_flush_denormal(True)
    data = load_training_data(cfg.data)
    n = data.a.shape[0]
    if t.batch_size > n:
        raise DgnoError(f"train.batch_size={t.batch_size} exceeds the {n} training inputs")
    model = to_device(make_model(cfg, data, seed=t.seed), device, dtype)
    if getattr(model, "needs_labels", False) and data.u is None:
        raise DgnoError(f"model.kind={cfg.model.kind} is supervised: set data.n_labeled > 0 (labeled training pairs)")
    uses_points = getattr(model, "uses_weak_points", True)
    setup = weak_setup(cfg, dim=data.x_a.shape[-1])
    rule = setup.rule.to(device=device, dtype=dtype)
    opt = _optimiser(cfg, model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t.step_size, gamma=t.gamma)
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
    (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

    def checkpoint(name: str) -> None:
        save_checkpoint(out / name, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "step": step, "best_val": best, "elapsed": elapsed, "rng": {"generator": gen.get_state()},
            "order": {"perm": order.perm, "pos": order.pos}, "config": to_dict(cfg), "version": __version__,
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
        if metrics["u_rel_l2_mean"] < best:
            best = metrics["u_rel_l2_mean"]
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
            points = (weak_points(setup.sampler.sample(gen, device=device, dtype=dtype), rule, setup.test_function)
                      if uses_points else None)
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
                bar.set_postfix(loss=f"{out_loss.total.item():.4g}", val=f"{val['u_rel_l2_mean']:.4f}")
            if step % t.checkpoint_every == 0:
                checkpoint("last.pt")
            metrics_file.flush()
        if val is None or last_val < elapsed:
            val = validate()
        checkpoint("last.pt")
    finally:
        bar.close()
        metrics_file.close()
    summary = {"method": cfg.model.kind, "steps": step, "seconds": elapsed, "best_val_u_rel_l2": best,
               "last_val": val, "device": str(device), "seconds_per_step": elapsed / max(step, 1),
               "parameters": count_parameters(model),
               "labels_used": int(data.labeled.sum()) if data.u is not None else 0}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    plot_curves(rows, out / "curves.png")
    pred = predict_dataset(model, data.val_a[:4], data.x_u)
    a_pred = pred["a_mean"].numpy() if "a_mean" in pred else None
    plot_predictions(data.x_u.numpy(), data.val_a[:4].numpy(), a_pred, data.val_u[:4].numpy(),
                     pred["u"].numpy(), out / "predictions_val.png")
    return summary
