"""`dgno invert`: one instance, from a data set's instance or the user's own measurements, for any problem.

Parse -> settings -> :class:`dgno.inversion.Inverter` -> write. Names become objects here and only here: axis names
in --obs-min/--obs-max become a :class:`Window`; the posterior's flags are generated from
:class:`~dgno.inverse.settings.InversionSettings` (declared once, with their help and the methods they apply to).
``--method exact`` is the exact-solver posterior (:mod:`dgno.exact`), which needs no trained model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from dgno.errors import DgnoError
from dgno.inverse.settings import METHODS, InversionSettings
from dgno.inversion import (
    SETTINGS,
    Observations,
    Truth,
    Window,
    check_sigma,
    check_snr,
    describe_choice,
    instance_observations,
    read_observations,
    stored_parameters,
)

EXACT = ("exact", "reference")  # reference: the earlier name of exact, kept for one release
EXACT_SETTINGS = ("draws", "chains", "seed")  # the posterior settings that --method exact reads


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", nargs="?", default=None,
                   help="run folder written by 'dgno train', or pretrained:NAME (--method exact: a preset name such as "
                        "darcy-pwc, a run folder, or nothing for the preset of --data)")
    p.add_argument("--data", default=None, help="split file (.h5) holding the instance (truth and grid)")
    p.add_argument("--index", type=int, default=0, help="instance of --data to invert")
    p.add_argument("--obs", default=None,
                   help="your measurements: CSV with columns named by the domain's axes and the observed outputs "
                        "(x,y,u for Darcy; x,t,u for Burgers; optional sigma) or HDF5 (x, one dataset per output)")
    p.add_argument("--n-obs", type=int, default=100, help="observations drawn from the instance (without --obs)")
    p.add_argument("--obs-at", default="nodes", choices=["nodes", "points"],
                   help="draw observations at random grid nodes, or at free random points in the domain (their "
                        "truth interpolated on the data's grid)")
    p.add_argument("--obs-min", action="append", default=[], metavar="AXIS=VALUE",
                   help="draw observations only where AXIS >= VALUE, e.g. t=0.25 (repeatable)")
    p.add_argument("--obs-max", action="append", default=[], metavar="AXIS=VALUE",
                   help="draw observations only where AXIS <= VALUE (repeatable)")
    p.add_argument("--observe", default=None, metavar="NAMES",
                   help="the outputs observed at each point, comma separated (e.g. u,v for velocities only; "
                        "default: every output of the model)")
    p.add_argument("--snr", type=float, default=None, help="noise from a signal-to-noise ratio in dB (default 25)")
    p.add_argument("--sigma", type=float, default=None, help="noise standard deviation (instead of --snr)")
    p.add_argument("--out", required=True, help="output folder: summary.json, posterior.h5, inversion.png")
    p.add_argument("--method", default=None, choices=["nuts", "map", *EXACT],
                   help="nuts or map: DGNO's latent posterior (default: the preset's measured choice); exact: the "
                        "exact prior and the finite-difference solver, no trained model (darcy-pwc: pCN, darcy-trig: "
                        "NUTS; dgno.exact)")
    p.add_argument("--max-minutes", type=float, default=None, help="--method exact: wall-clock cap (default 30)")
    p.add_argument("--refine", type=int, default=None, help="--method exact: solver grid refinement")
    p.add_argument("--no-model-error", action="store_true", help="the same as --model-error off")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--calibration-data", default=None,
                   help="data folder with the run's train/val splits, for a run whose stored calibration lacks what "
                        "the settings ask for")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--progress", action="store_true", help="show the sampler's progress bar")
    add_settings_arguments(p, exclude=("method",))


# ------------------------------------------------------------------------------------ the posterior's flags
def add_settings_arguments(p: argparse.ArgumentParser, *, exclude: tuple[str, ...] = ()) -> None:
    """One flag per field of :class:`InversionSettings` (``--pde-weight`` for ``pde_weight``), every default None so
    that :func:`given_settings` can tell what the user gave from what they left to the defaults."""
    group = p.add_argument_group("posterior settings (each defaults to the preset's measured choice, see "
                                 "docs/inverse.md, else to the value shown)")
    from dataclasses import MISSING, fields

    for f in fields(InversionSettings):
        if f.name in exclude:
            continue
        meta = f.metadata
        flag = "--" + (meta.get("flag") or f.name.replace("_", "-"))
        text = meta["help"]
        if f.default is not None and f.default is not MISSING:
            text += f" (generic default: {f.default})"
        if meta["methods"] != METHODS:
            text += f" [{', '.join(meta['methods'])} only]"
        if f.type in ("bool", bool):
            group.add_argument(flag, dest=f.name, action="store_const", const=True, default=None, help=text)
            continue
        kind = {"int": int, "int | None": int, "float": float}.get(str(f.type), str)
        group.add_argument(flag, dest=f.name, type=kind, default=None, choices=meta["choices"], help=text)


def given_settings(args: argparse.Namespace, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings the user gave on the command line (the flags of :func:`add_settings_arguments` not left None)."""
    return {name: getattr(args, name) for name in SETTINGS
            if name not in exclude and getattr(args, name, None) is not None}


