"""Equal-budget comparison of DGNO with its baselines: ``dgno bench`` (and ``benchmarks/compare.py``).

Every method trains from its config in ``configs/compare/<preset>/<method>.yaml`` on the same data
for the same wall-clock budget (the loop's ``train.max_minutes``), is selected on the validation
split (``best.pt``), and is evaluated on the test split and every out-of-distribution split. The
result is ``compare_<preset>.json``, a markdown table and a plot of validation error against
training time, all written atomically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from dgno.config.schema import METHODS, PHYSICS_METHODS, load_config
from dgno.errors import DgnoError
from dgno.reference.dataset import write_text_atomic

DEFAULT_CONFIGS = Path(__file__).resolve().parent / "configs" / "compare"  # shipped with the package
# presets without their own folder of configs use those of the preset they vary
FAMILY = {"darcy-pwc-fine": "darcy-pwc", "darcy-trig": "darcy-smooth"}
# The reference's printed relative L2 errors (their data, budgets and GPUs; digest §9.2), for context
REFERENCE = {
    "darcy-pwc": {"dgno": 0.0207, "pi-deeponet": 0.1651, "pi-multionet": 0.1408, "pino": 0.0434,
                  "deeponet": 0.0161, "multionet": 0.0149, "fno": 0.0002},
    # the paper's smooth Darcy is the two-parameter family a = 2.1 + sin(b1 x) + cos(b2 y) (darcy-trig), not the
    # log-normal darcy-smooth: its numbers are shown for darcy-trig only
    "darcy-trig": {"dgno": 0.0077, "pi-deeponet": 0.0116, "pi-multionet": 0.0069, "pino": 0.0326,
                   "deeponet": 0.0063, "multionet": 0.0048, "fno": 0.0004},
    # over all (x, t); their supervised MultiONet's 0.0021 is at t = 1 only, so not comparable
    "burgers": {"dgno": 0.0093, "pi-deeponet": 0.0127},
}
# what differs in the reference's set-up, per preset (named in the table's caption)
REFERENCE_SETUP = {
    "darcy-pwc": "their data, budget, and the central-difference residual for the grid baselines",
    "darcy-trig": "their data, budget, and the central-difference residual for the grid baselines",
    "burgers": "their data and budget; their supervised MultiONet's error is at t = 1 only and not shown",
}
LABELS = {"dgno": "DGNO", "pi-deeponet": "PI-DeepONet", "pi-multionet": "PI-MultiONet", "pino": "PINO",
          "deeponet": "DeepONet", "multionet": "MultiONet", "fno": "FNO", "neuralop-fno": "neuraloperator FNO",
          "pino-central": "PINO, the reference's central-difference residual"}


def method_config(configs: str | Path, preset: str, method: str) -> Path:
    """The config file of ``method`` for ``preset`` (or for the preset it varies)."""
    configs = Path(configs)
    for name in (preset, FAMILY.get(preset)):
        if name and (configs / name / f"{method}.yaml").is_file():
            return configs / name / f"{method}.yaml"
    raise DgnoError(f"no config for method {method!r} and preset {preset!r}: expected "
                    f"{configs / preset / (method + '.yaml')}")


def available_methods(configs: str | Path, preset: str) -> list[str]:
    """The method names of a preset: the stems of its config files (the eight standard methods first)."""
    configs = Path(configs)
    folder = next((configs / p for p in (preset, FAMILY.get(preset)) if p and (configs / p).is_dir()), None)
    stems = sorted(p.stem for p in folder.glob("*.yaml")) if folder else []
    return [m for m in METHODS if m in stems] + [m for m in stems if m not in METHODS]


def parse_methods(text: Sequence[str] | None, available: Sequence[str] = METHODS) -> list[str]:
    """Method names from 'a,b' or ['a', 'b'] (default: the standard methods that ``available`` holds, all eight
    for a preset with every config, those of its folder for one with fewer, such as stokes-cylinder), checked
    against ``available``.

    A method is a config file name in configs/compare/<preset>/; besides the standard eight
    (``model.kind`` names) a folder may hold variants such as pino-central (run only when named).
    """
    if not text:
        return [m for m in METHODS if m in available] or list(METHODS)  # none: the error names a missing config
    names = [m.strip() for item in text for m in item.split(",") if m.strip()]
    unknown = [m for m in names if m not in available]
    if unknown:
        raise DgnoError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    return list(dict.fromkeys(names))


def _val_curve(run: Path) -> list[tuple[float, float]]:
    """(training seconds, validation error) of every validation of a run: the mean relative L2 over the outputs, on
    which the checkpoint is chosen (u itself for one output; older runs logged u only)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    key = "val_rel_l2_mean" if any("val_rel_l2_mean" in r for r in rows) else "val_u_rel_l2_mean"
    return [(r["seconds"], r[key]) for r in rows if key in r]


