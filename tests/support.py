"""Helpers shared by the test files (sizes, known-answer problems); fixtures live in conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dgno.inverse.prior import standard_prior

# a DGNO small enough to train in a second: every test of training, resume, inversion and the API uses it
TINY = [
    "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
    "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
    "physics.particles=12", "train.batch_size=4", "train.val_every=3", "train.checkpoint_every=3",
    "train.log_every=1", "train.lr=1e-3", "train.threads=1",
]

# the tiny model checkpointing every step, so that a run resumed one step at a time sees every average (EMA tests)
TINY_EMA = [*TINY, "train.batch_size=3", "train.checkpoint_every=1", "train.lr=1e-2", "train.device=cpu",
            "train.steps=4", "train.step_size=10", "train.ema=0.8"]


class GaussianPosterior:
    """log p(theta) of B independent Gaussians N(mean_b, cov_b): the sampler's interface, known answer."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor) -> None:
        self.mean, self.cov, self.prec = mean, cov, torch.linalg.inv(cov)
        self.prior = standard_prior(mean.shape[-1])
        self.n_instances, self.dim = mean.shape

    def log_prob(self, theta):
        r = theta - self.mean
        return -0.5 * torch.einsum("...bi,bij,...bj->...b", r, self.prec, r)

    def potential(self, theta):
        return -self.log_prob(theta).sum()


def gaussian_problem(correlated: bool = True) -> GaussianPosterior:
    """Two 3-D Gaussians: a strongly correlated one (or an axis-aligned one) and an axis-aligned one."""
    mean = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.3, -0.7]], dtype=torch.float64)
    a = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [-0.5, 0.2, 0.1]], dtype=torch.float64)
    first = a @ a.T if correlated else torch.diag(torch.tensor([1.0, 0.3, 2.0], dtype=torch.float64))
    cov = torch.stack([first, torch.diag(torch.tensor([0.5, 2.0, 0.05], dtype=torch.float64))])
    return GaussianPosterior(mean, cov)


def moment_errors(chains: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """The errors of the draws' first and second moments in units of their Monte Carlo standard errors.

    chains (C, S, d) of a posterior with known ``mean`` and ``cov``: for every coordinate the mean, and for every
    pair (i, j) the mean of q_ij = (x_i - m_i)(x_j - m_j) / (sd_i sd_j), whose expectation is the correlation. Each
    estimate's MCSE comes from ArviZ's ESS of that quantity (not of the coordinates: a sampler whose draws are
    antithetic for the mean, ESS > S, can be far less efficient for the second moments), so the bound is the
    sampling error these draws face, not a number that holds on one machine and not another."""
    import arviz as az

    sd = np.sqrt(np.diag(cov))
    z = (chains - mean) / sd  # (C, S, d)
    quantities = [z[..., i] for i in range(len(mean))]
    targets = [0.0] * len(mean)
    for i in range(len(mean)):
        for j in range(i, len(mean)):
            quantities.append(z[..., i] * z[..., j])
            targets.append(cov[i, j] / (sd[i] * sd[j]))
    return np.array([abs(q.mean() - t) / float(az.mcse(q, method="mean"))
                     for q, t in zip(quantities, targets, strict=True)])


def tiny_posterior(run, data, *, pde_weight=1.0, b=2, dtype=torch.float64):
    """The latent posterior of b test instances of a tiny run, 10 observations each (standard prior)."""
    from dgno.config.build import weak_layout
    from dgno.config.runs import load_run
    from dgno.inverse.observations import draw_at_nodes, free_nodes
    from dgno.inverse.posterior import LatentPosterior
    from dgno.reference import load_h5

    cfg, model, _ = load_run(run)
    model.to(dtype)
    ds = load_h5(data / "test.h5")
    free = free_nodes(model.problem, ds.x_u)
    obs = [draw_at_nodes(ds.x_u, ds.u[i], 10, 0.002, np.random.default_rng(i), candidates=free, source="t")
           for i in range(b)]
    pts = weak_layout(cfg, model.problem).sample(torch.Generator().manual_seed(0), dtype=dtype)
    x = torch.tensor(np.stack([o.x for o in obs]))
    y = torch.tensor(np.stack([o.y for o in obs]))
    var = torch.full_like(y, 0.002**2)
    prior = standard_prior(cfg.model.latent_dim)
    return LatentPosterior(model, prior, x, y, var, pts, pde_weight=pde_weight), model, pts, obs


def invert_cli(run, data, out, *extra):
    """`dgno invert RUN --data test.h5 --index 1` with 12 observations at 25 dB, one thread."""
    from dgno.cli import main

    return main(["invert", str(run), "--data", str(data / "test.h5"), "--index", "1", "--n-obs", "12",
                 "--snr", "25", "--seed", "0", "--out", str(out), "--threads", "1", *extra])


# ------------------------------------------------------------------------------------ the baselines' sizes
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "compare"
# small networks, every step logged, no time-based validation, one thread
TINY_COMMON = ["train.batch_size=4", "train.val_every=10", "train.log_every=1", "train.threads=1",
               "train.max_minutes=null", "train.val_seconds=null", "train.compile=false", "train.checkpoint_every=10"]
TINY_BY_FAMILY = {
    "dgno": ["model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12", "model.field.depth=3",
             "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3", "model.a_decoder.n_sum=2",
             "physics.particles=12", "train.lr=1e-3"],
    "onet": ["model.latent_dim=16", "model.encoder.channels=[1,8,8]", "model.encoder.fc=[16]",
             "model.field.width=16", "model.field.depth=3"],
    "fno": ["model.fno.modes=4", "model.fno.width=8", "model.fno.layers=2", "model.fno.proj=16"],
}


def tiny(method: str) -> list[str]:
    from dgno.config.schema import PHYSICS_METHODS

    family = "dgno" if method == "dgno" else "fno" if "fno" in method or method == "pino" else "onet"
    extra = [] if method in PHYSICS_METHODS else ["data.n_labeled=8"]
    if family == "onet":
        extra.append(f"model.field.n_sum={1 if 'deeponet' in method else 2}")
    return [*TINY_COMMON, *TINY_BY_FAMILY[family], *extra]



def tiny_configs(tmp_path: Path, methods, *, preset: str = "darcy-pwc", overrides=None,
                 val_seconds: float | None = 0.2) -> Path:
    """A configs folder (for ``dgno bench --configs``) with the repository's configs of ``methods`` for ``preset``,
    shrunk by ``overrides(method)`` (default: the tiny Darcy overrides without the labeled count, which the bench
    sets), validating every ``val_seconds`` when given."""
    import yaml

    from dgno.bench import method_config
    from dgno.config.schema import apply_overrides

    if overrides is None:
        overrides = lambda m: [o for o in tiny(m) if not o.startswith("data.n_labeled")]  # noqa: E731
    root = tmp_path / "configs"
    (root / preset).mkdir(parents=True)
    for m in methods:
        data = yaml.safe_load(method_config(CONFIGS, preset, m).read_text())
        data = apply_overrides(data, overrides(m))
        if val_seconds is not None:
            data["train"]["val_seconds"] = val_seconds
        (root / preset / f"{m}.yaml").write_text(yaml.safe_dump(data))
    return root


