"""Reference posteriors of many test instances, and DGNO's posterior against them.

Instances i = 0..n-1 of the test split are observed exactly as benchmarks/inverse.py observes them (the same nodes,
noise and seeds: :func:`dgno.inverse.observations.instance_observations`), and their posterior is computed with the
preset's own prior and finite-difference solver (:mod:`dgno.exact.darcy`: pCN for darcy-pwc, NUTS for
darcy-trig), each run until R-hat <= 1.05 and ESS >= 200 for the posterior mean of a at every node or --max-minutes.

    python benchmarks/reference_posterior.py --preset darcy-pwc --n 20 --name darcy_pwc \\
        --dgno benchmarks/results/inverse_darcy_pwc_nuts_w0.json
    python benchmarks/reference_posterior.py --preset darcy-trig --n 20 --name darcy_trig

Writes benchmarks/results/reference_<name>.json (per instance and mean), .md (tables) and .h5 (per instance: the
posterior mean, std and intervals of a and u, the phase probabilities, R-hat and ESS per node, the truth and the
observed nodes), updated after every instance. With --dgno (the JSON of benchmarks/inverse.py on the same split,
--n-obs, --snr and --seed) also the side-by-side comparison: the error of each posterior mean against the truth and
the ratio DGNO / reference, the Brier score of the phase probabilities, the coverage of the intervals of u and a,
the wall time of each and the speed ratio, with a reliability plot of phase probability against observed frequency
(reference_<name>_reliability.png) and the coverage of both (reference_<name>_coverage.png).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import torch

from dgno.atomic import atomic_path, write_text
from dgno.exact.darcy import (
    PRESETS,
    ReferenceSettings,
    brier_score,
    check_preset,
    json_default,
    phase_coverage,
    reference_posterior,
)
from dgno.inverse.family import stored_parameters
from dgno.inverse.observations import instance_observations
from dgno.inverse.run import LEVELS, Truth
from dgno.pdes import Darcy
from dgno.reference.dataset import load_h5

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("a_mean", "a_std", "u_mean", "u_std", "phase_prob", "a_intervals", "u_intervals", "rhat_a", "ess_a")


def _inverse_benchmark():
    """benchmarks/inverse.py as a module (its means over instances)."""
    spec = importlib.util.spec_from_file_location("dgno_benchmark_inverse", ROOT / "benchmarks" / "inverse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scalar_row(summary: dict) -> dict:
    """A summary without its long lists (the per-check history stays, it is short)."""
    return {k: v for k, v in summary.items() if k not in ("per_chain",)}


def write_fields(path: Path, results: list[tuple[int, object]], attrs: dict) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h:
        h.attrs["info"] = json.dumps(attrs, default=str)
        for i, r in results:
            g = h.create_group(f"test/{i}")
            for k in FIELDS:
                if k in r.fields:
                    g.create_dataset(k, data=r.fields[k])
            g.create_dataset("true_a", data=r.truth.a)
            g.create_dataset("true_u", data=r.truth.u)
            g.create_dataset("obs_nodes", data=r.obs.nodes)
            g.create_dataset("obs_y", data=r.obs.y[:, 0])


def read_previous(json_path: Path, h5_path: Path, args) -> tuple[list[dict], dict[int, object]]:
    """The instances an earlier run of the same name finished: their rows and stored fields (for --resume).

    Only a run with the same preset, observations (--n-obs, --snr, --seed) and sampler settings is reused; anything
    else is a different posterior and stops with the setting that differs."""
    if not json_path.exists() or not h5_path.exists():
        return [], {}
    old = json.loads(json_path.read_text())
    same = ("preset", "data_dir", "n_obs", "snr", "seed", "chains", "refine", "max_minutes", "rhat_max", "ess_min")
    for k in same:
        if old.get("args", {}).get(k) != getattr(args, k):
            raise SystemExit(f"{json_path}: --resume needs the same --{k.replace('_', '-')} as the earlier run "
                             f"({old.get('args', {}).get(k)!r}, now {getattr(args, k)!r}); pick another --name")
    stored: dict[int, object] = {}
    with h5py.File(h5_path, "r") as h:
        for key, g in h.get("test", {}).items():
            fields = {k: g[k][()] for k in FIELDS if k in g}
            truth = SimpleNamespace(a=g["true_a"][()], u=g["true_u"][()])
            obs = SimpleNamespace(nodes=g["obs_nodes"][()], y=g["obs_y"][()][:, None])
            stored[int(key)] = SimpleNamespace(fields=fields, truth=truth, obs=obs)
    rows = [r for r in old.get("instances", []) if r["index"] in stored]
    return rows, {r["index"]: stored[r["index"]] for r in rows}


# ------------------------------------------------------------------------------------------------ comparison
def _dgno_rows(path: Path, args, rows: list[dict]) -> dict[int, dict]:
    """DGNO's per-instance rows of the test split, checked to have seen the same observations."""
    d = json.loads(Path(path).read_text())
    seed = d.get("observations", {}).get("seed", d.get("settings", {}).get("seed"))
    if seed != args.seed:
        raise SystemExit(f"{path}: DGNO's observations were drawn with --seed {seed}, these with {args.seed}")
    out = {r["index"]: r for r in d["instances"] if r.get("split") == "test"}
    for r in rows:
        g = out.get(r["index"])
        if g is None:
            continue
        if g["n_obs"] != r["n_obs"] or not np.isclose(g["sigma"], r["sigma"], rtol=1e-9):
            raise SystemExit(f"{path}: instance {r['index']} has {g['n_obs']} observations with sigma "
                             f"{g['sigma']:.6g}, the reference {r['n_obs']} with {r['sigma']:.6g}: not the same "
                             "observations "
                             "(--n-obs, --snr)")
    return out


