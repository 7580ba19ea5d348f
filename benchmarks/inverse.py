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
from pathlib import Path

import numpy as np
import torch

import dgno
from dgno.atomic import write_text
from dgno.config.runs import check_compatible
from dgno.evaluate.plots import plot_reliability
from dgno.inverse.run import LEVELS
from dgno.inversion import (
    InversionSettings,
    Truth,
    Window,
    instance_observations,
    inverter,
    stored_parameters,
)
from dgno.invert_cli import add_settings_arguments, given_settings, parse_bounds
from dgno.reference.dataset import load_h5

ROOT = Path(__file__).resolve().parents[1]


def run_split(inv, path: Path, n: int, args, settings: InversionSettings, first: int = 0) -> list[dict]:
    op = inv.op
    ds = load_h5(path, require_u=True)
    check_compatible(op.model, ds, {"data_preset": op.preset}, str(path))
    problem, names = op.problem, op.output_names
    where = Window.from_bounds(problem.domain, parse_bounds(args.obs_min, "--obs-min"),
                               parse_bounds(args.obs_max, "--obs-max"))
    observed = tuple(args.observe.split(",")) if args.observe else names
    if any(n not in names for n in observed):
        raise SystemExit(f"--observe {args.observe}: outputs are {', '.join(names)}")
    n = min(first + n, len(ds))
    rows = []
    for start in range(first, n, args.batch):
        idx = list(range(start, min(n, start + args.batch)))
        obs = [instance_observations(ds, i, problem=problem, n_obs=args.n_obs, snr=args.snr, seed=obs_seed(args),
                                     source=f"{path.name}[{i}]", obs_at=args.obs_at, window=where,
                                     observed=observed, names=names) for i in idx]
        truths = [Truth(ds.a[i], ds.u[i], params=stored_parameters(ds, i)) for i in idx]
        t0 = time.perf_counter()
        results = inv.invert(obs, truths, settings, preset=ds.attrs.get("preset") or op.preset)
        wall = time.perf_counter() - t0
        for i, res in zip(idx, results, strict=True):  # the posterior mean of a and the phase probabilities are
            r = res.instance                            # kept for comparisons
            fields = {k: r.fields[k].tolist() for k in ("a_mean", "phase_prob") if k in r.fields}
            summary = {k: v for k, v in r.summary.items() if k not in ("settings", "run", "checkpoint", "step")}
            rows.append({"split": path.stem, "index": i, **summary, "batch_wall_seconds": wall, "batch": len(idx),
                         **fields})
        done = rows[-len(idx):]
        ess = [r["ess_bulk_min"] for r in done if "ess_bulk_min" in r]
        print(f"{path.stem} {idx[0]}-{idx[-1]}: {wall:.1f} s, a {np.mean([r['a_rel_l2'] for r in done]):.4f}, "
              f"u {np.mean([r['u_rel_l2'] for r in done]):.4f}" + (f", ess_bulk_min {min(ess):.0f}" if ess else ""),
              flush=True)
    return rows


def obs_seed(args) -> int:
    """The observations' seed (the sampler's --seed, 0 when not given)."""
    return args.seed if args.seed is not None else 0


def observation_args(args) -> dict:
    """What decides the observations and the prior of every instance (--include checks them)."""
    keys = ("data_dir", "n_obs", "obs_at", "obs_min", "obs_max", "observe", "snr", "prior", "checkpoint")
    return {**{k: getattr(args, k) for k in keys}, "seed": obs_seed(args)}


def included_rows(path: Path, args, settings: InversionSettings) -> list[dict]:
    """The instances of an earlier result of this script (--include): the same run, checkpoint and settings, so that
    a long benchmark can run in parts (--id-start) and be summarised as one."""
    if not path.is_file():
        raise SystemExit(f"--include {path}: no such file")
    d = json.loads(path.read_text())
    ours = json.loads(json.dumps(settings.as_dict()))
    # a setting added after that file was written had one behaviour then: its default
    defaults = json.loads(json.dumps(InversionSettings(method=settings.method).as_dict()))
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


def markdown(result: dict, args, settings: InversionSettings, step, prior: str) -> list[str]:
    summary = result["summary"]
    window = ", ".join([i.replace("=", " >= ") for i in args.obs_min] + [i.replace("=", " <= ") for i in args.obs_max])
    cols = ["a_rel_l2", "u_rel_l2", "u_rel_l2_predictive", "phase_error_rate",
            "coverage90_u", "coverage95_u", "coverage90_a", "ess_bulk_min",
            "rhat_max", "ess_bulk_per_second", "model_error_u_mean", "seconds"]
    cols = [c for c in cols if any(c in s for s in summary.values())]
    lines = [f"Inversion, {args.run} (step {step}), {args.n_obs} observations at {args.snr:g} dB"
             f"{' where ' + window if window else ''}, {settings.method}, pde weight {settings.pde_weight:g} "
             f"(T {settings.pde_temperature:g}), prior {prior}, model error {settings.model_error}",
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
    p.add_argument("--split", default="test", help="the in-distribution split: test, or val to choose settings")
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
    p.add_argument("--batch", type=int, default=10, help="instances inverted together")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--threads", type=int, default=2)
    add_settings_arguments(p)  # the posterior's flags, as dgno invert's (the preset's measured defaults)
    p.add_argument("--name", required=True, help="results go to <results-dir>/inverse_<name>.{json,md,png}")
    p.add_argument("--results-dir", default=str(ROOT / "benchmarks/results"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    op = dgno.load(args.run, checkpoint=args.checkpoint)
    inv = inverter(op, calibration_data=args.calibration_data or args.data_dir)
    settings = inv.settings(**given_settings(args))
    data = Path(args.data_dir)
    groups = {args.split: run_split(inv, data / f"{args.split}.h5", args.n_id, args, settings, args.id_start)}
    if args.ood:
        groups[f"test_ood_{args.ood}"] = run_split(inv, data / f"test_ood_{args.ood}.h5", args.n_ood, args, settings)
    prior = inv.calibration(settings).prior.kind
    for path in args.include:
        for r in included_rows(Path(path), args, settings):
            groups.setdefault(r["split"], []).append(r)
    for rows in groups.values():
        rows.sort(key=lambda r: r["index"])
    summary = {name: means(rows) for name, rows in groups.items()}
    command = "python benchmarks/inverse.py " + " ".join(
        f"--{k.replace('_', '-')} {w}" for k, v in vars(args).items() if k != "results_dir" and v not in (None, [])
        for w in (v if isinstance(v, list) else [v]))
    result = {"command": command, "run": args.run, "checkpoint_step": op.step, "settings": settings.as_dict(),
              "observations": observation_args(args),
              "prior": prior, "outputs": list(op.output_names),
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                          "torch": torch.__version__},
              "summary": summary, "instances": [r for rows in groups.values() for r in rows]}
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"inverse_{args.name}.json", json.dumps(result, indent=2) + "\n")
    lines = markdown(result, args, settings, op.step, prior)
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
