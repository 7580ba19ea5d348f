"""Seconds per optimiser step at the reference's configuration of a preset.

darcy-pwc (default, configs/darcy_pwc.yaml): encoder 841-512-256-128 (+tanh); u, s1, s2 MultiONets
width 100 x 5 layers, l = 4; a-decoder width 256 x 5; batch 25; 100 particles x 25 quadrature points.
burgers (configs/burgers.yaml): encoder 128-256-128-64-128; u MultiONet on (x, t) width 100 x 6,
l = 5; batch 50; 100 time levels x 1 particle x 10 points. Times the shared-trunk path and the
per-sample path (the trunk evaluated for every sample, as the reference does) back to back in one
process (first all shared steps, then a quarter as many per-sample steps, each after warm-up), and
prints the median of each. Inputs are drawn from the preset's training distribution.

    python benchmarks/step_time.py [--preset burgers] [--steps 30] [--warmup 5] [--threads 2] [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from dgno.config import get_preset
from dgno.config.build import build_model, weak_layout
from dgno.config.schema import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"darcy-pwc": "configs/darcy_pwc.yaml", "burgers": "configs/burgers.yaml"}


def make_inputs(preset_name: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n inputs from the preset's training distribution at its input nodes, and the nodes x_a."""
    rng = np.random.default_rng(seed)
    preset = get_preset(preset_name)
    x_a = preset.x_a()
    field = preset.sampler("train")
    return torch.tensor(np.stack([field.sample(rng)(x_a) for _ in range(n)])), torch.tensor(x_a)


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
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
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
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    gen = torch.Generator().manual_seed(0)
    batch = cfg.train.batch_size

    compiled = torch.compile(model.loss) if args.compile else None

    def step(shared: bool | str) -> float:
        idx = torch.randint(0, a_all.shape[0], (batch,), generator=gen)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a = a_all[idx].float().to(device)
        points = layout.sample(gen, device=device)
        loss = (compiled(a, points) if shared == "compiled" else model.loss(a, points, shared=shared)).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times: dict[bool | str, list[float]] = {}
    paths: list[bool | str] = [True, False] + (["compiled"] if args.compile else [])
    for shared in paths:  # back to back: all steps of one path, then the next
        for _ in range(args.warmup):
            step(shared)
        times[shared] = [step(shared) for _ in range(args.steps if shared else max(5, args.steps // 4))]
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    result = {
        "shared_s_per_step": statistics.median(times[True]),
        "per_sample_s_per_step": statistics.median(times[False]),
        "speedup": statistics.median(times[False]) / statistics.median(times[True]),
        **({"compiled_s_per_step": statistics.median(times["compiled"])} if args.compile else {}),
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
        f"--device {args.device}" + (" --compile" if args.compile else ""),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"shared trunk: {result['shared_s_per_step']:.4f} s/step, per-sample: "
              f"{result['per_sample_s_per_step']:.4f} s/step, ratio {result['speedup']:.1f}x"
              + (f", compiled {result['compiled_s_per_step']:.4f} s/step " if args.compile else " ")
              +
              f"({result['parameters']:,} parameters, batch {batch}, {result['points']} points)")


if __name__ == "__main__":
    main()