def _dgno_phase(row: dict) -> np.ndarray | None:
    """DGNO's phase probabilities of one instance, when benchmarks/inverse.py kept them."""
    for holder in (row, row.get("fields", {})):
        if "phase_prob" in holder:
            return np.asarray(holder["phase_prob"], dtype=float)
    return None


def reliability(probs: list[np.ndarray], truths: list[np.ndarray], bins: int = 10) -> dict:
    """Observed frequency of the high phase against the predicted probability, pooled over instances and nodes."""
    p = np.concatenate([x.reshape(-1) for x in probs])
    t = np.concatenate([x.reshape(-1) for x in truths]).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=bins) / count
        freq = np.bincount(which, weights=t, minlength=bins) / count
    # Murphy's decomposition over the bins: Brier = reliability - resolution + uncertainty (+ the spread of the
    # predictions within each bin): reliability is what a recalibration p -> f(p) could remove at most, resolution
    # how far the bins' frequencies move from the base rate (sharper and right is higher)
    ok = count > 0
    base = float(t.mean())
    rel = float(np.sum(count[ok] * (mean_p[ok] - freq[ok]) ** 2) / p.size)
    res = float(np.sum(count[ok] * (freq[ok] - base) ** 2) / p.size)
    return {"edges": edges.tolist(), "count": count.tolist(), "mean_prob": mean_p.tolist(), "frequency": freq.tolist(),
            "brier": float(np.mean((p - t) ** 2)), "reliability": rel, "resolution": res,
            "uncertainty": base * (1 - base)}


