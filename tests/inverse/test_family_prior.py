"""Inversion with a prior on the parameters of a known input family (dgno.inverse.family, --prior family).

The families' torch formulas equal the numpy fields that generated the data; b = lo + (hi - lo) sigmoid(theta) under
the prior is uniform on its ranges; the posterior is differentiable in theta (gradient against finite
differences); `dgno invert --prior family` reports the parameters' posterior against the stored truth, with the
input a being the family's field of the drawn parameters; presets without a family are refused with one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from dgno.cli import main
from dgno.config import get_preset
from dgno.config.runs import load_run
from dgno.errors import DgnoError
from dgno.fields import TrigCoefficient, TrigField
from dgno.fields.base import ParametricFamily
from dgno.inverse.family import FamilyPrior, family_prior
from dgno.reference import SplitCounts, generate
from dgno.reference.stokes import InflowProfile, InflowProfileField

QUICK = Path(__file__).resolve().parents[2] / "configs" / "darcy_trig_quick.yaml"
TINY = [
    "model.latent_dim=8", "model.encoder.channels=[1,4,4,4]", "model.encoder.fc=[16]", "model.field.width=12",
    "model.field.depth=3", "model.field.n_sum=2", "model.a_decoder.width=12", "model.a_decoder.depth=3",
    "model.a_decoder.n_sum=2", "physics.particles=12", "train.batch_size=2", "train.steps=3",
    "train.val_every=3", "train.checkpoint_every=3", "train.threads=1",
]


@pytest.fixture(scope="module")
def trig_run(tmp_path_factory):
    """A tiny darcy-trig set and a 3-step run on it."""
    root = tmp_path_factory.mktemp("family")
    data = root / "data"
    generate(get_preset("darcy-trig"), data, counts=SplitCounts(train=4, val=2, test=2, ood=1), seed=0)
    run = root / "run"
    assert main(["train", str(QUICK), *TINY, f"data.dir={data}", "--out", str(run), "--quiet"]) == 0
    return data, run


@pytest.mark.parametrize(("family", "member"), [(TrigField(), TrigCoefficient), (InflowProfileField(), InflowProfile)])
def test_family_formula_is_the_generating_field(family, member):
    assert isinstance(family, ParametricFamily)
    x = torch.rand(6, 5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    b = torch.tensor([[2.0, 3.0], [4.5, 1.7]], dtype=torch.float64)
    a = family.evaluate(b, x)
    assert a.shape == (2, 6, 5)
    for i in range(2):
        np.testing.assert_allclose(a[i].numpy(), member(*b[i].tolist())(x.numpy()), atol=1e-12)


def test_parameters_are_uniform_under_the_prior_and_round_trip(trig_run):
    _, run = trig_run
    _, model, _ = load_run(run, checkpoint="last")
    prior = FamilyPrior(TrigField(), model.double())
    lo, hi = TrigField().b1_range
    b = prior.parameters(prior.sample(40_000, generator=torch.Generator().manual_seed(1)))
    assert bool(((b >= lo) & (b <= hi)).all())
    assert abs(float(b.mean()) - (lo + hi) / 2) < 0.02 * (hi - lo)
    assert abs(float(b.var()) - (hi - lo) ** 2 / 12) < 0.03 * (hi - lo) ** 2 / 12
    theta = torch.tensor([[-2.0, 0.5], [1.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(prior.inverse_parameters(prior.parameters(theta)), theta)
    # the density of theta is the uniform density of b times |db / dtheta|
    def log_jacobian(t: torch.Tensor) -> torch.Tensor:
        return torch.log((hi - lo) * torch.sigmoid(t) * torch.sigmoid(-t)).sum(-1)

    zero = torch.zeros(1, 2, dtype=torch.float64)
    torch.testing.assert_close(prior.log_prob(theta) - prior.log_prob(zero), log_jacobian(theta) - log_jacobian(zero))


def test_transform_is_the_encoder_of_the_family_field_and_differentiable(trig_run):
    _, run = trig_run
    _, model, _ = load_run(run, checkpoint="last")
    model = model.double()
    prior = FamilyPrior(TrigField(), model)
    theta = torch.tensor([[0.3, -0.7]], dtype=torch.float64, requires_grad=True)
    b = prior.parameters(theta).detach()
    a = torch.from_numpy(TrigCoefficient(*b[0].tolist())(model.x_a.detach().double().numpy()))[None]
    torch.testing.assert_close(prior.transform(theta), model.encode(a, sample=False)[0])
    x = torch.tensor([[[0.3, 0.4], [0.7, 0.2]]], dtype=torch.float64)

    def f(t: torch.Tensor) -> torch.Tensor:
        return model.outputs_at_batch(prior.transform(t), x).sum() + prior.log_prob(t).sum()

    (grad,) = torch.autograd.grad(f(theta), theta)
    h = 1e-6
    for i in range(2):
        e = torch.zeros_like(theta)
        e[0, i] = h
        with torch.no_grad():
            fd = (f(theta.detach() + e) - f(theta.detach() - e)) / (2 * h)
        assert abs(float(grad[0, i]) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_invert_with_the_family_prior_reports_the_parameters(trig_run, tmp_path):
    data, run = trig_run
    out = tmp_path / "inv"
    args = ["invert", str(run), "--data", str(data / "test.h5"), "--index", "1", "--n-obs", "30", "--snr", "25",
            "--method", "map", "--draws", "40", "--prior", "family", "--physics-check", "0", "--threads", "1",
            "--out", str(out)]
    assert main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["prior"] == "family"
    with h5py.File(data / "test.h5") as f:
        truth = {k: float(f[f"extras/{k}"][1]) for k in ("beta1", "beta2")}
    for name, entry in s["parameters"].items():
        assert entry["true"] == pytest.approx(truth[name])
        lo, hi = TrigField().parameter_ranges()[name]
        assert lo <= entry["mean"] <= hi and entry["intervals"]["0.9"][0] <= entry["intervals"]["0.9"][1]
    with h5py.File(out / "posterior.h5") as f:  # every draw's a is the family's field of its parameters
        params, a, x_a = f["samples/params"][:], f["samples/a"][:], f["x_a"][:]
    expected = TrigField().evaluate(torch.from_numpy(params), torch.from_numpy(x_a).double()).numpy()
    np.testing.assert_allclose(a, expected, atol=1e-5)


def test_a_preset_without_a_family_is_refused(trig_run, tmp_path, capsys):
    _, run = trig_run
    _, model, _ = load_run(run, checkpoint="last")
    with pytest.raises(DgnoError, match="not a parametric family"):
        family_prior(get_preset("darcy-pwc"), model)
    with pytest.raises(DgnoError, match="preset"):
        family_prior(None, model)
