"""The ``dgno`` command line: generate | data {info, merge, convert, verify} | train | evaluate | predict | demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dgno import __version__
from dgno.errors import DgnoError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# --------------------------------------------------------------------------------------- generate
def cmd_generate(args: argparse.Namespace) -> None:
    from dgno.config import get_preset
    from dgno.reference.generate import Shard, SplitCounts, generate

    preset = get_preset(args.preset)
    counts = SplitCounts(train=args.n_train, val=args.n_val, test=args.n_test, ood=args.n_ood)
    shard = Shard.parse(args.shard)
    start = time.perf_counter()
    paths = generate(
        preset, args.out, counts=counts, seed=args.seed, workers=args.workers, shard=shard, progress=not args.quiet
    )
    elapsed = time.perf_counter() - start
    for p in paths:
        print(p)
    total = sum(len(shard.range(counts.of(s))) for s in preset.splits)
    print(f"{total} samples in {elapsed:.1f} s ({total / elapsed:.2f} samples/s, {args.workers} workers)")


# ------------------------------------------------------------------------------------------- data
def _describe_array(name: str, arr: np.ndarray | None) -> str:
    if arr is None:
        return f"  {name:<4} absent"
    if arr.size == 0:  # an empty shard
        return f"  {name:<4} {arr.dtype} {tuple(arr.shape)}  empty"
    return (
        f"  {name:<4} {arr.dtype} {tuple(arr.shape)}  min {arr.min():.6g}  max {arr.max():.6g}  mean {arr.mean():.6g}"
    )


def cmd_data_info(args: argparse.Namespace) -> None:
    from dgno.reference.dataset import load_h5

    ds = load_h5(args.file)
    print(f"{args.file}: {len(ds)} samples")
    for name in ("a", "u", "x_a", "x_u"):
        print(_describe_array(name, getattr(ds, name)))
    for name, arr in ds.extras.items():
        print(f"  extras/{name} {arr.dtype} {tuple(arr.shape)}")
    values = np.unique(ds.a)
    if len(values) == 2:  # a two-phase input: report the share of the higher phase
        print(f"  phase fraction (a = {values[1]:g}): {np.mean(ds.a == values[1]):.4f}")
    print("provenance:")
    print(json.dumps(ds.attrs, indent=2, sort_keys=True))


def cmd_data_merge(args: argparse.Namespace) -> None:
    from dgno.reference.generate import merge

    for p in merge(args.inputs, args.out):
        print(p)


def cmd_data_convert(args: argparse.Namespace) -> None:
    from dgno.reference.dataset import save_h5
    from dgno.reference.matlab import load_reference_mat

    ds = load_reference_mat(args.file, layout=args.layout)
    print(save_h5(ds, args.out))
    print(f"{len(ds)} samples, layout {ds.attrs.get('layout')}")


def cmd_data_verify(args: argparse.Namespace) -> None:
    from dgno.reference.darcy_fd import DarcyFD
    from dgno.reference.darcy_fem import DarcyFEM
    from dgno.reference.dataset import load_h5
    from dgno.reference.verify import default_interp, relative_l2, resolve

    ds = load_h5(args.file, require_u=True)
    if ds.x_a.ndim != 3 or ds.x_a.shape[-1] != 2:
        raise DgnoError(f"{args.file}: dgno data verify re-solves Darcy data on a square grid; this file's inputs "
                        f"are at nodes of shape {ds.x_a.shape} (preset {ds.attrs.get('preset')!r})")
    solver = DarcyFEM() if args.solver == "fem" else DarcyFD()
    parity = 0 if solver.refine_parity == "even" else 1
    if args.refine % 2 != parity:
        raise DgnoError(f"--refine must be {solver.refine_parity} for --solver {args.solver}, got {args.refine}")
    interp = args.interp if args.interp != "auto" else default_interp(ds)
    indices = range(min(len(ds), args.limit or len(ds)))
    start = time.perf_counter()
    u = resolve(ds, solver=solver, refine=args.refine, interp=interp, indices=indices, workers=args.workers)
    err = relative_l2(ds.u[: len(indices)], u)
    result = {
        "file": str(args.file),
        "solver": args.solver,
        "refine": args.refine,
        "interp": interp,
        "n": len(indices),
        "rel_l2_mean": float(err.mean()),
        "rel_l2_max": float(err.max()),
        "seconds": time.perf_counter() - start,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        from dgno.reference.dataset import write_text_atomic

        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")


# ---------------------------------------------------------------------------------- train/evaluate
def cmd_train(args: argparse.Namespace) -> None:
    from dgno.config.build import run_training
    from dgno.config.schema import load_config

    cfg = load_config(args.config, args.overrides)
    summary = run_training(cfg, args.out, resume=args.resume, progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":  # one summary for a torchrun launch
        print(json.dumps(summary, indent=2))


def _load_eval_data(args: argparse.Namespace, model, ck):
    from dgno.config.runs import check_compatible
    from dgno.reference.dataset import load_h5

    ds = load_h5(args.data, require_u=getattr(args, "require_u", True))
    check_compatible(model, ds, ck, str(args.data))
    return ds


def cmd_evaluate(args: argparse.Namespace) -> None:
    import torch

    from dgno.config.runs import load_run
    from dgno.evaluate.metrics import describe_errors, evaluate, predict_dataset
    from dgno.evaluate.plots import plot_predictions
    from dgno.reference.dataset import write_text_atomic

    _, model, ck = load_run(args.run, checkpoint=args.checkpoint)
    ds = _load_eval_data(args, model, ck)
    a, u, x_u = (torch.from_numpy(v) for v in (ds.a, ds.u, ds.x_u))
    result = {"data": str(args.data), "checkpoint": args.checkpoint, "step": ck["step"], **evaluate(model, a, u, x_u)}
    print(f"{describe_errors(result)} (n = {result['n']}, step {ck['step']})")
    k = min(4, len(ds))
    pred = predict_dataset(model, a[:k], x_u)
    plot = Path(args.run) / f"predictions_{Path(args.data).stem}.png"
    a_pred = pred["a_mean"].numpy() if "a_mean" in pred else None
    plot_predictions(ds.x_a, ds.x_u, ds.a[:k], a_pred, ds.u[:k], pred["u"].numpy(), plot,
                     names=getattr(model, "output_names", ("u",)), triangles=ds.extras.get("triangles"))
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")


def cmd_predict(args: argparse.Namespace) -> None:
    import torch

    from dgno.config.runs import load_run
    from dgno.evaluate.metrics import predict_dataset
    from dgno.reference.dataset import Dataset, save_h5

    _, model, ck = load_run(args.run, checkpoint=args.checkpoint)
    args.require_u = False
    ds = _load_eval_data(args, model, ck)
    pred = predict_dataset(model, torch.from_numpy(ds.a), torch.from_numpy(ds.x_u))
    attrs = {**ds.attrs, "prediction_of": str(args.data), "run": str(args.run), "checkpoint": args.checkpoint,
             "step": ck["step"], "u_is": f"{ck['config']['model'].get('kind', 'dgno')} prediction"}
    extras = {k: pred[k].numpy() for k in ("a_mean", "a_mode") if k in pred}
    out = Dataset(a=ds.a, u=pred["u"].numpy(), x_a=ds.x_a, x_u=ds.x_u, attrs=attrs, extras=extras)
    print(save_h5(out, args.out))


def print_summary(summary: dict) -> None:
    from dgno.invert_cli import print_summary as show

    show(summary)


def cmd_invert(args: argparse.Namespace) -> None:
    from dgno.invert_cli import print_summary, run_invert

    summary = run_invert(args)
    print_summary(summary)
    print(f"posterior, summary and plots in {args.out}")


def cmd_bench(args: argparse.Namespace) -> None:
    from dgno.bench import DEFAULT_CONFIGS, compare

    compare(args.preset, budget_minutes=args.budget_minutes, methods=args.methods, data_dir=args.data,
            runs_dir=args.runs, results_dir=args.results, configs=args.configs or DEFAULT_CONFIGS,
            threads=args.threads, seed=args.seed, reuse=args.reuse)


# ------------------------------------------------------------------------------------------- demo
DEMO_DATA = "data/darcy-pwc"


def _demo_data(args: argparse.Namespace) -> Path:
    """The darcy-pwc data set of the demo, generated once and reused (a cache keyed by its counts)."""
    from dgno.config import get_preset
    from dgno.reference.dataset import load_h5
    from dgno.reference.generate import SplitCounts, generate

    data_dir = Path(args.data_dir)
    counts = SplitCounts(train=args.n_train, val=args.n_val, test=args.n_test)
    preset = get_preset("darcy-pwc")
    try:
        cached = all(len(load_h5(data_dir / f"{s}.h5", read_u=False)) == counts.of(s) for s in preset.splits)
    except DgnoError:
        cached = False
    if cached:
        print(f"[demo] using the data set in {data_dir}")
        return data_dir
    print(f"[demo] generating darcy-pwc in {data_dir} ({args.n_train} train, {args.n_val} val, {args.n_test} test)")
    start = time.perf_counter()
    generate(preset, data_dir, counts=counts, seed=args.seed, workers=args.workers, progress=True)
    print(f"[demo] generated in {time.perf_counter() - start:.0f} s")
    return data_dir


def cmd_demo(args: argparse.Namespace) -> None:
    import torch

    from dgno.config.build import run_training
    from dgno.config.runs import load_run
    from dgno.config.schema import load_config
    from dgno.evaluate.metrics import evaluate, predict_dataset
    from dgno.evaluate.plots import plot_predictions, plot_samples
    from dgno.reference.dataset import load_h5, write_text_atomic

    if args.quick:  # a tiny variant that checks an install end to end in about a minute
        args.n_train, args.n_val, args.n_test, args.minutes = 40, 8, 8, min(args.minutes, 0.5)
        if args.data_dir == DEMO_DATA:
            args.data_dir = str(Path(args.out) / "data")
    out = Path(args.out)
    data_dir = _demo_data(args)
    plot_samples(load_h5(data_dir / "test.h5"), out / "samples_test.png")
    cfg = load_config(args.config, [f"data.dir={data_dir}", f"train.max_minutes={args.minutes}"])
    run = out / "run"
    if (run / "summary.json").exists() and not args.retrain:
        print(f"[demo] using the trained model in {run} (--retrain to train again)")
    else:
        print(f"[demo] training {args.config} for at most {args.minutes} minutes (physics only: no solutions read)")
        run_training(cfg, run, progress=True)
    _, model, ck = load_run(run)
    rows = []
    for split in ("test", "test_ood_tau6", "test_ood_frac30"):
        ds = load_h5(data_dir / f"{split}.h5", require_u=True)
        a, u, x_u = (torch.from_numpy(v) for v in (ds.a, ds.u, ds.x_u))
        rows.append({"split": split, **evaluate(model, a, u, x_u)})
        pred = predict_dataset(model, a[:4], x_u)
        plot_predictions(ds.x_a, ds.x_u, ds.a[:4], pred["a_mean"].numpy(), ds.u[:4], pred["u"].numpy(),
                         out / f"predictions_{split}.png")
    summary = {"run": str(run), "checkpoint_step": ck["step"], "data": str(data_dir), "results": rows}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    lines = ["| split | n | u rel L2 (mean +- std) | decoded a rel L2 |", "|---|---|---|---|"]
    lines += [f"| {r['split']} | {r['n']} | {r['u_rel_l2_mean']:.4f} +- {r['u_rel_l2_std']:.4f} "
              f"| {r['a_rel_l2_mean']:.4f} |" for r in rows]
    write_text_atomic(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.invert_method != "none":
        import dgno
        from dgno.inversion import Truth, instance_observations, inverter

        op = dgno.load(run)
        inv = inverter(op, calibration_data=data_dir)
        given = {} if args.invert_method == "default" else {"method": args.invert_method}
        settings = inv.settings(**given)
        print(f"[demo] inverting test instance 0 from 100 noisy observations of u (25 dB, {settings.method}, "
              f"pde weight {settings.pde_weight:g}; the preset's measured defaults)")
        test = load_h5(data_dir / "test.h5", require_u=True)
        obs = instance_observations(test, 0, problem=op.problem, n_obs=100, snr=25.0, seed=0,
                                    source=f"{data_dir / 'test.h5'}[0]")
        (res,) = inv.invert([obs], [Truth(test.a[0], test.u[0], "test.h5[0]")], settings)
        res.save(out / "inversion")
        inv_summary = res.summary
        print_summary(inv_summary)
        summary["inversion"] = inv_summary
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        keys = ("a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "ess_bulk_min", "seconds")
        lines += ["", "Inversion of test instance 0 (100 observations, 25 dB): "
                  + ", ".join(f"{k} {inv_summary[k]:.4g}" for k in keys if k in inv_summary)]
        write_text_atomic(out / "summary.md", "\n".join(lines) + "\n")
    print(f"[demo] plots and summary in {out}")


# ------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    from dgno.config import DATA_PRESETS

    parser = argparse.ArgumentParser(prog="dgno", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dgno {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="generate a data set (train/val/test/OOD split files)")
    p.add_argument("preset", help=f"one of {', '.join(DATA_PRESETS)}")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-train", type=_positive_int, default=1000)
    p.add_argument("--n-val", type=_positive_int, default=100)
    p.add_argument("--n-test", type=_positive_int, default=200)
    p.add_argument("--n-ood", type=_positive_int, default=None, help="samples per OOD split (default: --n-test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=_positive_int, default=_default_workers())
    p.add_argument("--shard", default="0/1", help="i/n: write only shard i of n (merge with 'dgno data merge')")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_generate)

    data = sub.add_parser("data", help="inspect, merge, convert and verify data files")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("info", help="shapes, value ranges and provenance of a split file")
    p.add_argument("file")
    p.set_defaults(func=cmd_data_info)
    p = dsub.add_parser("merge", help="join shard files into whole split files")
    p.add_argument("inputs", nargs="+", help="shard files or folders holding them")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_data_merge)
    p = dsub.add_parser("convert", help="convert a reference-authors .mat file to dgno's HDF5 format")
    p.add_argument("file")
    p.add_argument("--out", required=True, help="output .h5 file")
    p.add_argument("--layout", default="auto", choices=["auto", "smh", "pwc", "pwc-companion", "inverse", "viscid",
                                                            "stokes"])
    p.set_defaults(func=cmd_data_convert)
    p = dsub.add_parser("verify", help="re-solve a file's a with an independent solver and compare with its u")
    p.add_argument("file")
    p.add_argument("--solver", default="fem", choices=["fem", "fd"])
    p.add_argument("--refine", type=_positive_int, default=12, help="fine grid = (n - 1) * refine + 1")
    p.add_argument("--interp", default="auto", choices=["auto", "nearest", "cubic"])
    p.add_argument("--limit", type=_positive_int, default=None, help="check only the first N samples")
    p.add_argument("--workers", type=_positive_int, default=_default_workers())
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.set_defaults(func=cmd_data_verify)

    p = sub.add_parser("train", help="train DGNO from a YAML config (physics only unless data.n_labeled > 0)")
    p.add_argument("config", help="YAML config file, or the name of a shipped config (e.g. darcy_pwc_quick)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-3 data.dir=data/pwc")
    p.add_argument("--out", required=True, help="run folder (config, checkpoints, metrics, plots)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    for name, func, text in (("evaluate", cmd_evaluate, "relative L2 errors of a run on a data file"),
                             ("predict", cmd_predict, "write a run's predictions for a data file")):
        p = sub.add_parser(name, help=text)
        p.add_argument("run", help="run folder written by 'dgno train'")
        p.add_argument("--data", required=True, help="split file (.h5)")
        p.add_argument("--checkpoint", default="best", choices=["best", "last"])
        if name == "evaluate":
            p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
        else:
            p.add_argument("--out", required=True, help="output .h5 file")
        p.set_defaults(func=func)

    from dgno.invert_cli import add_arguments

    p = sub.add_parser("invert", help="posterior of a and u from sparse noisy observations of u (NUTS or MAP)")
    add_arguments(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("bench", help="train DGNO and the baselines for the same budget; compare on test and OOD")
    p.add_argument("--preset", required=True, choices=sorted(DATA_PRESETS))
    p.add_argument("--budget-minutes", type=float, required=True, help="training time per method")
    p.add_argument("--methods", nargs="+", help="methods (space or comma separated; default: all)")
    p.add_argument("--data", help="data folder with train/val/test(/test_ood_*).h5 (default: data/<preset>)")
    p.add_argument("--runs", default="runs/compare", help="folder of the methods' run folders")
    p.add_argument("--results", default="benchmarks/results", help="where compare_<preset>.{json,md,png} go")
    p.add_argument("--configs", help="folder of <preset>/<method>.yaml configs (default: the repository's)")
    p.add_argument("--threads", type=int, help="torch threads per training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", action="store_true", help="keep finished runs of the same method, budget and seed")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="the main job: data, physics-only training, evaluation, plots")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--data-dir", default=DEMO_DATA, help="where the darcy-pwc data set is (or goes)")
    p.add_argument("--quick", action="store_true",
                   help="a tiny variant (40 training inputs, 30 s of training) that checks an install end to end")
    p.add_argument("--config", default="darcy_pwc_quick", help="config file or shipped config name")
    p.add_argument("--minutes", type=float, default=8.0, help="training budget")
    p.add_argument("--retrain", action="store_true", help="train again even if the demo run exists")
    p.add_argument("--n-train", type=_positive_int, default=1000)
    p.add_argument("--n-val", type=_positive_int, default=100)
    p.add_argument("--n-test", type=_positive_int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=_positive_int, default=_default_workers())
    p.add_argument("--invert-method", default="default", choices=["default", "nuts", "map", "none"],
                   help="the closing inversion of one test instance (default: the preset's measured defaults)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DgnoError as exc:
        print(f"dgno: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dgno: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