def _errors(res: dict, names: Sequence[str]) -> dict:
    """The mean and std of each output's relative L2, their mean and the sample count, from an evaluation."""
    keys = [f"{n}_rel_l2_{s}" for n in names for s in ("mean", "std")]
    return {**{k: res[k] for k in keys}, "rel_l2_mean": res["rel_l2_mean"], "n": res["n"]}


def _evaluate_run(run: Path, data_dir: Path) -> dict:
    """Test and OOD errors of every output of the run's validation-selected checkpoint."""
    from dgno.config.runs import check_compatible, load_run
    from dgno.evaluate.metrics import evaluate
    from dgno.reference.dataset import load_h5

    _, model, ck = load_run(run, checkpoint="best")
    names = list(getattr(model, "output_names", ("u",)))
    out = {"best_step": int(ck["step"]), "outputs": names}
    splits = ["test", *sorted(p.stem for p in data_dir.glob("test_ood_*.h5"))]
    for split in splits:
        ds = load_h5(data_dir / f"{split}.h5")
        check_compatible(model, ds, ck, str(data_dir / f"{split}.h5"))
        a, u, x_u = (torch.from_numpy(v) for v in (ds.a, ds.u, ds.x_u))
        out[split] = _errors(evaluate(model, a, u, x_u), names)
    return out


def grid_problem(configs: str | Path, preset: str):
    """The problem of the preset's grid baseline (its pino config), or None when the preset has none."""
    from dgno.config.build import problem

    try:
        path = method_config(configs, preset, "pino")
    except DgnoError:
        return None
    return problem(load_config(path))


def grid_residual_floor(data_dir: Path, the_problem) -> dict[str, float]:
    """Mean relative L2 distance of the exact solution of the grid residual (what PINO and the grid
    PI-DeepONet/PI-MultiONet converge to at best) from the reference u, on the test and OOD splits.

    Empty when the problem declares no ``grid_solution(a, x_u)`` (Burgers: its grid system is nonlinear).
    """
    from dgno.evaluate.metrics import relative_l2
    from dgno.pdes.protocols import GridSolutionProblem
    from dgno.reference.dataset import load_h5

    if not isinstance(the_problem, GridSolutionProblem):
        return {}
    solve = the_problem.grid_solution
    out = {}
    for path in [data_dir / "test.h5", *sorted(data_dir.glob("test_ood_*.h5"))]:
        ds = load_h5(path)
        u = solve(torch.from_numpy(ds.a).double(), torch.from_numpy(ds.x_u).double())
        out[path.stem] = float(relative_l2(u, torch.from_numpy(ds.u).double()).mean())
    return out


