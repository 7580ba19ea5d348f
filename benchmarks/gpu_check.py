"""GPU check of DGNO training: the same steps on CPU and CUDA must agree.

Builds the reference two-phase model (configs/darcy_pwc.yaml) in float64 with identical weights on
both devices, feeds the same batches and particles, and compares the loss, every gradient and,
after ``--steps`` Adam steps, every parameter (relative max differences). Then repeats the
comparison for float32 CUDA against float64 CPU. Then reports seconds per step on the device for every preset of
benchmarks/step_time.py at its reference-size config (eager, and replayed from a CUDA graph on CUDA; the same
measurement as step_time.py). Writes one JSON object.

    python benchmarks/gpu_check.py [--steps 20] [--timing-steps 100] [--out gpu_check.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dgno.atomic import write_text
from dgno.config.build import build_model, weak_layout
from dgno.config.schema import load_config
from dgno.fields import TwoPhaseField, unit_square_nodes
from dgno.weak import WeakPoints

ROOT = Path(__file__).resolve().parents[1]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double().cpu() - b.double().cpu()).abs().max() / b.double().cpu().abs().max().clamp_min(1e-30))


def run(model, batches, points, device, dtype, lr):
    model = copy.deepcopy(model).to(device, dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, first_grads = [], None
    for a, p in zip(batches, points, strict=True):
        pts = WeakPoints(*(t.to(device, dtype) for t in (p.x, p.v, p.grad_v, p.weights)))
        loss = model.loss(a.to(device, dtype), pts).total
        opt.zero_grad()
        loss.backward()
        if first_grads is None:
            first_grads = {k: v.grad.detach().clone() for k, v in model.named_parameters()}
        opt.step()
        losses.append(loss.detach())
    params = {k: v.detach() for k, v in model.named_parameters()}
    return torch.stack(losses), first_grads, params


def timings(args: argparse.Namespace) -> dict:
    """Median seconds per step of every preset on the device: eager shared trunk and, on CUDA, the CUDA graph."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import step_time

    out = {}
    for preset in step_time.CONFIGS:
        ns = argparse.Namespace(preset=preset, config=None, steps=args.timing_steps, warmup=10, threads=2,
                                device=args.device, compile=False, graph=torch.device(args.device).type == "cuda")
        med = step_time.measure(ns)["med"]
        out[preset] = {path: med[path] for path in med if path != "per-sample"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    parser.add_argument("--device", default="cuda", help="the device to check against the float64 CPU run")
    parser.add_argument("--timing-steps", type=int, default=100, help="steps per path for the timings (0: none)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: CUDA is not available")
    cfg = load_config(ROOT / "configs/darcy_pwc.yaml")
    rng = np.random.default_rng(0)
    a_all = torch.tensor(np.stack([TwoPhaseField().sample(rng).values for _ in range(100)]))
    x = torch.tensor(unit_square_nodes(29))
    torch.manual_seed(0)
    model = build_model(cfg, x_a=x, a_mean=a_all.mean(0), a_std=a_all.std(0)).double()
    with torch.no_grad():  # nonzero output weights, so every parameter gets a gradient at step 1
        for net in [*model.decoders.values(), model.a_decoder]:
            net.w.normal_(0.0, 0.5)
    layout = weak_layout(cfg, model.problem)
    gen = torch.Generator().manual_seed(1)
    batches = [a_all[torch.randint(0, 100, (25,), generator=gen)] for _ in range(args.steps)]
    points = [layout.sample(gen, dtype=torch.float64) for _ in range(args.steps)]
    lr = cfg.train.lr
    ref = run(model, batches, points, torch.device("cpu"), torch.float64, lr)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result = {"device": label, "torch": torch.__version__, "steps": args.steps}
    for name, dtype in ((f"{device.type}_float64", torch.float64), (f"{device.type}_float32", torch.float32)):
        losses, grads, params = run(model, batches, points, device, dtype, lr)
        result[name] = {
            "loss_step1_rel": rel(losses[0], ref[0][0]),
            "loss_last_rel": rel(losses[-1], ref[0][-1]),
            "grad_step1_max_rel": max(rel(grads[k], ref[1][k]) for k in grads),
            "params_after_max_rel": max(rel(params[k], ref[2][k]) for k in params),
            "loss_first_last_cpu": [float(ref[0][0]), float(ref[0][-1])],
            "loss_first_last_gpu": [float(losses[0]), float(losses[-1])],
        }
    if args.timing_steps:
        result["seconds_per_step"] = timings(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