def plot_phase_reliability(curves: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9.5, 4.2))
    ax[0].plot([0, 1], [0, 1], "k--", lw=0.8, label="ideal")
    for (name, c), marker in zip(curves.items(), "os^", strict=False):
        ok = np.asarray(c["count"]) > 0
        ax[0].plot(np.asarray(c["mean_prob"])[ok], np.asarray(c["frequency"])[ok], marker + "-",
                   label=f"{name} (Brier {c['brier']:.4f})")
        centres = (np.asarray(c["edges"][1:]) + np.asarray(c["edges"][:-1])) / 2
        ax[1].semilogy(centres, np.maximum(c["count"], 0.5), marker + "-", label=name)
    ax[0].set_xlabel("predicted P(high phase)")
    ax[0].set_ylabel("observed frequency of the high phase")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("predicted P(high phase)")
    ax[1].set_ylabel("nodes")
    ax[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def compare(rows: list[dict], truths: dict[int, np.ndarray], probs: dict[int, np.ndarray], dgno: dict[int, dict],
            preset) -> dict:
    """Per instance and in the mean: errors, their ratio, Brier scores, coverage of u and a, seconds, speed ratio."""
    field = preset.field
    two_phase = hasattr(field, "a_hi")
    per = []
    rel_curves = {"reference": ([], []), "DGNO": ([], [])}
    for r in rows:
        i = r["index"]
        g = dgno.get(i)
        if g is None:
            continue
        e = {"index": i}
        for k in ("a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "seconds"):
            e[f"{k}_dgno"], e[f"{k}_reference"] = g.get(k), r.get(k)
        for k in ("a_rel_l2", "u_rel_l2"):
            if e[f"{k}_dgno"] is not None:
                e[f"{k}_ratio"] = e[f"{k}_dgno"] / e[f"{k}_reference"]
        e["speed_ratio"] = r["seconds"] / g["seconds"]  # reference seconds per DGNO second
        e["coverage_u_dgno"], e["coverage_u_reference"] = g.get("coverage_u"), r.get("coverage_u")
        e["coverage_u_latent_only_dgno"] = g.get("coverage_u_latent_only")
        if two_phase:
            high = truths[i] > (field.a_lo + field.a_hi) / 2
            e["brier_reference"] = r.get("brier_score")
            e["coverage_a_reference"] = r.get("coverage_a_phase")
            rel_curves["reference"][0].append(probs[i])
            rel_curves["reference"][1].append(high)
            p = _dgno_phase(g)
            if p is not None:
                p = p.reshape(high.shape)
                e["brier_dgno"] = brier_score(p, high)
                e["coverage_a_dgno"] = {str(k): v for k, v in phase_coverage(p, high).items()}
                rel_curves["DGNO"][0].append(p)
                rel_curves["DGNO"][1].append(high)
        else:
            e["coverage_a_reference"], e["coverage_a_dgno"] = r.get("coverage_a"), g.get("coverage_a")
        per.append(e)
    mean = {}
    for k in sorted({k for e in per for k, v in e.items() if isinstance(v, int | float) and k != "index"}):
        vals = [e[k] for e in per if isinstance(e.get(k), int | float)]
        mean[k] = float(np.mean(vals)) if vals else None
        mean[f"{k}_n"] = len(vals)
    for k in ("coverage_u_dgno", "coverage_u_reference", "coverage_u_latent_only_dgno", "coverage_a_dgno",
              "coverage_a_reference"):
        have = [e[k] for e in per if e.get(k)]
        if have:
            mean[k] = {str(lv): float(np.mean([c[str(lv)] for c in have])) for lv in LEVELS}
    curves = {name: reliability(p, t) for name, (p, t) in rel_curves.items() if p}
    return {"instances": per, "mean": mean, "reliability": curves, "n": len(per)}


def _f(v, fmt: str = ".4g") -> str:
    return "-" if v is None else format(v, fmt)


def comparison_markdown(cmp: dict, two_phase: bool) -> list[str]:
    m = cmp["mean"]
    header = (["instance", "a rel L2 DGNO", "ref.", "ratio", "u rel L2 DGNO", "ref.", "ratio"]
              + (["phase err. DGNO", "ref.", "Brier DGNO", "ref."] if two_phase else [])
              + ["cov. 90 u DGNO", "ref.", "s DGNO", "s ref.", "ref. / DGNO time"])
    lines = ["", f"## DGNO against the reference ({cmp['n']} instances, the same observations)", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in [*cmp["instances"], {**m, "index": "mean"}]:
        cells = [str(e["index"]), _f(e.get("a_rel_l2_dgno")), _f(e.get("a_rel_l2_reference")),
                 _f(e.get("a_rel_l2_ratio"), ".3g"), _f(e.get("u_rel_l2_dgno")), _f(e.get("u_rel_l2_reference")),
                 _f(e.get("u_rel_l2_ratio"), ".3g")]
        if two_phase:
            cells += [_f(e.get("phase_error_rate_dgno")), _f(e.get("phase_error_rate_reference")),
                      _f(e.get("brier_dgno")), _f(e.get("brier_reference"))]
        cells += [_f(e.get("coverage90_u_dgno"), ".3f"), _f(e.get("coverage90_u_reference"), ".3f"),
                  _f(e.get("seconds_dgno"), ".3g"), _f(e.get("seconds_reference"), ".3g"),
                  _f(e.get("speed_ratio"), ".3g")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean coverage of the equal-tailed intervals (u: unobserved interior nodes; a: every node"
              + (", from the phase probabilities" if two_phase else "") + ")", "",
              "| method | " + " | ".join(f"{lv:g}" for lv in LEVELS) + " |", "|---|" + "---|" * len(LEVELS)]
    for label, key in (("u, reference", "coverage_u_reference"), ("u, DGNO predictive", "coverage_u_dgno"),
                       ("u, DGNO latent only", "coverage_u_latent_only_dgno"), ("a, reference", "coverage_a_reference"),
                       ("a, DGNO", "coverage_a_dgno")):
        if key in m:
            lines.append(f"| {label} | " + " | ".join(f"{m[key][str(lv)]:.3f}" for lv in LEVELS) + " |")
    if two_phase and m.get("brier_dgno_n", 0) < cmp["n"]:
        lines += ["", "DGNO's phase probabilities are missing from its JSON for some instances: benchmarks/inverse.py "
                  "must keep `phase_prob` per instance for its Brier score, reliability and coverage of a."]
    for name, c in cmp["reliability"].items():
        lines += ["", f"Reliability, {name}: predicted P(high) per bin / observed frequency / nodes: "
                  + ", ".join(f"{p:.2f}/{f:.2f}/{n}" for p, f, n in zip(c["mean_prob"], c["frequency"], c["count"],
                                                                       strict=True) if n)]
        if "reliability" in c:
            lines.append(f"Brier {c['brier']:.4f} = reliability {c['reliability']:.4f} - resolution "
                         f"{c['resolution']:.4f} + uncertainty {c['uncertainty']:.4f} + within-bin "
                         f"{c['brier'] - c['reliability'] + c['resolution'] - c['uncertainty']:.4f}")
    return lines


# ------------------------------------------------------------------------------------------------------ main
def markdown(result: dict) -> list[str]:
    s, a = result["summary"], result["args"]
    lines = [f"Reference posterior, {a['preset']} ({result['sampler']}), {a['n_obs']} observations at {a['snr']:g} dB, "
             f"seed {a['seed']}, {a['chains']} chains, solver refine {result['refine']}; stop at R-hat <= "
             f"{a['rhat_max']} and ESS >= {a['ess_min']:g} for a at every node, or {a['max_minutes']:g} min",
             "", "| instance | converged | a rel L2 | u rel L2 | phase err. | Brier | cov. 90 u | cov. 90 a | "
             "R-hat max | ESS min | acceptance | s |", "|---|" + "---|" * 11]
    for r in result["instances"]:
        lines.append(f"| {r['index']} | {'yes' if r['converged'] else 'NO'} | {_f(r.get('a_rel_l2'))} | "
                     f"{_f(r.get('u_rel_l2'))} | {_f(r.get('phase_error_rate'))} | {_f(r.get('brier_score'))} | "
                     f"{_f(r.get('coverage90_u'), '.3f')} | {_f(r.get('coverage90_a'), '.3f')} | "
                     f"{_f(r.get('rhat_max'), '.4f')} | {_f(r.get('ess_bulk_min', r.get('ess_min')), '.0f')} | "
                     f"{_f(r.get('acceptance_rate'), '.3f')} | {_f(r.get('seconds'), '.1f')} |")
    lines.append(f"| mean ({s['n']}) | {s['converged_fraction']:.2f} | {_f(s.get('a_rel_l2'))} | "
                 f"{_f(s.get('u_rel_l2'))} | {_f(s.get('phase_error_rate'))} | {_f(s.get('brier_score'))} | "
                 f"{_f(s.get('coverage90_u'), '.3f')} | {_f(s.get('coverage90_a'), '.3f')} | "
                 f"{_f(s.get('rhat_max'), '.4f')} | {_f(s.get('ess_bulk_min', s.get('ess_min')), '.0f')} | "
                 f"{_f(s.get('acceptance_rate'), '.3f')} | {_f(s.get('seconds'), '.1f')} |")
    lines += ["", "Coverage of the equal-tailed intervals (u: unobserved interior nodes; a: every node)", "",
              "| | " + " | ".join(f"{lv:g}" for lv in LEVELS) + " |", "|---|" + "---|" * len(LEVELS)]
    for key in ("coverage_u", "coverage_a"):
        if key in s:
            lines.append(f"| {key[-1]} | " + " | ".join(f"{s[key][str(lv)]:.3f}" for lv in LEVELS) + " |")
    if "comparison" in result:
        lines += comparison_markdown(result["comparison"], result["two_phase"])
    lines += ["", f"Command: `{result['command']}`"]
    return lines


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True, choices=PRESETS)
    p.add_argument("--data-dir", default=None, help="folder with test.h5 (default data/<preset>)")
    p.add_argument("--n", type=int, default=20, help="test instances 0..n-1")
    p.add_argument("--start", type=int, default=0, help="first instance")
    p.add_argument("--n-obs", type=int, default=100)
    p.add_argument("--snr", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0, help="the observations' seed (benchmarks/inverse.py --seed)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--refine", type=int, default=None, help="solver grid refinement (default: the preset's)")
    p.add_argument("--max-minutes", type=float, default=30.0, help="wall-clock cap per instance")
    p.add_argument("--rhat-max", type=float, default=1.05)
    p.add_argument("--ess-min", type=float, default=200.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dgno", default=None, help="benchmarks/inverse.py's JSON on the same instances and observations")
    p.add_argument("--name", required=True, help="results go to <results-dir>/reference_<name>.{json,md,h5}")
    p.add_argument("--results-dir", default=str(ROOT / "benchmarks/results"))
    p.add_argument("--resume", action="store_true",
                   help="keep the instances an earlier run of this --name finished (same observations and settings) "
                        "and compute only the others; with --dgno, adds DGNO's side to a finished reference run")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    preset = check_preset(args.preset)
    data = Path(args.data_dir or ROOT / "data" / args.preset) / "test.h5"
    ds = load_h5(data, require_u=True)
    if ds.attrs.get("preset") not in (None, args.preset):
        raise SystemExit(f"{data}: a {ds.attrs.get('preset')} file, not {args.preset}")
    problem = Darcy(source=preset.source)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/reference_posterior.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
        if k not in ("results_dir", "resume") and v not in (None, False))
    two_phase = hasattr(preset.field, "a_hi")
    stop = range(args.start, min(args.start + args.n, len(ds)))
    rows, results = [], []
    done: dict[int, object] = {}
    if args.resume:
        old_rows, done = read_previous(out / f"reference_{args.name}.json", out / f"reference_{args.name}.h5", args)
        old_rows = {r["index"]: r for r in old_rows}
    result: dict = {}
    means = _inverse_benchmark().means
    for i in stop:
        settings = ReferenceSettings(chains=args.chains, seed=args.seed * 10007 + i, refine=args.refine,
                                     max_seconds=60 * args.max_minutes, rhat_max=args.rhat_max, ess_min=args.ess_min)
        if i in done:
            rows.append(old_rows[i])
            results.append((i, done[i]))
            print(f"test {i}: kept from the earlier run ({old_rows[i]['wall_seconds']:.1f} s)", flush=True)
        else:
            obs = instance_observations(ds, i, problem=problem, n_obs=args.n_obs, snr=args.snr, seed=args.seed,
                                        source=f"{data.name}[{i}]")
            truth = Truth(ds.a[i], ds.u[i], f"{data.name}[{i}]", stored_parameters(ds, i))
            progress = None if args.quiet else (lambda line, i=i: print(f"  [{i}] {line}", flush=True))
            t0 = time.perf_counter()
            r = reference_posterior(preset, obs, truth, settings, progress=progress)
            wall = time.perf_counter() - t0
            rows.append({"split": "test", "index": i, "wall_seconds": wall, **_scalar_row(r.summary)})
            results.append((i, r))
            s = r.summary
            print(f"test {i}: {'converged' if s['converged'] else 'NOT converged'} in {wall:.1f} s, "
                  f"R-hat {s['rhat_max']:.3f}, ESS {s['ess_bulk_min']:.0f}, a {s['a_rel_l2']:.4f}, "
                  f"u {s['u_rel_l2']:.4f}"
                  + (f", phase error {s['phase_error_rate']:.4f}, Brier {s['brier_score']:.4f}" if two_phase else ""),
                  flush=True)
        s = rows[-1]
        summary = means(rows)
        summary["converged_fraction"] = float(np.mean([r_["converged"] for r_ in rows]))
        summary["coverage_a_phase"] = ({str(lv): float(np.mean([r_["coverage_a_phase"][str(lv)] for r_ in rows]))
                                        for lv in LEVELS} if two_phase else None)
        result = {"command": command, "args": vars(args), "preset": args.preset, "data": str(data),
                  "sampler": s["method"], "refine": s["solver"]["refine"], "two_phase": two_phase,
                  "settings": asdict(settings) | {"seed": f"{args.seed} * 10007 + instance"},
                  "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                              "torch": torch.__version__, "numpy": np.__version__},
                  "summary": summary, "instances": rows}
        if args.dgno:
            dgno = _dgno_rows(Path(args.dgno), args, rows)
            truths = {j: rr.truth.a for j, rr in results}
            probs = {j: rr.fields["phase_prob"] for j, rr in results if "phase_prob" in rr.fields}
            result["dgno"] = args.dgno
            result["comparison"] = compare(rows, truths, probs, dgno, preset)
        write_text(out / f"reference_{args.name}.json", json.dumps(result, indent=2, default=json_default) + "\n")
        write_text(out / f"reference_{args.name}.md", "\n".join(markdown(result)) + "\n")
        write_fields(out / f"reference_{args.name}.h5", results, {"command": command})
    if "comparison" in result:
        cmp = result["comparison"]
        if cmp["reliability"]:
            plot_phase_reliability(cmp["reliability"], out / f"reference_{args.name}_reliability.png",
                                   f"{args.preset}: phase probabilities against the truth ({cmp['n']} instances)")
        from dgno.evaluate.plots import plot_reliability

        curves = {label: [cmp["mean"][key][str(lv)] for lv in LEVELS] for label, key in
                  (("u reference", "coverage_u_reference"), ("u DGNO", "coverage_u_dgno"),
                   ("a reference", "coverage_a_reference"), ("a DGNO", "coverage_a_dgno")) if key in cmp["mean"]}
        if curves:
            plot_reliability(list(LEVELS), curves, out / f"reference_{args.name}_coverage.png",
                             title=f"{args.preset}: coverage, reference and DGNO")
    if result:
        print("\n".join(markdown(result)))
    return result



if __name__ == "__main__":
    main()
