"""The Stokes problem (dgno.pdes.stokes): residuals of an exact Stokes flow vanish and those of a wrong one do not;
particles stay in the fluid; boundary points lie on their parts; the model trains on it end to end."""

from __future__ import annotations

import math

import pytest
import torch

from dgno.config.build import build_model, weak_layout
from dgno.config.schema import load_config
from dgno.nn.multionet import Jet
from dgno.pdes.stokes import CENTER, MU, RADIUS, Stokes, in_fluid, velocity_gradient
from dgno.weak import WeakOptions

U0 = 1.5  # Poiseuille centre-line speed


def poiseuille(x: torch.Tensor, *, mu: float = MU, wrong: str = "") -> dict[str, Jet]:
    """The exact Stokes flow u = 4 U0 y (1 - y), v = 0, p = -8 mu U0 x as the problem's fields at points (..., 2):
    psi = U0 (2 y^2 - 4 y^3 / 3), s = -p I + mu (grad u + grad u^T). ``wrong`` perturbs one field."""
    X, Y = x[..., 0], x[..., 1]
    psi = U0 * (2 * Y**2 - 4 * Y**3 / 3)
    grad = torch.stack([torch.zeros_like(Y), U0 * (4 * Y - 4 * Y**2)], dim=-1)
    hess = torch.zeros(*x.shape[:-1], 2, 2, dtype=x.dtype)
    hess[..., 1, 1] = U0 * (4 - 8 * Y)
    p = -8 * mu * U0 * X
    if wrong == "pressure":
        p = p + 0.1 * X  # a pressure gradient the velocity does not balance
    s12 = mu * U0 * (4 - 8 * Y)
    if wrong == "shear":
        s12 = 2 * s12
    return {"psi": Jet(psi, grad, hess), "p": Jet(p, None, None), "s11": Jet(-p, None, None),
            "s22": Jet(-p, None, None), "s12": Jet(s12, None, None)}


def _points(problem: Stokes, seed: int = 0, particles: int = 60):
    options = WeakOptions(particles=particles, r_min=0.02, r_max=0.05, quadrature="gauss", quadrature_n=6)
    return problem.weak_layout(options).sample(torch.Generator().manual_seed(seed), dtype=torch.float64)


def _batch(jets: dict[str, Jet]) -> dict[str, Jet]:
    """Add the batch axis: (P, Q, ...) -> (1, P, Q, ...)."""
    return {k: Jet(*(None if t is None else t[None] for t in j)) for k, j in jets.items()}


def test_stokes_residuals_of_an_exact_flow_vanish_and_of_a_wrong_one_do_not():
    problem = Stokes()
    pts = _points(problem)
    exact = problem.residuals(_batch(poiseuille(pts.x)), None, pts)
    for term in ("weak", "constitutive", "trace"):
        assert exact[term].shape == (1,)
        assert exact[term].item() < 1e-20, (term, exact[term])
    wrong_p = problem.residuals(_batch(poiseuille(pts.x, wrong="pressure")), None, pts)
    # the stress follows the wrong pressure (law and trace hold) but is no longer balanced: div s = (-0.1, 0)
    assert wrong_p["weak"].item() > 1e-6 and wrong_p["constitutive"].item() < 1e-20
    wrong_s = problem.residuals(_batch(poiseuille(pts.x, wrong="shear")), None, pts)
    assert wrong_s["weak"].item() > 1e-6 and wrong_s["constitutive"].item() > 1e-6  # div s != 0 weakly
    # another viscosity: the law is broken, the momentum balance of the stress is not
    other_mu = Stokes(mu=2 * MU).residuals(_batch(poiseuille(pts.x)), None, pts)
    assert other_mu["constitutive"].item() > 1e-6 and other_mu["weak"].item() < 1e-20


def test_stokes_velocity_from_the_stream_function_is_divergence_free():
    psi = Jet(None, None, torch.randn(5, 7, 2, 2, dtype=torch.float64))
    psi = Jet(None, None, psi.hess + psi.hess.transpose(-1, -2))  # a Hessian is symmetric
    u_x, _, _, v_y = velocity_gradient(psi)
    torch.testing.assert_close(u_x + v_y, torch.zeros_like(u_x))