def grid_interpolation_floor(data_dir: Path, the_problem) -> dict[str, dict[str, float]]:
    """Mean relative L2 distance of each output of the reference solution mapped onto the problem's own grid and back
    to the solution points (:func:`dgno.models.baselines.through_grid`: what FNO and PINO on that grid reach at best)
    from the solution itself, on the test and OOD splits: {split: {output: error}}.

    Empty when the grid models work on the solution points (no ``grid_nodes``) or the data has no triangles.
    """
    from dgno.evaluate.metrics import relative_l2
    from dgno.models.baselines import solution_fields, through_grid
    from dgno.pdes.protocols import OwnGridProblem
    from dgno.reference.dataset import load_h5

    if not isinstance(the_problem, OwnGridProblem):
        return {}
    names = [f.name for f in solution_fields(the_problem)]
    out = {}
    for path in [data_dir / "test.h5", *sorted(data_dir.glob("test_ood_*.h5"))]:
        ds = load_h5(path)
        if "triangles" not in ds.extras:
            return {}
        u, x_u = torch.from_numpy(ds.u).double(), torch.from_numpy(ds.x_u).double()
        back = through_grid(the_problem, u, x_u, torch.from_numpy(np.asarray(ds.extras["triangles"])))
        u, back = u.reshape(*u.shape[:2], -1), back.reshape(*u.shape[:2], -1)  # (N, Nv, C)
        out[path.stem] = {n: float(relative_l2(back[..., c], u[..., c]).mean()) for c, n in enumerate(names)}
    return out


def run_method(
    method: str,
    *,
    preset: str,
    budget_minutes: float,
    data_dir: Path,
    run_dir: Path,
    configs: Path,
    threads: int | None,
    seed: int,
    reuse: bool,
    log: Callable[[str], None],
) -> dict:
    """Train (or reuse) one method's run for the budget and evaluate it."""
    from dgno.config.build import run_training as train
    from dgno.reference.dataset import load_h5

    path = method_config(configs, preset, method)
    overrides = [f"data.dir={data_dir}", f"data.preset={preset}", f"train.max_minutes={budget_minutes}",
                 f"train.seed={seed}"]
    if threads:
        overrides.append(f"train.threads={threads}")
    kind = load_config(path).model.kind
    if kind not in PHYSICS_METHODS:  # supervised: every training input is a labeled pair
        n_train = len(load_h5(data_dir / "train.h5", read_u=False))
        overrides.append(f"data.n_labeled={n_train}")
    cfg = load_config(path, overrides)
    stamp = {"method": method, "preset": preset, "budget_minutes": budget_minutes, "config": str(path),
             "seed": seed, "threads": threads}
    done = run_dir / "bench.json"
    if reuse and done.is_file() and json.loads(done.read_text()) == stamp and (run_dir / "summary.json").is_file():
        log(f"[bench] {method}: reusing the finished run {run_dir}")
    else:
        if run_dir.exists() and any(run_dir.iterdir()):
            import shutil

            shutil.rmtree(run_dir)  # a fresh run: metrics.jsonl is appended to, so start from an empty folder
        log(f"[bench] {method}: training {path} for {budget_minutes:g} min -> {run_dir}")
        train(cfg, run_dir, progress=False, log=log)
        write_text_atomic(done, json.dumps(stamp, indent=2) + "\n")
    summary = json.loads((run_dir / "summary.json").read_text())
    row = {
        "method": method,
        "kind": kind,
        "config": str(path),
        "physics_only": kind in PHYSICS_METHODS,
        "labels_used": summary.get("labels_used", 0),
        "parameters": summary.get("parameters"),
        "steps": summary["steps"],
        "seconds": summary["seconds"],
        "seconds_per_step": summary["seconds_per_step"],
        "best_val_u_rel_l2": summary["best_val_u_rel_l2"],
        "val_curve": _val_curve(run_dir),
        **_evaluate_run(run_dir, data_dir),
    }
    names = row["outputs"]
    test = ", ".join(f"{n} {row['test'][f'{n}_rel_l2_mean']:.4f} +- {row['test'][f'{n}_rel_l2_std']:.4f}"
                     for n in names)
    ood = {k.removeprefix("test_ood_"): " / ".join(f"{v[f'{n}_rel_l2_mean']:.4f}" for n in names)
           for k, v in row.items() if k.startswith("test_ood_")}
    log(f"[bench] {method}: test rel L2 {test}" + "".join(f"; {k} {v}" for k, v in ood.items())
        + f" ({row['steps']} steps, {row['seconds_per_step']:.4f} s/step)")
    return row


