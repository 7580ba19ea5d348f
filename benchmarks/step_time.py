"""Seconds per optimiser step at the reference's configuration of a preset.

darcy-pwc (default, configs/darcy_pwc.yaml): encoder 841-512-256-128 (+tanh); u, s1, s2 MultiONets
width 100 x 5 layers, l = 4; a-decoder width 256 x 5; batch 25; 100 particles x 25 quadrature points.
burgers (configs/burgers.yaml): encoder 128-256-128-64-128; u MultiONet on (x, t) width 100 x 6,
l = 5; batch 50; 100 time levels x 1 particle x 10 points. stokes-cylinder (configs/stokes.yaml): 445,499
parameters, batch 25, 256 particles in the fluid x the clipped 8 x 8 rule, 3 x 256 boundary points.
Times the shared-trunk path and the per-sample path (the trunk evaluated for every sample, as the
reference does) back to back in one process (first all shared steps, then a quarter as many per-sample
steps, each after warm-up), and prints the median of each. Inputs are drawn from the preset's training distribution.

With --compile it also times torch.compile of the loss, and with --graph (CUDA) steps replayed from one CUDA
graph (dgno.training.step), and compiled steps replayed from a graph when both are given; "first_step_s" holds each
path's first step (compilation and capture included).

    python benchmarks/step_time.py [--preset burgers] [--steps 30] [--warmup 5] [--threads 2] [--device cpu]
        [--compile] [--graph] [--json] [--out FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from dgno.atomic import write_text
from dgno.config import get_preset
from dgno.config.build import build_model, weak_layout
from dgno.config.schema import load_config
from dgno.training.step import TrainStep

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"darcy-pwc": "configs/darcy_pwc.yaml", "burgers": "configs/burgers.yaml",
           "stokes-cylinder": "configs/stokes.yaml"}


def make_inputs(preset_name: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n inputs from the preset's training distribution at its input nodes, and the nodes x_a."""
    rng = np.random.default_rng(seed)
    preset = get_preset(preset_name)
    x_a = preset.x_a()
    field = preset.sampler("train")
    return torch.tensor(np.stack([field.sample(rng)(x_a) for _ in range(n)])), torch.tensor(x_a)


def measure(args: argparse.Namespace) -> dict:
    """Median seconds per step of each path for ``args`` (preset, config, steps, warmup, device, compile, graph)."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # as `dgno train` does on CPU
    cfg = load_config(args.config or ROOT / CONFIGS[args.preset])
    a_all, x = make_inputs(args.preset, 100)
    torch.manual_seed(0)
    std = a_all.std(0).clamp_min(1e-6)
    model = build_model(cfg, x_a=x.float(), a_mean=a_all.mean(0).float(), a_std=std.float()).to(device)
    layout = weak_layout(cfg, model.problem)
    gen = torch.Generator().manual_seed(0)
    batch = cfg.train.batch_size

    def make_step(path: str) -> TrainStep:
        """A fresh optimiser over the model's parameters for each path; the model's weights keep training."""
        loss_fn = torch.compile(model.loss) if path.startswith("compiled") else model.loss
        if path == "per-sample":
            loss_fn = functools.partial(model.loss, shared=False)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.train.step_size, gamma=cfg.train.gamma)
        return TrainStep(model, opt, sched, loss_fn=loss_fn, cuda_graph=path.endswith("graph"), log=print)

    # particles and noise are drawn on the device, as `dgno train` does
    dgen = torch.Generator(device=device).manual_seed(0) if device.type == "cuda" else gen
    a_dev = a_all.float().to(device)
    noise_dim = getattr(model, "noise_dim", 0)

    def step(stepper: TrainStep) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        idx = torch.randint(0, a_all.shape[0], (batch,), generator=gen)
        a = a_dev[idx.to(device)]
        points = layout.sample(dgen, device=device)
        extra = {"noise": torch.randn(batch, noise_dim, generator=dgen, device=device)} if noise_dim else {}
        stepper(a, points, **extra)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    paths = ["shared", "per-sample"]
    if args.graph:
        paths.append("graph")
    if args.compile:
        paths += ["compiled"] + (["compiled+graph"] if args.graph else [])
    times: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    graphed: dict[str, bool] = {}
    for path in paths:  # back to back: all steps of one path, then the next
        stepper = make_step(path)
        first[path] = step(stepper)  # includes compilation and graph capture
        for _ in range(args.warmup):
            step(stepper)
        times[path] = [step(stepper) for _ in range(args.steps if path != "per-sample" else max(5, args.steps // 4))]
        graphed[path] = stepper.graphed
    med = {path: statistics.median(v) for path, v in times.items()}
    return {"paths": paths, "med": med, "first": first, "graphed": graphed, "batch": batch, "model": model,
            "layout": layout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="darcy-pwc", choices=sorted(CONFIGS))
    parser.add_argument("--config", default=None, help="default: the preset's reference-size config")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--compile", action="store_true", help="also time the shared path with torch.compile")
    parser.add_argument("--graph", action="store_true", help="also time steps replayed from a CUDA graph (CUDA only)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    res = measure(args)
    paths, med, first, graphed, batch = res["paths"], res["med"], res["first"], res["graphed"], res["batch"]
    model, layout, device = res["model"], res["layout"], torch.device(args.device)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    result = {
        "shared_s_per_step": med["shared"],
        "per_sample_s_per_step": med["per-sample"],
        "speedup": med["per-sample"] / med["shared"],
        **{f"{p.replace('+', '_').replace('-', '_')}_s_per_step": med[p] for p in paths[2:]},
        "first_step_s": first,
        "captured": {p: graphed[p] for p in paths if p.endswith("graph")},
        "steps": args.steps,
        "threads": args.threads,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "batch": batch,
        "preset": args.preset,
        "points": int(layout.sample(torch.Generator().manual_seed(0)).points.shape[0]),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "commit": git.stdout.strip(),
        "command": f"python benchmarks/step_time.py --preset {args.preset} --steps {args.steps} "
        f"--threads {args.threads} "
        f"--device {args.device}" + (" --compile" if args.compile else "") + (" --graph" if args.graph else ""),
    }
    if args.out:
        write_text(args.out, json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"shared trunk: {result['shared_s_per_step']:.4f} s/step, per-sample: "
              f"{result['per_sample_s_per_step']:.4f} s/step, ratio {result['speedup']:.1f}x"
              + "".join(f", {p} {med[p]:.4f} s/step" for p in paths[2:]) + " "
              +
              f"({result['parameters']:,} parameters, batch {batch}, {result['points']} points)")


if __name__ == "__main__":
    main()
