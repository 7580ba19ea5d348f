"""Inversion benchmark: many in-distribution and out-of-distribution instances, means of every summary
metric, and the calibration of the credible intervals of u (table and reliability plot).

Instances i = 0..n-1 of the test split (and of an OOD split) are observed at --n-obs random interior nodes
with noise at --snr dB (seeded by the instance), inverted --batch at a time, and scored against the truth.

    python benchmarks/inverse.py --run runs/darcy_pwc_90min --data-dir data/darcy-pwc --ood tau6 \
        --method nuts --pde-weight 0 --name darcy_pwc_nuts_w0
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from dgno.evaluate.plots import plot_reliability
from dgno.inverse.calibration import calibrate
from dgno.inverse.observations import draw_at_nodes, sigma_from_snr
from dgno.inverse.run import LEVELS, InverseSettings, Truth, invert
from dgno.reference.dataset import load_h5
from dgno.train.run import check_compatible, load_run

ROOT = Path(__file__).resolve().parents[1]


def run_split(model, cfg, cal, ck, path: Path, n: int, args, settings: InverseSettings) -> list[dict]:
    ds = load_h5(path, require_u=True)
    check_compatible(model, ds, ck, str(path))
    n = min(n, len(ds))
    rows = []
    for start in range(0, n, args.batch):
        idx = list(range(start, min(n, start + args.batch)))
        obs = [draw_at_nodes(ds.x_u, ds.u[i], args.n_obs, sigma_from_snr(ds.u[i], args.snr),
                             np.random.default_rng([args.seed, i]), source=f"{path.name}[{i}]") for i in idx]
        truths = [Truth(ds.a[i], ds.u[i]) for i in idx]
        t0 = time.perf_counter()
        results = invert(model, cfg, cal, obs, truths, settings, preset=ds.attrs.get("preset"))
        wall = time.perf_counter() - t0
        for i, r in zip(idx, results, strict=True):
            rows.append({"split": path.stem, "index": i, "batch_wall_seconds": wall, "batch": len(idx), **r.summary})
        done = rows[-len(idx):]
        print(f"{path.stem} {idx[0]}-{idx[-1]}: {wall:.1f} s, a {np.mean([r['a_rel_l2'] for r in done]):.4f}, "
              f"u {np.mean([r['u_rel_l2'] for r in done]):.4f}, ess_min {min(r['ess_min'] for r in done):.0f}",
              flush=True)
    return rows


def means(rows: list[dict]) -> dict:
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)})
    out = {k: float(np.mean([r[k] for r in rows if isinstance(r.get(k), int | float)])) for k in keys
           if k not in ("index", "batch")}
    out["coverage_u"] = {str(lv): float(np.mean([r["coverage_u"][str(lv)] for r in rows])) for lv in LEVELS}
    out["coverage_u_latent_only"] = {str(lv): float(np.mean([r["coverage_u_latent_only"][str(lv)] for r in rows]))
                                     for lv in LEVELS}
    out["n"] = len(rows)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--ood", default=None, help="OOD split name, e.g. tau6 (test_ood_<name>.h5)")
    p.add_argument("--n-id", type=int, default=20)
    p.add_argument("--n-ood", type=int, default=10)
    p.add_argument("--n-obs", type=int, default=100)
    p.add_argument("--snr", type=float, default=25.0)
    p.add_argument("--method", default="nuts", choices=["nuts", "map"])
    p.add_argument("--pde-weight", type=float, default=1.0)
    p.add_argument("--draws", type=int, default=250, help="per chain (nuts) or in all (map)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--max-tree-depth", type=int, default=8)
    p.add_argument("--batch", type=int, default=10, help="instances inverted together")
    p.add_argument("--physics-check", type=int, default=4)
    p.add_argument("--quadrature", default=None, choices=["grid", "gauss"])
    p.add_argument("--quadrature-n", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", required=True, help="results go to benchmarks/results/inverse_<name>.{json,md,png}")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = InverseSettings(method=args.method, draws=args.draws, warmup=args.warmup, chains=args.chains,
                               seed=args.seed, pde_weight=args.pde_weight, max_tree_depth=args.max_tree_depth,
                               physics_check=args.physics_check, quadrature=args.quadrature,
                               quadrature_n=args.quadrature_n)
    cfg, model, ck = load_run(args.run)
    cal = calibrate(model, cfg, run=args.run, checkpoint="best")
    data = Path(args.data_dir)
    groups = {"test": run_split(model, cfg, cal, ck, data / "test.h5", args.n_id, args, settings)}
    if args.ood:
        groups[f"test_ood_{args.ood}"] = run_split(model, cfg, cal, ck, data / f"test_ood_{args.ood}.h5", args.n_ood,
                                                   args, settings)
    summary = {name: means(rows) for name, rows in groups.items()}
    result = {"command": "python benchmarks/inverse.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
              "run": args.run, "checkpoint_step": ck.get("step"), "settings": vars(settings), "prior": cal.prior.kind,
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__},
              "summary": summary, "instances": [r for rows in groups.values() for r in rows]}
    out = ROOT / "benchmarks/results"
    (out / f"inverse_{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    cols = ["a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "ess_min", "rhat_max",
            "ess_per_second", "model_error_u_mean", "seconds"]
    lines = [f"Inversion, {args.run} (step {ck.get('step')}), {args.n_obs} observations at {args.snr:g} dB, "
             f"{args.method}, pde weight {args.pde_weight:g}, prior {cal.prior.kind}", "",
             "| split | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for name, s in summary.items():
        cells = [f"{s[c]:.4g}" if c in s else "-" for c in cols]
        lines.append(f"| {name} | {s['n']} | " + " | ".join(cells) + " |")
    lines += ["", "Coverage of the equal-tailed credible intervals of u at the unobserved interior nodes "
              "(predictive: with the model's own error; latent only: without)", "",
              "| split | " + " | ".join(f"{lv:g}" for lv in LEVELS) + " |", "|---|" + "---|" * len(LEVELS)]
    for name, s in summary.items():
        lines.append(f"| {name} predictive | " + " | ".join(f"{s['coverage_u'][str(lv)]:.3f}" for lv in LEVELS) + " |")
        lines.append(f"| {name} latent only | "
                     + " | ".join(f"{s['coverage_u_latent_only'][str(lv)]:.3f}" for lv in LEVELS) + " |")
    lines += ["", f"Command: `{result['command']}`"]
    (out / f"inverse_{args.name}.md").write_text("\n".join(lines) + "\n")
    curves = {}
    for name, s in summary.items():
        curves[f"{name} predictive"] = [s["coverage_u"][str(lv)] for lv in LEVELS]
        curves[f"{name} latent only"] = [s["coverage_u_latent_only"][str(lv)] for lv in LEVELS]
    plot_reliability(list(LEVELS), curves, out / f"inverse_{args.name}.png", title=args.name)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