def test_stokes_particles_stay_in_the_fluid_and_boundary_points_lie_on_their_parts():
    problem = Stokes(boundary_points=200)
    pts = _points(problem, seed=3, particles=300)
    x = pts.x.reshape(-1, 2)
    assert bool(in_fluid(x).all()) and bool(((x >= 0) & (x <= torch.tensor([2.0, 1.0]))).all())
    centres = pts.x.mean(1)  # (P, 2): balls avoid the cylinder, so some centres sit near it on every side
    near = ((centres - torch.tensor(CENTER, dtype=x.dtype)).norm(dim=-1) - RADIUS) < 0.1
    assert int(near.sum()) >= 3
    b = pts.boundary
    assert set(b) == {"inflow", "outflow", "wall"} and all(v.shape == (200, 2) for v in b.values())
    assert bool((b["inflow"][:, 0] == 0).all()) and bool((b["outflow"][:, 0] == 2).all())
    w = b["wall"]
    on_circle = ((w - torch.tensor(CENTER, dtype=w.dtype)).norm(dim=-1) - RADIUS).abs() < 1e-12
    on_walls = (w[:, 1] == 0) | (w[:, 1] == 1)
    assert bool((on_circle | on_walls).all())
    share = on_circle.double().mean().item()  # in proportion to the lengths: 0.63 / 4.63
    assert abs(share - 2 * math.pi * RADIUS / (4 + 2 * math.pi * RADIUS)) < 0.02


def test_stokes_boundary_terms_of_an_exact_channel_flow():
    """Poiseuille flow is no-slip on the channel walls (not on the cylinder), has v = 0 at the inflow, and its
    pressure does not vanish at the outflow (-p + mu u_x = 16 mu U0 != 0): each term sees exactly that; with the
    pressure shifted to vanish at x = 2 the outflow term is zero too."""
    problem = Stokes(boundary_points=64)
    b = _points(problem).boundary
    fields = {part: _batch(poiseuille(xb)) for part, xb in b.items()}
    terms = problem.boundary_residuals(fields, None)
    assert terms["inflow"].item() == 0.0
    assert terms["outflow"].item() > 1e-6
    walls = b["wall"]
    on_walls = (walls[:, 1] == 0) | (walls[:, 1] == 1)
    lines_only = problem.boundary_residuals({**fields, "wall": _batch(poiseuille(walls[on_walls]))}, None)
    assert lines_only["wall"].item() < 1e-24 and terms["wall"].item() > 1e-3
    shifted = _batch(poiseuille(b["outflow"]))
    shifted["p"] = Jet(shifted["p"].value + 16 * MU * U0, None, None)  # p = 8 mu U0 (2 - x): zero at x = 2
    assert problem.boundary_residuals({**fields, "outflow": shifted}, None)["outflow"].item() < 1e-30


STOKES_TINY = [
    "physics.pde=stokes", "model.latent_dim=8", "model.encoder.hidden=[16]", "model.field.width=12",
    "model.field.depth=3", "model.field.n_sum=2", "model.likelihood=gaussian", "physics.particles=16",
    "physics.pde_args={boundary_points: 8}",
    "physics.precisions={weak: 1.0, constitutive: 1.0, trace: 1.0, wall: 1.0, inflow: 1.0, outflow: 1.0}",
]


def test_stokes_dgno_loss_has_every_term_and_a_gradient():
    cfg = load_config(None, STOKES_TINY)
    y = torch.linspace(0, 1, 256, dtype=torch.float64)
    x_a = torch.stack([torch.zeros_like(y), y], dim=-1).float()  # (256, 2)
    a = (2 * torch.sin(math.pi * y) * (1 + torch.sin(2 * y)[None] + torch.cos(3 * y)[None])).float().repeat(3, 1)
    model = build_model(cfg, x_a=x_a, a_mean=a.mean(0), a_std=a.std(0).clamp_min(1e-3))
    assert model.output_names == ("u", "v", "p")
    points = weak_layout(cfg, model.problem).sample(torch.Generator().manual_seed(0))
    out = model.loss(a, points)
    assert set(out.parts) == {"nll_a", "weak", "constitutive", "trace", "wall", "inflow", "outflow"}
    out.total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == ["decoders.psi.b0"]  # a stream function's constant moves no output
    x_u = torch.rand(10, 2)
    pred = model.predict(a, x_u)["u"]
    assert pred.shape == (3, 10, 3)


def test_stokes_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mu must be positive"):
        Stokes(mu=0.0)
    with pytest.raises(ValueError, match="boundary_points"):
        Stokes(boundary_points=1)