def _names(text: Sequence[str]) -> str:
    """'u', 'u and v', 'u, v and p'."""
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + f" and {text[-1]}"


def markdown_table(result: dict) -> str:
    """The comparison as a markdown table (one row per method, skipped methods with their reason); with several
    outputs (Stokes: u, v, p) a test column per output and each OOD split's errors as 'u / v / p'."""
    rows = [r for r in result["methods"] if "test" in r]
    ood = sorted({k for r in rows for k in r if k.startswith("test_ood_")})
    names = next((r["outputs"] for r in rows if "outputs" in r), ["u"])
    family = result["preset"] if result["preset"] in REFERENCE else FAMILY.get(result["preset"], "")
    ref = REFERENCE.get(family, {})
    several = len(names) > 1
    test_head = [f"test {n} rel L2" for n in names]
    ood_head = [f"OOD {k.removeprefix('test_ood_')}" + (f" ({' / '.join(names)})" if several else "") for k in ood]
    head = ["method", "labels", *test_head, *ood_head, "parameters", "steps", "s/step",
            "best val" + (" (mean)" if several else ""), *(["reference"] if ref else [])]
    caption = (f"; 'reference' is the reference authors' printed error for that kind of method "
               f"({REFERENCE_SETUP.get(family, 'their data and budget')})" if ref else "")
    lines = [
        f"Equal budget: {result['budget_minutes']:g} min of training per method on {result['device']} "
        f"({result['threads']} threads), preset {result['preset']}, data {result['data_dir']}. "
        f"Relative L2 of {_names(names)} on the test split (mean ± std over samples) with the checkpoint chosen on "
        f"validation{' (the mean of the outputs)' if several else ''}{caption}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        t = r["test"]
        cells = [LABELS.get(r["method"], r["method"]), str(r["labels_used"]) if r["labels_used"] else "none (physics)",
                 *[f"{t[f'{n}_rel_l2_mean']:.4f} ± {t[f'{n}_rel_l2_std']:.4f}" for n in names],
                 *[" / ".join(f"{r[k][f'{n}_rel_l2_mean']:.4f}" for n in names) if k in r else "–" for k in ood],
                 f"{r['parameters']:,}", str(r["steps"]), f"{r['seconds_per_step']:.4f}",
                 f"{r['best_val_u_rel_l2']:.4f}"]
        if ref:
            cells.append(f"{ref[r['kind']]:.4f}" if r.get("kind") in ref else "–")
        lines.append("| " + " | ".join(cells) + " |")
    floor = result.get("grid_residual_floor")
    if floor:
        lines.append("")
        lines.append("Grid-residual floor (the exact solution of the finite-difference residual on the input grid, "
                     "the best PINO and the grid PI-DeepONet/PI-MultiONet can reach, against the reference u): "
                     + ", ".join(f"{k} {v:.4f}" for k, v in floor.items()) + ".")
    floor = result.get("grid_interpolation_floor")
    if floor:
        lines.append("")
        lines.append("Grid-interpolation floor (the reference solution mapped onto the grid of FNO and PINO and back "
                     f"to the solution points, the best a model on that grid can reach; {' / '.join(names)}): "
                     + ", ".join(f"{k} " + " / ".join(f"{v[n]:.4f}" for n in names) for k, v in floor.items()) + ".")
    for r in result["methods"]:
        if "test" not in r:
            lines.append(f"\n{LABELS.get(r['method'], r['method'])}: not run ({r['skipped']})")
    return "\n".join(lines) + "\n"


def plot_comparison(result: dict, path: Path) -> None:
    """Validation error (u, or the mean over the outputs) against training time, one line per method (dashed:
    supervised)."""
    from dgno.evaluate.plots import plot_time_curves

    curves = [(LABELS.get(r["method"], r["method"]) + ("" if r["physics_only"] else " (labels)"),
               *np.array(r["val_curve"]).T, not r["physics_only"]) for r in result["methods"] if r.get("val_curve")]
    names = next((r["outputs"] for r in result["methods"] if "outputs" in r), ["u"])
    error = f" (validation error: the mean of {_names(names)})" if len(names) > 1 else ""
    plot_time_curves(curves, path, title=f"{result['preset']}: {result['budget_minutes']:g} min per method{error}")


def compare(
    preset: str,
    *,
    budget_minutes: float,
    methods: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path = "runs/compare",
    results_dir: str | Path = "benchmarks/results",
    configs: str | Path = DEFAULT_CONFIGS,
    threads: int | None = None,
    seed: int = 0,
    reuse: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Train and evaluate every method for the same budget; write compare_<preset>.{json,md,png}."""
    from dgno.config import get_preset

    get_preset(preset)  # an unknown preset is an error that lists the known ones
    configs = Path(configs)
    available = available_methods(configs, preset)
    names = parse_methods(methods, available)
    if budget_minutes <= 0:
        raise DgnoError(f"--budget-minutes must be positive, got {budget_minutes}")
    data_dir = Path(data_dir) if data_dir is not None else Path("data") / preset
    for split in ("train", "val", "test"):
        if not (data_dir / f"{split}.h5").is_file():
            raise DgnoError(f"{data_dir / (split + '.h5')}: missing "
                            f"(generate it: dgno generate {preset} --out {data_dir})")
    runs_dir, results_dir = Path(runs_dir) / preset, Path(results_dir)
    for m in names:  # every config must exist and load before hours of training start
        load_config(method_config(configs, preset, m))
    names.sort(key=available.index)  # the table's order, whatever the command line's
    the_grid_problem = grid_problem(configs, preset)
    floor = grid_residual_floor(data_dir, the_grid_problem)
    if floor:
        log("[bench] grid-residual floor (exact grid solution against the reference u): "
            + ", ".join(f"{k} {v:.4f}" for k, v in floor.items()))
    interpolation_floor = grid_interpolation_floor(data_dir, the_grid_problem)
    if interpolation_floor:
        log("[bench] grid-interpolation floor (the solution onto the grid and back): "
            + "; ".join(f"{k} " + ", ".join(f"{n} {e:.4f}" for n, e in v.items())
                        for k, v in interpolation_floor.items()))
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    rows: list[dict] = []
    stem = results_dir / f"compare_{preset}"

    def write(complete: bool) -> dict:
        result = {
            "preset": preset, "budget_minutes": budget_minutes, "data_dir": str(data_dir), "started": started,
            "complete": complete, "grid_residual_floor": floor, "grid_interpolation_floor": interpolation_floor,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "threads": threads or torch.get_num_threads(), "torch": torch.__version__, "seed": seed, "methods": rows,
        }
        write_text_atomic(stem.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
        write_text_atomic(stem.with_suffix(".md"), markdown_table(result))
        plot_comparison(result, stem.with_suffix(".png"))
        return result

    for m in names:
        try:
            rows.append(run_method(m, preset=preset, budget_minutes=budget_minutes, data_dir=data_dir,
                                   run_dir=runs_dir / m, configs=configs, threads=threads, seed=seed, reuse=reuse,
                                   log=log))
        except DgnoError as exc:
            if m != "neuralop-fno" or "not installed" not in str(exc):
                raise
            log(f"[bench] {m}: skipped ({exc})")
            rows.append({"method": m, "skipped": str(exc)})
        write(complete=False)  # the table so far, after every method
    result = write(complete=True)
    log(f"[bench] wrote {stem}.json, .md and .png")
    return result