def parse_bounds(items: list[str], flag: str) -> dict[str, float]:
    """["t=0.25", ...] -> {"t": 0.25}."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise DgnoError(f"{flag} must look like AXIS=VALUE (e.g. t=0.25), got {item!r}") from None
    return out


def window(args: argparse.Namespace, domain) -> Window:
    return Window.from_bounds(domain, parse_bounds(args.obs_min, "--obs-min"), parse_bounds(args.obs_max, "--obs-max"))


def _file_noise(args: argparse.Namespace, f, source: str) -> np.ndarray:
    """sigma per observed output (C,) of a measurement file: --sigma, else --snr of its values, else its own sigma
    column, else 25 dB."""
    from dgno.inversion import sigma_from_snr

    if args.sigma is not None:
        check_sigma(args.sigma, source="--sigma")
        return np.array([float(args.sigma)])
    if args.snr is not None:
        check_snr(args.snr)
        return sigma_from_snr(f.y, args.snr)
    if f.sigma is not None:
        for value in f.sigma:
            check_sigma(float(value), source=source)
        return np.asarray(f.sigma, dtype=float)
    return sigma_from_snr(f.y, 25.0)


def observations(args: argparse.Namespace, ds, problem, names: tuple[str, ...]) -> tuple[Observations, Truth | None]:
    """The observations of one inversion (drawn from instance --index of ``ds`` by the one rule that the benchmarks
    use too, :func:`~dgno.inverse.observations.instance_observations`, or read from --obs) and the truth."""
    if args.sigma is not None and args.snr is not None:
        raise DgnoError("give --sigma or --snr, not both")
    truth = None
    if ds is not None:
        if not 0 <= args.index < len(ds):
            raise DgnoError(f"--index {args.index} is out of range for {args.data} ({len(ds)} instances)")
        truth = Truth(ds.a[args.index], ds.u[args.index] if ds.u is not None else None,
                      f"{Path(args.data).name}[{args.index}]", stored_parameters(ds, args.index))
    if args.obs is not None:
        if args.obs_min or args.obs_max:
            raise DgnoError("--obs-min/--obs-max choose where to draw observations; they do not apply to --obs")
        f = read_observations(args.obs, domain=problem.domain, outputs=names)
        source = str(args.obs)
        Observations(x=f.x, y=f.y, sigma=1.0, source=source, outputs=f.outputs)  # values checked before the noise
        return Observations(x=f.x, y=f.y, sigma=_file_noise(args, f, source), source=source,
                            outputs=f.outputs), truth
    if ds is None:
        raise DgnoError("give --data (an instance to observe) or --obs (your measurements)")
    if truth.u is None:
        raise DgnoError(f"{args.data}: has no solutions u to draw observations from; give --obs")
    observed = names
    if args.observe is not None:  # a subset of the outputs: their components of u only
        observed = tuple(n.strip() for n in args.observe.split(",") if n.strip())
        unknown = [n for n in observed if n not in names]
        if not observed or unknown or len(set(observed)) != len(observed):
            raise DgnoError(f"--observe {args.observe!r}: give distinct outputs among {', '.join(names)}")
    if args.sigma is not None:
        check_sigma(args.sigma, source="--sigma")
    elif args.snr is not None:
        check_snr(args.snr)
    obs = instance_observations(ds, args.index, problem=problem, n_obs=args.n_obs,
                                snr=25.0 if args.snr is None else args.snr, sigma=args.sigma,
                                seed=args.seed if args.seed is not None else 0, source=f"{args.data}[{args.index}]",
                                obs_at=args.obs_at, window=window(args, problem.domain), observed=observed,
                                names=names)
    return obs, truth


def run_invert(args: argparse.Namespace) -> dict:
    """``dgno invert``: the posterior of one instance, written to --out; returns its summary."""
    if args.method in EXACT:
        return run_exact(args)
    for flag, value in (("--max-minutes", args.max_minutes), ("--refine", args.refine)):
        if value is not None:
            raise DgnoError(f"{flag} applies to --method exact only")
    if args.run is None:
        raise DgnoError("give the run folder written by 'dgno train' or pretrained:NAME (only --method exact "
                        "needs none)")
    import torch

    from dgno.config.runs import check_compatible
    from dgno.inversion import inverter
    from dgno.operator import load
    from dgno.reference.dataset import load_h5

    if args.threads:
        torch.set_num_threads(args.threads)
    given = given_settings(args, exclude=("method",))
    if args.method is not None:
        given["method"] = args.method
    if args.no_model_error:
        if given.get("model_error", "off") != "off":
            raise DgnoError("--no-model-error contradicts --model-error " + given["model_error"])
        given["model_error"] = "off"
    op = load(args.run, checkpoint=args.checkpoint)
    inv = inverter(op, calibration_data=args.calibration_data)
    settings = inv.settings(**given)
    print(describe_choice(given, op.inversion_defaults(), op.preset or "the preset"))
    ds = None
    if args.data is not None:
        ds = load_h5(args.data)
        check_compatible(op.model, ds, {"data_preset": op.preset}, str(args.data))
    obs, truth = observations(args, ds, op.problem, op.output_names)
    cal = inv.calibration(settings)
    if ds is not None and (ds.x_u.shape != cal.x_u.shape or not np.allclose(ds.x_u, cal.x_u, atol=1e-9)):
        raise DgnoError(f"{args.data}: its solution grid {ds.x_u.shape} differs from the run's validation data "
                        f"{cal.x_u.shape}")
    preset = (ds.attrs.get("preset") if ds is not None else None) or op.preset
    (result,) = inv.invert([obs], [truth], settings, preset=preset, progress=args.progress)
    result.summary.update({
        "data": args.data, "index": args.index if ds is not None else None, "snr_db": args.snr,
        "obs_window": {"min": parse_bounds(args.obs_min, "--obs-min"), "max": parse_bounds(args.obs_max, "--obs-max")},
        "wall_seconds": result.summary["batch_wall_seconds"],
    })
    result.save(args.out)
    return result.summary


# --------------------------------------------------------------------------------------------- exact
def preset_of(run: str | None, ds) -> str:
    """The preset of an exact inversion: ``run`` as a preset name or a run folder (its data.preset), or the data
    file's; a disagreement is an error."""
    from dgno.config.registry import DATA_PRESETS
    from dgno.config.schema import load_config
    from dgno.exact import PRESETS

    named = None
    if run is not None:
        if run in DATA_PRESETS:
            named = run
        elif (Path(run) / "config.yaml").is_file():
            named = load_config(Path(run) / "config.yaml").data.preset
        else:
            raise DgnoError(f"{run}: neither a preset ({', '.join(PRESETS)}) nor a run folder (no config.yaml)")
    in_file = ds.attrs.get("preset") if ds is not None else None
    if named and in_file and named != in_file:
        raise DgnoError(f"--method exact: {run} names preset {named!r} but the data file is {in_file!r}")
    name = named or in_file
    if not name:
        raise DgnoError("--method exact needs a preset: give it as the first argument (e.g. darcy-pwc) or --data "
                        "a file of that preset")
    return name