def test_stokes_trains_and_inverts_the_inflow_from_downstream_velocities(tmp_path, capsys):
    """End to end on a tiny stokes-cylinder set: dgno train, then dgno invert from u, v observed at x >= 0.7 only."""
    import h5py

    from dgno.cli import main
    from dgno.config import get_preset
    from dgno.reference import SplitCounts, generate

    data = tmp_path / "data"
    generate(get_preset("stokes-cylinder"), data, counts=SplitCounts(train=6, val=3, test=2, ood=1), seed=0)
    config = tmp_path / "stokes.yaml"
    config.write_text("train:\n  seed: 0\n")
    run = tmp_path / "run"
    args = [*STOKES_TINY, f"data.dir={data}", "data.preset=stokes-cylinder", "train.steps=4", "train.batch_size=3",
            "train.val_every=2", "train.threads=1"]
    assert main(["train", str(config), *args, "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "inv"
    base = ["invert", str(run), "--data", str(data / "test.h5"), "--index", "1", "--n-obs", "20", "--snr", "25",
            "--method", "map", "--draws", "20"]
    assert main([*base, "--observe", "u,v", "--obs-min", "x=0.7", "--out", str(out)]) == 0
    with h5py.File(out / "posterior.h5") as f:
        obs = f["observations"]
        assert sorted(k for k in obs if k in ("u", "v", "p")) == ["u", "v"] and obs["x"][:, 0].min() >= 0.7
    capsys.readouterr()
    assert main([*base, "--observe", "u,q", "--out", str(tmp_path / "bad")]) == 2
    assert "--observe" in capsys.readouterr().err and not (tmp_path / "bad").exists()


# ------------------------------------------------------------------------ the reference's stress network
def _token_net(seed: int = 0):
    from dgno.nn.activations import TanhSin
    from dgno.nn.multionet import TokenMultiONet

    torch.manual_seed(seed)
    return TokenMultiONet(2, 6, 3, width=8, depth=4, n_sum=3, act_trunk=TanhSin(), act_branch=TanhSin()).double()


def test_stokes_token_multionet_is_the_reference_formula_with_exact_jets():
    from dgno.nn.multionet import OutputOf

    net = _token_net()
    x = torch.rand(5, 2, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(4, 6, dtype=torch.float64)
    jets = net.jets(x, beta, 2)
    # the reference: (1/l) sum_k einsum('nh,bmh->bnm', t_k(x), b_k(beta tokens)), then Linear(m -> out)
    t = net.trunk_features(x, 0).value  # l x (N, h)
    b, feats = beta.unsqueeze(-1), []
    for k, layer in enumerate(net.branch):
        b = net.act_branch(layer(b))
        if k >= net.depth - net.n_sum:
            feats.append(b)
    tokens = sum(torch.einsum("nh,bmh->bnm", tk, bk) for tk, bk in zip(t, feats, strict=True)) / net.n_sum
    torch.testing.assert_close(jets.value, net.head(tokens))
    for c in range(3):  # each output's gradient and Hessian against autograd
        out = OutputOf(net, c)
        j = out.jet(x, beta, 2)
        for s in range(4):
            (g,) = torch.autograd.grad(j.value[s].sum(), x, create_graph=True)
            torch.testing.assert_close(j.grad[s], g)
            rows = [torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0] for i in range(2)]
            torch.testing.assert_close(j.hess[s], torch.stack(rows, dim=-2))
    xb = x.detach().expand(4, 5, 2)
    torch.testing.assert_close(OutputOf(net, 1).jet_batch(xb, beta, 1).grad, OutputOf(net, 1).jet(x, beta, 1).grad)


def test_stokes_token_outputs_share_one_evaluation_and_the_reference_sizes_give_445499_parameters(monkeypatch):
    from dgno.nn.multionet import OutputOf

    net = _token_net()
    calls = []
    compute = net._trunk_jet_compute
    monkeypatch.setattr(net, "_trunk_jet_compute", lambda *a: calls.append(1) or compute(*a))
    x, beta = torch.rand(5, 2, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    values = [OutputOf(net, c).jet(x, beta, 0).value for c in range(3)]
    assert len(calls) == 1 and len({id(v.untyped_storage()) for v in values}) == 1
    OutputOf(net, 0).jet(x, beta.clone(), 0)  # another latent: evaluated again
    assert len(calls) == 2
    cfg = load_config("configs/stokes.yaml")
    y = torch.linspace(0, 1, 256)
    model = build_model(cfg, x_a=torch.stack([torch.zeros_like(y), y], -1), a_mean=torch.zeros(256),
                        a_std=torch.ones(256))
    assert sum(p.numel() for p in model.parameters()) == 445_499  # the reference's count (digest §2.5)
    assert model.decoders["s11"].net is model.decoders["s12"].net
