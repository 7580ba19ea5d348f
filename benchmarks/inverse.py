"""Inversion benchmark for any problem: many in-distribution (and out-of-distribution) instances, means of every
summary metric, and the calibration of the credible intervals of u and of a (tables and reliability plot).

Instances i = 0..n-1 of the test split (and of an OOD split) are observed at --n-obs random grid nodes (those no
hard constraint fixes, within the --obs-min/--obs-max window) with noise at --snr dB (seeded by the instance),
inverted --batch at a time, and scored against the truth.

    python benchmarks/inverse.py --run runs/darcy_pwc_90min --data-dir data/darcy-pwc --ood tau6 \
        --method nuts --pde-weight 0 --name darcy_pwc_nuts_w0
    python benchmarks/inverse.py --run runs/burgers_quick --data-dir data/burgers --n-id 20 --n-obs 50 \
        --obs-min t=0.25 --snr 25 --method nuts --name burgers_quick_nuts
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from dgno.atomic import write_text
from dgno.config.build import weak_layout, weak_options
from dgno.config.runs import check_compatible, load_run
from dgno.evaluate.plots import plot_reliability
from dgno.inverse.calibration import calibrate
from dgno.inverse.family import family_prior, stored_parameters
from dgno.inverse.observations import Window, instance_observations
from dgno.inverse.run import LEVELS, InverseSettings, Truth, invert
from dgno.invert_cli import add_posterior_options, parse_bounds, physics_solver, posterior_options
from dgno.reference.dataset import load_h5

ROOT = Path(__file__).resolve().parents[1]


def run_split(model, layout, cal, ck, path: Path, n: int, args, settings: InverseSettings,
              first: int = 0) -> list[dict]:
    ds = load_h5(path, require_u=True)
    check_compatible(model, ds, ck, str(path))
    problem, names = model.problem, model.output_names
    where = Window.from_bounds(problem.domain, parse_bounds(args.obs_min, "--obs-min"),
                               parse_bounds(args.obs_max, "--obs-max"))
    observed = tuple(args.observe.split(",")) if args.observe else names
    if any(n not in names for n in observed):
        raise SystemExit(f"--observe {args.observe}: outputs are {', '.join(names)}")
    resolve = physics_solver(model, ds.attrs.get("preset") or ck.get("data_preset")) if settings.physics_check else None
    n = min(first + n, len(ds))
    rows = []
    for start in range(first, n, args.batch):
        idx = list(range(start, min(n, start + args.batch)))
        obs = [instance_observations(ds, i, problem=problem, n_obs=args.n_obs, snr=args.snr, seed=args.seed,
                                     source=f"{path.name}[{i}]", obs_at=args.obs_at, window=where,
                                     observed=observed, names=names) for i in idx]
        truths = [Truth(ds.a[i], ds.u[i], params=stored_parameters(ds, i)) for i in idx]
        t0 = time.perf_counter()
        results = invert(model, layout, cal, obs, truths, settings, resolve=resolve)
        wall = time.perf_counter() - t0
        for i, r in zip(idx, results, strict=True):  # the posterior mean of a and the phase probabilities are kept
            fields = {k: r.fields[k].tolist() for k in ("a_mean", "phase_prob") if k in r.fields}  # for comparisons
            rows.append({"split": path.stem, "index": i, "batch_wall_seconds": wall, "batch": len(idx),
                         **r.summary, **fields})
        done = rows[-len(idx):]
        print(f"{path.stem} {idx[0]}-{idx[-1]}: {wall:.1f} s, a {np.mean([r['a_rel_l2'] for r in done]):.4f}, "
              f"u {np.mean([r['u_rel_l2'] for r in done]):.4f}, ess_min {min(r['ess_min'] for r in done):.0f}",
              flush=True)
    return rows


def observation_args(args) -> dict:
    """What decides the observations and the prior of every instance (--include checks them)."""
    keys = ("data_dir", "n_obs", "obs_at", "obs_min", "obs_max", "observe", "snr", "seed", "prior", "checkpoint")
    return {k: getattr(args, k) for k in keys}


def included_rows(path: Path, args, settings: InverseSettings) -> list[dict]:
    """The instances of an earlier result of this script (--include): the same run, checkpoint and settings, so that
    a long benchmark can run in parts (--id-start) and be summarised as one."""
    if not path.is_file():
        raise SystemExit(f"--include {path}: no such file")
    d = json.loads(path.read_text())
    ours = json.loads(json.dumps(asdict(settings)))
    # a setting added after that file was written had one behaviour then: its default
    defaults = json.loads(json.dumps(asdict(InverseSettings())))
    theirs = {**{k: v for k, v in defaults.items() if k not in d.get("settings", {})}, **d.get("settings", {})}
    if d.get("run") != args.run or theirs != ours:
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise SystemExit(f"--include {path}: another run or other settings ({d.get('run')}; differs in "
                         f"{', '.join(diff) or 'run'})")
    if d.get("observations") != observation_args(args):
        raise SystemExit(f"--include {path}: other observations ({d.get('observations')}, "
                         f"now {observation_args(args)})")
    return d["instances"]


def _mean_levels(rows: list[dict], key: str) -> dict[str, float] | None:
    if not all(key in r for r in rows):
        return None
    return {str(lv): float(np.mean([r[key][str(lv)] for r in rows])) for lv in LEVELS}


def means(rows: list[dict]) -> dict:
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)})
    out = {k: float(np.mean([r[k] for r in rows if isinstance(r.get(k), int | float)])) for k in keys
           if k not in ("index", "batch")}
    for key in ("coverage_u", "coverage_u_latent_only", "coverage_a", "coverage_a_latent_only"):
        levels = _mean_levels(rows, key)
        if levels is not None:
            out[key] = levels
    params = rows[0].get("parameters", {})
    if params and all("true" in r["parameters"][n] for r in rows for n in params):  # a family prior, truth known
        out["parameters"] = {n: {"abs_error": float(np.mean([r["parameters"][n]["abs_error"] for r in rows])),
                                 "std": float(np.mean([r["parameters"][n]["std"] for r in rows])),
                                 "coverage": {str(lv): float(np.mean([r["parameters"][n]["covered"][str(lv)]
                                                                      for r in rows])) for lv in LEVELS}}
                             for n in params}
    names = rows[0].get("outputs_rel_l2", {})
    if len(names) > 1:
        out["outputs_rel_l2"] = {n: float(np.mean([r["outputs_rel_l2"][n] for r in rows])) for n in names}
    out["n"] = len(rows)
    return out


def markdown(result: dict, args, ck: dict, prior: str) -> list[str]:
    summary = result["summary"]
    window = ", ".join([i.replace("=", " >= ") for i in args.obs_min] + [i.replace("=", " <= ") for i in args.obs_max])
    cols = ["a_rel_l2", "u_rel_l2", "u_rel_l2_predictive", "phase_error_rate",
            "coverage90_u", "coverage95_u", "coverage90_a", "ess_min",
            "rhat_max", "ess_per_second", "model_error_u_mean", "seconds"]
    cols = [c for c in cols if any(c in s for s in summary.values())]
    lines = [f"Inversion, {args.run} (step {ck.get('step')}), {args.n_obs} observations at {args.snr:g} dB"
             f"{' where ' + window if window else ''}, {args.method}, pde weight {args.pde_weight:g} "
             f"(T {args.pde_temperature:g}), prior {prior}, model error {args.model_error}",
             "", "| split | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for name, s in summary.items():
        cells = [f"{s[c]:.4g}" if c in s else "-" for c in cols]
        lines.append(f"| {name} | {s['n']} | " + " | ".join(cells) + " |")
    for what, where in (("u", "at the unobserved nodes that no constraint fixes"),
                        ("a", "at the input nodes that no constraint fixes (continuous inputs)")):
        if not any(f"coverage_{what}" in s for s in summary.values()):
            continue
        lines += ["", f"Coverage of the equal-tailed credible intervals of {what} {where} (predictive: with the "
                  "model's own validation error; latent only: without)", "",
                  "| split | " + " | ".join(f"{lv:g}" for lv in LEVELS) + " |", "|---|" + "---|" * len(LEVELS)]
        for name, s in summary.items():
            for label, key in (("predictive", f"coverage_{what}"), ("latent only", f"coverage_{what}_latent_only")):
                if key in s:
                    lines.append(f"| {name} {label} | " + " | ".join(f"{s[key][str(lv)]:.3f}" for lv in LEVELS) + " |")
    if any("parameters" in s for s in summary.values()):
        lines += ["", "The input family's parameters: mean absolute error of the posterior mean, mean posterior std, "
                  "and coverage of the truth by the equal-tailed intervals", "",
                  "| split | parameter | abs. error | std | " + " | ".join(f"{lv:g}" for lv in LEVELS) + " |",
                  "|---|---|---|---|" + "---|" * len(LEVELS)]
        for name, s in summary.items():
            for n, e in s.get("parameters", {}).items():
                lines.append(f"| {name} | {n} | {e['abs_error']:.4f} | {e['std']:.4f} | "
                             + " | ".join(f"{e['coverage'][str(lv)]:.2f}" for lv in LEVELS) + " |")
    lines += ["", f"Command: `{result['command']}`"]
    return lines


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder written by 'dgno train'")
    p.add_argument("--data-dir", required=True, help="folder with test.h5 (and test_ood_<name>.h5)")
    p.add_argument("--calibration-data", default=None, help="folder with the run's train/val (default --data-dir)")
    p.add_argument("--ood", default=None, help="OOD split name, e.g. tau6 (test_ood_<name>.h5)")
    p.add_argument("--id-start", type=int, default=0, help="first test instance (a benchmark run in parts)")
    p.add_argument("--include", nargs="+", action="extend", default=[], metavar="JSON",
                   help="add the instances of earlier results of this script (same run and settings) to the summary")
    p.add_argument("--n-id", type=int, default=20)
    p.add_argument("--n-ood", type=int, default=10)
    p.add_argument("--n-obs", type=int, default=100)
    p.add_argument("--obs-at", default="nodes", choices=["nodes", "points"])
    p.add_argument("--obs-min", action="append", default=[], metavar="AXIS=VALUE", help="e.g. t=0.25 (repeatable)")
    p.add_argument("--obs-max", action="append", default=[], metavar="AXIS=VALUE")
    p.add_argument("--observe", default=None, help="observed outputs, comma separated (default: all), e.g. u,v")
    p.add_argument("--snr", type=float, default=25.0)
    p.add_argument("--method", default="nuts", choices=["nuts", "map"])
    p.add_argument("--prior", default=None, choices=["fitted", "standard", "box", "family"],
                   help="as dgno invert --prior (family: on the parameters of the preset's input family)")
    p.add_argument("--pde-weight", type=float, default=1.0)
    p.add_argument("--pde-temperature", type=float, default=1.0, help="as dgno invert --pde-temperature")
    p.add_argument("--model-error", default="independent", choices=["independent", "correlated", "off"],
                   help="as dgno invert --model-error")
    p.add_argument("--draws", type=int, default=250, help="per chain (nuts) or in all (map)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--chains", type=int, default=2)
    add_posterior_options(p)
    p.add_argument("--max-tree-depth", type=int, default=8)
    p.add_argument("--batch", type=int, default=10, help="instances inverted together")
    p.add_argument("--physics-check", type=int, default=4)
    p.add_argument("--quadrature", default=None, choices=["grid", "gauss"])
    p.add_argument("--quadrature-n", type=int, default=None)
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", required=True, help="results go to <results-dir>/inverse_<name>.{json,md,png}")
    p.add_argument("--results-dir", default=str(ROOT / "benchmarks/results"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = InverseSettings(method=args.method, draws=args.draws, warmup=args.warmup, chains=args.chains,
                               seed=args.seed, pde_weight=args.pde_weight, max_tree_depth=args.max_tree_depth,
                               pde_temperature=args.pde_temperature,
                               model_error=args.model_error, physics_check=args.physics_check,
                               quadrature=args.quadrature, quadrature_n=args.quadrature_n, **posterior_options(args))
    cfg, model, ck = load_run(args.run, checkpoint=args.checkpoint)
    data = Path(args.data_dir)
    family = args.prior == "family"
    cal = calibrate(model, run=args.run, checkpoint=args.checkpoint, data_dir=args.calibration_data or data,
                    prior=None if family else args.prior, latent_fit=settings.model_error_from == "latent")
    if family:
        cal = replace(cal, prior=family_prior(cfg.data.preset or ck.get("data_preset"), model))
    options = weak_options(cfg)
    options = replace(options, quadrature=args.quadrature or options.quadrature,
                      quadrature_n=args.quadrature_n or options.quadrature_n)
    layout = weak_layout(cfg, model.problem, options=options)
    groups = {"test": run_split(model, layout, cal, ck, data / "test.h5", args.n_id, args, settings, args.id_start)}
    if args.ood:
        groups[f"test_ood_{args.ood}"] = run_split(model, layout, cal, ck, data / f"test_ood_{args.ood}.h5",
                                                   args.n_ood, args, settings)
    for path in args.include:
        for r in included_rows(Path(path), args, settings):
            groups.setdefault(r["split"], []).append(r)
    for rows in groups.values():
        rows.sort(key=lambda r: r["index"])
    summary = {name: means(rows) for name, rows in groups.items()}
    command = "python benchmarks/inverse.py " + " ".join(
        f"--{k.replace('_', '-')} {w}" for k, v in vars(args).items() if k != "results_dir" and v not in (None, [])
        for w in (v if isinstance(v, list) else [v]))
    result = {"command": command, "run": args.run, "checkpoint_step": ck.get("step"), "settings": asdict(settings),
              "observations": observation_args(args),
              "prior": cal.prior.kind, "outputs": list(model.output_names),
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__},
              "summary": summary, "instances": [r for rows in groups.values() for r in rows]}
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"inverse_{args.name}.json", json.dumps(result, indent=2) + "\n")
    lines = markdown(result, args, ck, cal.prior.kind)
    write_text(out / f"inverse_{args.name}.md", "\n".join(lines) + "\n")
    curves = {}
    for name, s in summary.items():
        for what in ("u", "a"):
            for label, key in (("predictive", f"coverage_{what}"), ("latent only", f"coverage_{what}_latent_only")):
                if key in s:
                    curves[f"{name} {what} {label}"] = [s[key][str(lv)] for lv in LEVELS]
    plot_reliability(list(LEVELS), curves, out / f"inverse_{args.name}.png", title=args.name)
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