def run_exact(args: argparse.Namespace) -> dict:
    """``dgno invert [PRESET|RUN] --method exact ...``: one instance's exact-solver posterior, written like DGNO's
    inversions (summary.json, posterior.h5, inversion.png in --out)."""
    import sys
    from dataclasses import asdict

    import torch

    from dgno.atomic import write_text
    from dgno.evaluate.plots import plot_inversion
    from dgno.exact import ExactSettings, check_preset, exact_posterior
    from dgno.exact.darcy import data_nodes, json_default
    from dgno.inverse.run import write_posterior
    from dgno.pdes import Darcy
    from dgno.reference.dataset import load_h5

    if args.method == "reference":
        print("dgno: --method reference is now --method exact (the old name goes in the next release)",
              file=sys.stderr)
    given = given_settings(args, exclude=("method",))
    refused = [k for k in given if k not in EXACT_SETTINGS]
    if refused or args.no_model_error or args.calibration_data:
        names = [f"--{k.replace('_', '-')}" for k in refused]
        names += ["--no-model-error"] * args.no_model_error + ["--calibration-data"] * bool(args.calibration_data)
        raise DgnoError(f"{', '.join(names)}: DGNO's posterior settings do not apply to --method exact (it reads "
                        "--draws, --chains, --seed, --refine, --max-minutes)")
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_h5(args.data) if args.data is not None else None
    name = preset_of(args.run, ds)
    preset = check_preset(name)
    if ds is not None and ds.x_u.shape[:-1] != data_nodes(preset).shape[:-1]:
        raise DgnoError(f"{args.data}: the exact posterior of {name} works on its {data_nodes(preset).shape[0]}^2 "
                        f"grid, the file's is {ds.x_u.shape[:-1]}")
    problem = Darcy(source=preset.source)
    obs, truth = observations(args, ds, problem, ("u",))
    settings = ExactSettings(chains=max(given.get("chains", 4), 4), seed=given.get("seed", 0), refine=args.refine,
                             max_seconds=60.0 * (args.max_minutes or 30.0), draws=given.get("draws"))
    progress = (lambda line: print(line, flush=True)) if args.progress else None
    result = exact_posterior(preset, obs, truth, settings, progress=progress)
    result.summary.update({"run": args.run, "preset": name, "data": args.data,
                           "index": args.index if ds is not None else None, "observations": obs.source,
                           "snr_db": args.snr, "settings": asdict(settings), "wall_seconds": result.summary["seconds"]})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_a = data_nodes(preset)
    write_posterior(result, out / "posterior.h5", x_a=x_a, x_u=x_a, attrs={"preset": name, "method": "exact"})
    label = truth.label if truth is not None else obs.source
    plot_inversion(x_a, x_a, result.fields, obs.x, out / "inversion.png",
                   true_a=truth.a if truth is not None else None, true_u=truth.u if truth is not None else None,
                   names=("u",), obs_y=obs.y, title=f"{label}: {len(obs)} observations, exact "
                   f"({result.summary['method']}, {'converged' if result.summary['converged'] else 'NOT converged'})")
    write_text(out / "summary.json", json.dumps(result.summary, indent=2, default=json_default) + "\n")
    return result.summary


def print_summary(s: dict) -> None:
    keys = ["a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "coverage90_a",
            "ess_bulk_min", "rhat_max", "model_error_u_mean", "seconds"]
    print(", ".join(f"{k} {s[k]:.4g}" for k in keys if isinstance(s.get(k), float | int)))
