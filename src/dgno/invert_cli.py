"""`dgno invert`: one instance, from a data set's instance or the user's own measurements, for any problem.

Names become objects here and only here: axis names in --obs-min/--obs-max become a :class:`Window`, the data's
preset name becomes the reference solver of the physics check.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dgno.errors import DgnoError
from dgno.inverse.family import family_prior, stored_parameters
from dgno.inverse.observations import (
    Observations,
    Window,
    as_components,
    check_sigma,
    check_snr,
    draw_at_nodes,
    draw_at_points,
    free_nodes,
    read_observations,
    sigma_from_snr,
)
from dgno.inverse.run import InverseSettings, Truth, invert, write_posterior


def add_posterior_options(p: argparse.ArgumentParser) -> None:
    """The sampler's and the model error's options, shared with benchmarks/inverse.py (read by
    :func:`posterior_options`)."""
    p.add_argument("--chain-method", default="sequential", choices=["sequential", "vectorized"],
                   help="nuts: chains one after another (each adapted alone), or vectorized: the chains as copies "
                        "of the instances in one batched run (shared adaptation, far less time per draw)")
    p.add_argument("--model-error-from", default="encoder", choices=["encoder", "latent"],
                   help="where the model error is measured on the validation split: the encoder's latent, or the "
                        "latent that best fits each u (smaller: an inversion never uses the encoder)")
    p.add_argument("--model-bias", default="none", choices=["none", "mean"],
                   help="mean: the model error's mean per node (validation) is added to the forward model and its "
                        "spread about it is the model error (with --model-error independent)")
    p.add_argument("--map-starts", type=int, default=4, help="starts of the MAP search (map, and nuts's start)")
    p.add_argument("--map-steps", type=int, default=400, help="Adam steps of each MAP start")


def posterior_options(args: argparse.Namespace) -> dict:
    """The InverseSettings fields of :func:`add_posterior_options`."""
    return {"chain_method": args.chain_method, "map_starts": args.map_starts, "map_steps": args.map_steps,
            "model_error_from": args.model_error_from, "model_bias": args.model_bias}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", nargs="?", default=None,
                   help="run folder written by 'dgno train' (--method reference: a preset name such as darcy-pwc, a "
                        "run folder, or nothing for the preset of --data)")
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder: summary.json, posterior.h5, inversion.png")
    p.add_argument("--method", default="nuts", choices=["nuts", "map", "reference"],
                   help="nuts or map: DGNO's latent posterior; reference: the exact prior and the finite-difference "
                        "solver, no trained model (darcy-pwc: pCN, darcy-trig: NUTS; dgno.inverse.reference)")
    p.add_argument("--max-minutes", type=float, default=30.0, help="wall-clock cap of --method reference")
    p.add_argument("--refine", type=int, default=None, help="--method reference: solver grid refinement")
    p.add_argument("--draws", type=int, default=None, help="draws per chain (nuts, default 250) or in all (map, 500)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--chains", type=int, default=2)
    add_posterior_options(p)
    p.add_argument("--max-tree-depth", type=int, default=8)
    p.add_argument("--pde-weight", type=float, default=1.0, help="weight w of the PDE virtual observables")
    p.add_argument("--pde-temperature", type=float, default=1.0,
                   help="T >= 1: the virtual observables read a two-phase input with its logits divided by T (wider "
                        "decoded interfaces, a smoother posterior for NUTS); no effect on continuous inputs")
    p.add_argument("--prior", default=None, choices=["fitted", "standard", "box", "family"],
                   help="latent prior (default: fitted for tanh encoders, standard for Gaussian encoders); family: "
                        "a uniform prior on the parameters of the preset's input family (darcy-trig, stokes-cylinder)")
    p.add_argument("--model-error", default="independent", choices=["independent", "correlated", "off"],
                   help="the forward model's validation error in the likelihood and the predictive intervals: "
                        "independent per point, correlated in space (a Gaussian field fitted on the validation "
                        "errors, kriged from the residuals at the observations), or off")
    p.add_argument("--no-model-error", action="store_true", help="the same as --model-error off")
    p.add_argument("--physics-check", type=int, default=8,
                   help="posterior draws re-solved with the data preset's reference solver (0: none)")
    p.add_argument("--quadrature", default=None, choices=["grid", "gauss"],
                   help="quadrature of the virtual observables (default: the training's)")
    p.add_argument("--quadrature-n", type=int, default=None, help="its size (default: the training's)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--calibration-data", default=None, help="data folder with the run's train/val splits")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--progress", action="store_true", help="show the sampler's progress bar")


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


def _noise(args: argparse.Namespace, signal: np.ndarray | None, file_sigma: np.ndarray | None,
           source: str) -> np.ndarray:
    """sigma per observed output (C,): --sigma, else --snr (or the file's sigma, else 25 dB) of ``signal`` (..., C)."""
    if args.sigma is not None and args.snr is not None:
        raise DgnoError("give --sigma or --snr, not both")
    if args.sigma is not None:
        check_sigma(args.sigma, source="--sigma")
        return np.array([float(args.sigma)])
    if args.snr is not None:
        check_snr(args.snr)
    elif file_sigma is not None:
        for value in file_sigma:
            check_sigma(float(value), source=source)
        return np.asarray(file_sigma, dtype=float)
    if signal is None:
        raise DgnoError(f"{source}: give --sigma or --snr for the noise of these observations")
    return sigma_from_snr(signal, 25.0 if args.snr is None else args.snr)


def observations(args: argparse.Namespace, ds, problem) -> tuple[Observations, Truth | None]:
    """The observations of one inversion (drawn from instance --index of ``ds``, or read from --obs), the truth."""
    rng = np.random.default_rng(args.seed)
    names = tuple(o.name for o in problem.outputs)
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
        sigma = _noise(args, f.y, f.sigma, source)
        return Observations(x=f.x, y=f.y, sigma=sigma, source=source, outputs=f.outputs), truth
    if ds is None:
        raise DgnoError("give --data (an instance to observe) or --obs (your measurements)")
    if truth.u is None:
        raise DgnoError(f"{args.data}: has no solutions u to draw observations from; give --obs")
    where = window(args, problem.domain)
    observed, u = names, truth.u
    if args.observe is not None:  # a subset of the outputs: their components of u only
        observed = tuple(n.strip() for n in args.observe.split(",") if n.strip())
        unknown = [n for n in observed if n not in names]
        if not observed or unknown or len(set(observed)) != len(observed):
            raise DgnoError(f"--observe {args.observe!r}: give distinct outputs among {', '.join(names)}")
        columns = as_components(truth.u, ds.grid_u)[:, [names.index(n) for n in observed]]  # (n_nodes, C')
        u = columns.reshape(*ds.grid_u, len(observed))
    sigma = _noise(args, as_components(u, ds.grid_u), None, "--snr")
    source = f"{args.data}[{args.index}]"
    if args.obs_at == "nodes":
        candidates = free_nodes(problem, ds.x_u, window=where)
        return draw_at_nodes(ds.x_u, u, args.n_obs, sigma, rng, candidates=candidates, outputs=observed,
                             source=source), truth
    return draw_at_points(ds.x_u, u, args.n_obs, sigma, rng, domain=problem.domain, window=where,
                          outputs=observed, source=source), truth


def physics_solver(model, preset_name: str | None):
    """The reference re-solve of the data's preset for the physics check, or None (no preset, or not a known one)."""
    import torch

    from dgno.config import get_preset
    from dgno.inverse.physics_check import reference_solve

    if not preset_name:
        return None
    try:
        preset = get_preset(preset_name)
    except DgnoError:
        return None
    two_phase = model.likelihood.phase_prob(torch.zeros(1)) is not None  # phases: nodal a is piecewise constant
    return reference_solve(preset, model.x_a.detach().cpu().double().numpy(), piecewise_constant=two_phase)


def run_invert(args: argparse.Namespace) -> dict:
    from dataclasses import replace

    if args.method == "reference":  # no trained model: the prior and the solver of the data's preset
        from dgno.inverse.reference import run_reference

        return run_reference(args)
    if args.run is None:
        raise DgnoError("give the run folder written by 'dgno train' (only --method reference needs none)")

    import torch

    from dgno.config.build import weak_layout, weak_options
    from dgno.config.runs import check_compatible, load_run
    from dgno.evaluate.plots import plot_inversion
    from dgno.inverse.calibration import calibrate
    from dgno.reference.dataset import load_h5, write_text_atomic

    settings = InverseSettings(
        method=args.method, draws=args.draws or (250 if args.method == "nuts" else 500), warmup=args.warmup,
        chains=args.chains, seed=args.seed, pde_weight=args.pde_weight, pde_temperature=args.pde_temperature,
        model_error="off" if args.no_model_error else args.model_error,
        max_tree_depth=args.max_tree_depth, physics_check=args.physics_check, quadrature=args.quadrature,
        quadrature_n=args.quadrature_n, **posterior_options(args))
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, model, ck = load_run(args.run, checkpoint=args.checkpoint)
    if cfg.model.kind != "dgno":
        raise DgnoError(f"{args.run}: a {cfg.model.kind} run has no generative latent to invert; "
                        "only model.kind=dgno runs can be inverted")
    ds = None
    if args.data is not None:
        ds = load_h5(args.data)
        check_compatible(model, ds, ck, str(args.data))
    obs, truth = observations(args, ds, model.problem)
    preset = (ds.attrs.get("preset") if ds is not None else None) or ck.get("data_preset") or cfg.data.preset
    family = args.prior == "family"
    cal = calibrate(model, run=args.run, checkpoint=args.checkpoint, prior=None if family else args.prior,
                    data_dir=args.calibration_data or cfg.data.dir, latent_fit=settings.model_error_from == "latent")
    if family:  # the model error of the calibration, the prior on the input family's parameters
        cal = replace(cal, prior=family_prior(preset, model))
    if ds is not None and (ds.x_u.shape != cal.x_u.shape or not np.allclose(ds.x_u, cal.x_u, atol=1e-9)):
        raise DgnoError(f"{args.data}: its solution grid {ds.x_u.shape} differs from the run's validation data "
                        f"{cal.x_u.shape}")
    options = weak_options(cfg)
    options = replace(options, quadrature=args.quadrature or options.quadrature,
                      quadrature_n=args.quadrature_n or options.quadrature_n)
    layout = weak_layout(cfg, model.problem, options=options)
    resolve = physics_solver(model, preset) if settings.physics_check else None
    t0 = time.perf_counter()
    (result,) = invert(model, layout, cal, [obs], [truth], settings, resolve=resolve, progress=args.progress)
    wall = time.perf_counter() - t0
    result.summary.update({
        "run": str(args.run), "checkpoint": args.checkpoint, "step": ck.get("step"), "data": args.data,
        "index": args.index if ds is not None else None, "observations": obs.source, "snr_db": args.snr,
        "observed": list(obs.outputs),
        "obs_window": {"min": parse_bounds(args.obs_min, "--obs-min"), "max": parse_bounds(args.obs_max, "--obs-max")},
        "prior": cal.prior.kind, "settings": dict(vars(settings)), "wall_seconds": wall,
    })
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_a = model.x_a.cpu().numpy()
    write_posterior(result, out / "posterior.h5", x_a=x_a, x_u=cal.x_u, attrs={"run": str(args.run)})
    label = truth.label if truth is not None else obs.source
    plot_inversion(x_a, cal.x_u, result.fields, obs.x, out / "inversion.png",
                   true_a=truth.a if truth is not None else None, true_u=truth.u if truth is not None else None,
                   names=model.output_names, obs_y=obs.y, axis_names=model.problem.domain.names,
                   title=f"{label}: {len(obs)} observations, {settings.method}")
    write_text_atomic(out / "summary.json", json.dumps(result.summary, indent=2) + "\n")
    return result.summary


def print_summary(s: dict) -> None:
    keys = ["a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "coverage90_a", "ess_min",
            "rhat_max", "model_error_u_mean", "seconds"]
    print(", ".join(f"{k} {s[k]:.4g}" for k in keys if isinstance(s.get(k), float | int)))
