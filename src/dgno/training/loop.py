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
from dgno.errors import DgnoError
from dgno.evaluate.metrics import evaluate, predict_dataset
from dgno.evaluate.plots import plot_curves, plot_predictions
from dgno.models.baselines import count_parameters
from dgno.reference.dataset import write_text_atomic
from dgno.training.checkpoint import load_checkpoint, save_checkpoint
from dgno.training.data import TrainData
from dgno.training.distributed import DistInfo, LossModule, any_rank, mean_over_ranks
from dgno.training.step import TrainStep
from dgno.weak.layouts import WeakLayout


def to_device(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move to ``device`` and cast the real floating-point tensors to ``dtype`` and the complex ones (the spectral
    weights of a peer FNO) to the complex type of the same precision, where Module.to(dtype) would drop their
    imaginary parts."""
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64

    def cast(t: torch.Tensor) -> torch.Tensor:
        if t.is_floating_point():
            return t.to(dtype)
        return t.to(complex_dtype) if t.is_complex() else t

    return model.to(device)._apply(cast)


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
    cuda_graph: bool = False  # replay each step from a CUDA graph (physics-only DGNO on a GPU; see train.step)
    ema: float | None = None  # decay of a moving average of the weights, which is validated and kept as the model


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
    dist: DistInfo | None = None,
) -> dict:
    """Train ``model`` (DGNO or a baseline, on ``device`` in ``dtype``) on ``data``, writing checkpoints, metrics and a
    summary to ``out_dir``.

    Each step: a batch of inputs, the weak points of ``layout`` (None for methods without them), the encoder's
    noise, loss, backward, optimiser and scheduler steps. ``record`` (the resolved config) is saved as config.yaml
    and in every checkpoint. Every random number comes from the loop's generators, whose states are in every
    checkpoint, so that ``resume`` continues a killed run to the same parameters as an uninterrupted one.
    ``dist`` (from torchrun's environment) makes this process one rank of a data-parallel run
    (:mod:`dgno.training.distributed`).

    With ``options.ema`` an exponential moving average of the weights (torch.optim.swa_utils.AveragedModel) is
    updated after every step; it, not the raw weights, is validated, chosen as best and plotted. Checkpoints keep
    both: ``model`` (the raw weights, which training resumes from) and ``ema`` (what dgno.config.runs.load_run
    loads).
    """
    t, opt, sched = options, optimizer, scheduler
    dist = dist or DistInfo()
    out = Path(out_dir)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    if device.type == "cpu":
        # Subnormal floats appear as training converges and slow x86 arithmetic several-fold (measured: step
        # time 0.09 s -> 0.25 s after 20k steps); flushing them to zero changes results by < 1e-38.
        torch.set_flush_denormal(True)
    record = dict(record or {})
    n = data.a.shape[0]
    gen = torch.Generator().manual_seed(t.seed)  # batch order; on CPU also particles and noise
    # On a GPU the particles and the encoder's noise are drawn there, so that a step needs no host-to-device copy.
    dgen = torch.Generator(device=device).manual_seed(t.seed + 1) if device.type == "cuda" else gen
    order = BatchOrder(n, t.batch_size, torch.randperm(n, generator=gen))
    local = dist.local_slice(t.batch_size)
    step, best, elapsed = 0, float("inf"), 0.0
    averaged = None
    if t.ema is not None:
        swa = torch.optim.swa_utils
        averaged = swa.AveragedModel(model, multi_avg_fn=swa.get_ema_multi_avg_fn(t.ema))
    shown = averaged.module if averaged is not None else model  # the model that is validated and kept
    if resume:
        ck = load_resumable(out, log=log, clean=dist.main)  # only rank 0 touches the folder
        if ck is not None:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            gen.set_state(ck["rng"]["generator"])
            if dgen is not gen and "device_generator" in ck["rng"]:
                dgen.set_state(ck["rng"]["device_generator"])
            order.perm, order.pos = ck["order"]["perm"], ck["order"]["pos"]
            if averaged is not None and "ema" in ck:  # (a run resumed with train.ema newly set starts its average)
                averaged.module.load_state_dict(ck["ema"])
                averaged.n_averaged.fill_(ck["ema_n"])
            step, best, elapsed = ck["step"], ck["best_val"], ck["elapsed"]
            if dist.main:
                _truncate_metrics(out / "metrics.jsonl", step)
            log(f"resumed {ck['_path']} at step {step}")
    if dist.main:
        write_text_atomic(out / "config.yaml", yaml.safe_dump(record, sort_keys=False))

    def checkpoint(name: str) -> None:
        if not dist.main:
            return
        rng = {"generator": gen.get_state()}
        if dgen is not gen:
            rng["device_generator"] = dgen.get_state()
        opt_state = opt.state_dict()
        for group in opt_state["param_groups"]:  # a CUDA-graph run's settings must not follow it to the CPU
            group["capturable"] = False
        payload = {
            "model": model.state_dict(), "optimizer": opt_state, "scheduler": sched.state_dict(),
            "step": step, "best_val": best, "elapsed": elapsed, "rng": rng,
            "order": {"perm": order.perm, "pos": order.pos}, "config": record, "version": __version__,
            "data_preset": data.preset,
        }
        if averaged is not None:
            payload["ema"], payload["ema_n"] = averaged.module.state_dict(), int(averaged.n_averaged)
        save_checkpoint(out / name, payload, keep_previous=name == "last.pt")

    loss_fn = torch.compile(model.loss) if t.compile else model.loss
    if dist.enabled:
        # static_graph: the same parameters take part in every step, and some never do (a stream function's
        # constant moves no output), which find_unused_parameters=False would refuse
        ddp = torch.nn.parallel.DistributedDataParallel(LossModule(model), static_graph=True,
                                                        device_ids=[device] if device.type == "cuda" else None)
        loss_fn = ddp
    stepper = TrainStep(model, opt, sched, loss_fn=loss_fn, cuda_graph=t.cuda_graph and not dist.enabled,
                        log=log)
    metrics_file = (out / "metrics.jsonl").open("a") if dist.main else None

    def validate() -> dict | None:
        """Validation errors on rank 0; the best checkpoint is chosen on them (never on a test split)."""
        nonlocal best
        if not dist.main:
            return None
        shown.eval()
        metrics = evaluate(shown, data.val_a, data.val_u, data.x_u)
        shown.train()
        row = {"step": step, "seconds": elapsed, **{f"val_{k}": v for k, v in metrics.items()}}
        metrics_file.write(json.dumps(row) + "\n")
        if metrics["rel_l2_mean"] < best:
            best = metrics["rel_l2_mean"]
            checkpoint("best.pt")
        return metrics

    x_u = data.x_u.to(device, dtype)
    on_gpu = device.type == "cuda" and isinstance(data.a, torch.Tensor)
    a_all = data.a.to(device, dtype) if on_gpu else data.a  # a training set on the GPU is indexed there
    u_all = data.u.to(device, dtype) if on_gpu and data.u is not None else data.u
    noise_dim = getattr(model, "noise_dim", 0)
    bar = tqdm(total=t.steps, initial=step, disable=not (progress and dist.main), desc="train", dynamic_ncols=True)
    start = time.perf_counter() - elapsed
    budget = None if t.max_minutes is None else 60 * t.max_minutes
    val, last_val = None, elapsed

    def out_of_time() -> bool:
        if budget is None:  # every rank runs the same steps: nothing to agree on (no collective, no host sync)
            return False
        return any_rank(time.perf_counter() - start >= budget, dist, device)

    perm_src, perm_dev = None, None  # the epoch's permutation, and its copy on the GPU

    def batch_indices() -> torch.Tensor:
        """This rank's share of the next global batch, on the GPU when the training set is there (one copy of the
        permutation per epoch: a copy from the host per step would make the host wait for the GPU)."""
        nonlocal perm_src, perm_dev
        idx = order.next(gen)
        if not on_gpu:
            return idx[local]
        if perm_src is not order.perm:
            perm_src, perm_dev = order.perm, order.perm.to(device)
        return perm_dev[order.pos - t.batch_size: order.pos][local]

    try:
        while step < t.steps and not out_of_time():
            idx = batch_indices()  # this rank's share of the global batch
            a = a_all[idx].to(device, dtype)
            points = layout.sample(dgen, device=device, dtype=dtype) if layout is not None else None
            noise = None
            if noise_dim:
                noise = torch.randn(t.batch_size, noise_dim, generator=dgen, device=dgen.device,
                                    dtype=torch.float64)[local].to(device, dtype)
            # physics only: no solutions at all; semi-supervised: u and the labeled mask of the batch
            u = u_all[idx].to(device, dtype) if data.u is not None else None
            labeled = data.labeled[idx.cpu()].to(device) if data.u is not None else None
            kwargs = {"noise": noise} if noise is not None else {}
            out_loss = stepper(a, points, u=u, labeled=labeled, x_u=x_u, **kwargs)
            if averaged is not None:
                averaged.update_parameters(model)
            step += 1
            elapsed = time.perf_counter() - start
            bar.update(1)
            if step % t.log_every == 0 or step == 1:
                parts = mean_over_ranks({"loss": out_loss.total, **out_loss.parts}, dist)
                row = {"step": step, "lr": sched.get_last_lr()[0], "seconds": elapsed,
                       **{k: v.item() for k, v in parts.items()}}
                if dist.main:
                    metrics_file.write(json.dumps(row) + "\n")
                bar.set_postfix(loss=f"{row['loss']:.4g}", val=f"{best:.4f}")
            if step % t.val_every == 0 or (t.val_seconds is not None and elapsed - last_val >= t.val_seconds):
                val, last_val = validate(), elapsed
                if val is not None:
                    bar.set_postfix(loss=f"{out_loss.total.item():.4g}", val=f"{val['rel_l2_mean']:.4f}")
            if step % t.checkpoint_every == 0:
                checkpoint("last.pt")
            if metrics_file is not None:
                metrics_file.flush()
        if val is None or last_val < elapsed:
            val = validate()
        checkpoint("last.pt")
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
    summary = {"method": record.get("model", {}).get("kind", type(model).__name__), "steps": step, "ema": t.ema,
               "seconds": elapsed, "best_val_u_rel_l2": best,
               "last_val": val, "device": str(device), "seconds_per_step": elapsed / max(step, 1),
               "parameters": count_parameters(model),
               "labels_used": int(data.labeled.sum()) if data.u is not None else 0,
               "processes": dist.world, "samples_per_process": local.stop - local.start,
               "cuda_graph": stepper.graphed}
    if not dist.main:
        return summary
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    plot_curves(rows, out / "curves.png")
    pred = predict_dataset(shown, data.val_a[:4], data.x_u)
    a_pred = pred["a_mean"].numpy() if "a_mean" in pred else None
    plot_predictions(data.x_a.numpy(), data.x_u.numpy(), data.val_a[:4].numpy(), a_pred, data.val_u[:4].numpy(),
                     pred["u"].numpy(), out / "predictions_val.png", names=getattr(model, "output_names", ("u",)),
                     triangles=data.triangles)
    return summary


def load_resumable(out: Path, *, log: Callable[[str], None] = print, clean: bool = True) -> dict | None:
    """The newest complete checkpoint of a run folder: last.pt, or last.prev.pt (the one before it) when last.pt is
    missing or unreadable (a crash between the two renames, a damaged file). None when neither exists; a clear
    error when neither is readable. Leftover temporary files of a killed write are removed (with ``clean``)."""
    for stray in out.glob(".*.tmp*") if clean else ():
        stray.unlink(missing_ok=True)
    errors = []
    for name in ("last.pt", "last.prev.pt"):
        path = out / name
        if not path.exists():
            continue
        try:
            ck = load_checkpoint(path)
        except DgnoError as exc:
            errors.append(str(exc))
            log(f"warning: {exc}; trying the previous checkpoint")
            continue
        ck["_path"] = path
        return ck
    if errors:
        raise DgnoError("cannot resume: " + "; ".join(errors))
    return None


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint that a run resumes from (and a line cut by the kill)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step", 0) <= step:
            keep.append(line)
    write_text_atomic(path, "".join(f"{line}\n" for line in keep))
