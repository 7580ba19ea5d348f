"""`dgno invert`: one instance, from a data set's instance or the user's own measurements."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dgno.errors import DgnoError
from dgno.inverse.observations import (
    Observations,
    check_sigma,
    check_snr,
    draw_at_nodes,
    draw_at_points,
    read_observations,
    sigma_from_snr,
)
from dgno.inverse.run import InverseSettings, Truth, invert, write_posterior


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder written by 'dgno train'")
    p.add_argument("--data", default=None, help="split file (.h5) holding the instance (truth and grid)")
    p.add_argument("--index", type=int, default=0, help="instance of --data to invert")
    p.add_argument("--obs", default=None, help="your measurements: CSV (columns x,y,u[,sigma]) or HDF5 (x, u)")
    p.add_argument("--n-obs", type=int, default=100, help="observations drawn from the instance (without --obs)")
    p.add_argument("--obs-at", default="nodes", choices=["nodes", "points"],
                   help="draw observations at random interior grid nodes, or at free random points "
                        "(their truth from a fine reference solve)")
    p.add_argument("--snr", type=float, default=None, help="noise from a signal-to-noise ratio in dB (default 25)")
    p.add_argument("--sigma", type=float, default=None, help="noise standard deviation (instead of --snr)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder: summary.json, posterior.h5, inversion.png")
    p.add_argument("--method", default="nuts", choices=["nuts", "map"])
    p.add_argument("--draws", type=int, default=None, help="draws per chain (nuts, default 250) or in all (map, 500)")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--max-tree-depth", type=int, default=8)
    p.add_argument("--pde-weight", type=float, default=1.0, help="weight w of the PDE virtual observables")
    p.add_argument("--prior", default=None, choices=["fitted", "standard", "box"],
                   help="latent prior (default: fitted for tanh encoders, standard for Gaussian encoders)")
    p.add_argument("--no-model-error", action="store_true",
                   help="do not add the forward model's validation error to the noise variance")
    p.add_argument("--physics-check", type=int, default=8, help="posterior draws re-solved with the reference solver")
    p.add_argument("--quadrature", default=None, choices=["grid", "gauss"],
                   help="quadrature of the virtual observables (default: the training's)")
    p.add_argument("--quadrature-n", type=int, default=None, help="its size (default: the training's)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--calibration-data", default=None, help="data folder with the run's train/val splits")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--progress", action="store_true", help="show the sampler's progress bar")


def _noise(args: argparse.Namespace, u_signal: np.ndarray | None, file_sigma: float | None, source: str) -> float:
    if args.sigma is not None and args.snr is not None:
        raise DgnoError("give --sigma or --snr, not both")
    if args.sigma is not None:
        check_sigma(args.sigma, source="--sigma")
        return float(args.sigma)
    if args.snr is not None:
        check_snr(args.snr)
    elif file_sigma is not None:
        check_sigma(file_sigma, source=source)
        return float(file_sigma)
    snr = 25.0 if args.snr is None else args.snr
    if u_signal is None:
        raise DgnoError(f"{source}: give --sigma or --snr for the noise of these observations")
    return sigma_from_snr(u_signal, snr)


def fine_truth_at(ds, index: int, x: np.ndarray) -> np.ndarray:
    """The noise-free u of instance ``index`` at free points x (K, 2), from a fine reference solve."""
    from scipy.interpolate import RegularGridInterpolator

    from dgno.reference.verify import solve_nodal

    name = ds.attrs.get("preset")
    u_fine = solve_nodal(name, ds.a[index], fine=True) if name else None
    if u_fine is None:
        raise DgnoError("--obs-at points needs a data file of a known preset (to re-solve the instance)")
    t = np.linspace(0.0, 1.0, u_fine.shape[0])
    return RegularGridInterpolator((t, t), u_fine, method="cubic")(x)


def observations(args: argparse.Namespace, ds) -> tuple[Observations, Truth | None]:
    rng = np.random.default_rng(args.seed)
    truth = None
    if ds is not None:
        if not 0 <= args.index < len(ds):
            raise DgnoError(f"--index {args.index} is out of range for {args.data} ({len(ds)} instances)")
        truth = Truth(ds.a[args.index], ds.u[args.index] if ds.u is not None else None,
                      f"{Path(args.data).name}[{args.index}]")
    if args.obs is not None:
        x, y, file_sigma = read_observations(args.obs)
        source = str(args.obs)
        Observations(x=x, y=y, sigma=1.0, source=source)  # checks points and values before the noise
        sigma = _noise(args, y, file_sigma, source)
        return Observations(x=x, y=y, sigma=sigma, source=source), truth
    if ds is None:
        raise DgnoError("give --data (an instance to observe) or --obs (your measurements)")
    if truth.u is None:
        raise DgnoError(f"{args.data}: has no solutions u to draw observations from; give --obs")
    sigma = _noise(args, truth.u, None, "--snr")
    source = f"{args.data}[{args.index}]"
    if args.obs_at == "nodes":
        return draw_at_nodes(ds.x_u, truth.u, args.n_obs, sigma, rng, source=source), truth
    if args.n_obs < 1:
        raise DgnoError(f"--n-obs must be >= 1, got {args.n_obs}")
    x = rng.uniform(0.0, 1.0, size=(args.n_obs, ds.x_u.shape[-1]))
    return draw_at_points(x, fine_truth_at(ds, args.index, x), sigma, rng, source=source), truth


def run_invert(args: argparse.Namespace) -> dict:
    import torch

    from dgno.evaluate.plots import plot_inversion
    from dgno.inverse.calibration import calibrate
    from dgno.reference.dataset import load_h5, write_text_atomic
    from dgno.train.run import check_compatible, load_run

    settings = InverseSettings(
        method=args.method, draws=args.draws or (250 if args.method == "nuts" else 500), warmup=args.warmup,
        chains=args.chains, seed=args.seed, pde_weight=args.pde_weight, model_error=not args.no_model_error,
        max_tree_depth=args.max_tree_depth, physics_check=args.physics_check, quadrature=args.quadrature,
        quadrature_n=args.quadrature_n)
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
    obs, truth = observations(args, ds)
    cal = calibrate(model, cfg, run=args.run, checkpoint=args.checkpoint, prior=args.prior,
                    data_dir=args.calibration_data)
    preset = (ds.attrs.get("preset") if ds is not None else None) or ck.get("data_preset")
    t0 = time.perf_counter()
    (result,) = invert(model, cfg, cal, [obs], [truth], settings, preset=preset, progress=args.progress)
    wall = time.perf_counter() - t0
    result.summary.update({
        "run": str(args.run), "checkpoint": args.checkpoint, "step": ck.get("step"), "data": args.data,
        "index": args.index if ds is not None else None, "observations": obs.source, "snr_db": args.snr,
        "prior": cal.prior.kind, "settings": {k: v for k, v in vars(settings).items()}, "wall_seconds": wall,
    })
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_a = model.x_a.cpu().numpy()
    write_posterior(result, out / "posterior.h5", x_a=x_a, x_u=cal.x_u, attrs={"run": str(args.run)})
    label = truth.label if truth is not None else obs.source
    plot_inversion(x_a, cal.x_u, result.fields, obs.x, out / "inversion.png",
                   true_a=truth.a if truth is not None else None, true_u=truth.u if truth is not None else None,
                   title=f"{label}: {len(obs)} observations, {settings.method}")
    write_text_atomic(out / "summary.json", json.dumps(result.summary, indent=2) + "\n")
    return result.summary


def print_summary(s: dict) -> None:
    keys = ["a_rel_l2", "u_rel_l2", "phase_error_rate", "coverage90_u", "coverage95_u", "ess_min", "rhat_max",
            "model_error_u_mean", "seconds"]
    print(", ".join(f"{k} {s[k]:.4g}" for k in keys if isinstance(s.get(k), float | int)))
