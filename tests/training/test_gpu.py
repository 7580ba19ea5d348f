"""CUDA checks: a training step, the CUDA-graph step, every baseline and the inversion agree with the CPU in
float64. Marked ``gpu`` and skipped without CUDA (run with ``pytest -m gpu`` on a machine with a GPU)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dgno.bench import method_config
from dgno.config import get_preset
from dgno.config.build import make_model, run_training, weak_layout
from dgno.config.schema import METHODS, load_config
from dgno.reference import SplitCounts, generate
from dgno.training import load_checkpoint
from dgno.training.data import load_training_data
from dgno.training.loop import to_device
from dgno.training.step import TrainStep

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CUDA = torch.device("cuda")
CPU = torch.device("cpu")
F64 = torch.float64
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "compare"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_pwc")
    generate(get_preset("darcy-pwc"), out, counts=SplitCounts(train=8, val=4, test=3, ood=1), seed=0)
    return out


def _tiny(method: str) -> list[str]:
    from support import tiny  # the suite's tiny sizes per method

    return tiny(method)


def _model(method: str, data_dir, *extra):
    cfg = load_config(method_config(CONFIGS, "darcy-pwc", method),
                      [*_tiny(method), f"data.dir={data_dir}", *extra])
    data = load_training_data(data_dir, preset="darcy-pwc", n_train=None, n_labeled=cfg.data.n_labeled)
    model = make_model(cfg, data, seed=0)
    if method == "dgno":
        with torch.no_grad():  # nonzero output weights, so that every parameter has a gradient at step 1
            for net in [*model.decoders.values(), model.a_decoder]:
                net.w.normal_(0.0, 0.5)
    return cfg, data, model


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _steps(model, cfg, data, device, steps, points_list, noise_list, *, graph=False):
    model = to_device(copy.deepcopy(model), device, F64)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)  # the graph must see the lr change
    stepper = TrainStep(model, opt, sched, cuda_graph=graph)
    idx = torch.arange(4)
    a = data.a[idx].to(device, F64)
    u = data.u[idx].to(device, F64) if data.u is not None else None
    labeled = data.labeled[idx].to(device) if data.u is not None else None
    x_u = data.x_u.to(device, F64)
    losses = []
    for k in range(steps):
        points = None if points_list is None else _to(points_list[k], device)
        extra = {} if noise_list is None else {"noise": noise_list[k].to(device)}
        out = stepper(a, points, u=u, labeled=labeled, x_u=x_u, **extra)
        losses.append(out.total.detach().clone())
    return torch.stack(losses), {k: v.detach() for k, v in model.named_parameters()}, stepper


def _to(points, device):
    from dataclasses import fields, replace

    return replace(points, **{f.name: (getattr(points, f.name).to(device)
                                       if torch.is_tensor(getattr(points, f.name))
                                       else {k: v.to(device) for k, v in getattr(points, f.name).items()})
                              for f in fields(points)})


def _points(cfg, model, steps):
    if not getattr(model, "uses_weak_points", True):
        return None
    layout = weak_layout(cfg, model.problem)
    gen = torch.Generator().manual_seed(1)
    return [layout.sample(gen, dtype=F64) for _ in range(steps)]


def test_gpu_training_step_matches_cpu_in_float64(data_dir):
    cfg, data, model = _model("dgno", data_dir)
    points = _points(cfg, model, 4)
    cpu = _steps(model, cfg, data, CPU, 4, points, None)
    gpu = _steps(model, cfg, data, CUDA, 4, points, None)
    assert _rel(gpu[0], cpu[0]) < 1e-10
    for k in cpu[1]:
        assert _rel(gpu[1][k], cpu[1][k]) < 1e-8, k


def test_gpu_cuda_graph_step_equals_the_eager_step(data_dir):
    """Replays of the captured step (with the lr halved every 2 steps) give the eager step's losses and
    parameters; the warm-up of the capture leaves no trace."""
    cfg, data, model = _model("dgno", data_dir)
    points = _points(cfg, model, 6)
    eager = _steps(model, cfg, data, CUDA, 6, points, None)
    graph = _steps(model, cfg, data, CUDA, 6, points, None, graph=True)
    assert graph[2].graphed, "the step was not captured"
    # a capturable Adam keeps its step counts (hence its bias corrections) in float32 on the device, where the
    # eager one computes them in Python floats: measured 2.2e-7 on an H200, against 3e-3 for a wrong lr step
    assert _rel(graph[0], eager[0]) < 2e-6
    for k in eager[1]:
        assert _rel(graph[1][k], eager[1][k]) < 1e-4, k


def test_gpu_cuda_graph_step_of_a_variational_encoder_reads_the_noise(data_dir):
    cfg, data, model = _model("dgno", data_dir, "model.encoder.variational=true")
    assert model.noise_dim > 0
    points = _points(cfg, model, 4)
    gen = torch.Generator().manual_seed(2)
    noise = [torch.randn(4, model.noise_dim, generator=gen, dtype=F64) for _ in range(4)]
    eager = _steps(model, cfg, data, CUDA, 4, points, noise)
    graph = _steps(model, cfg, data, CUDA, 4, points, noise, graph=True)
    assert graph[2].graphed
    assert _rel(graph[0], eager[0]) < 2e-6  # float32 bias corrections of a capturable Adam (see above)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "dgno"])
def test_gpu_every_baseline_matches_cpu_in_float64(method, data_dir):
    if method == "neuralop-fno":
        pytest.importorskip("neuralop")
    cfg, data, model = _model(method, data_dir)
    cpu = _steps(model, cfg, data, CPU, 3, None, None)
    gpu = _steps(model, cfg, data, CUDA, 3, None, None)
    assert _rel(gpu[0], cpu[0]) < 1e-9, (method, gpu[0], cpu[0])
    for k in cpu[1]:
        assert _rel(gpu[1][k], cpu[1][k]) < 1e-7, (method, k)


def test_gpu_inversion_density_and_gradient_match_cpu(data_dir, tmp_path):
    from dgno.config.runs import load_run
    from dgno.inverse.observations import draw_at_nodes, free_nodes
    from dgno.inverse.posterior import LatentPosterior
    from dgno.inverse.prior import standard_prior
    from dgno.reference import load_h5

    cfg = load_config(None, [*_tiny("dgno"), f"data.dir={data_dir}", "data.preset=darcy-pwc", "train.steps=6",
                             "train.device=cpu"])
    run_training(cfg, tmp_path / "run", progress=False)
    cfg, model, _ = load_run(tmp_path / "run")
    ds = load_h5(data_dir / "test.h5")
    obs = draw_at_nodes(ds.x_u, ds.u[0], 10, 0.002, np.random.default_rng(0),
                        candidates=free_nodes(model.problem, ds.x_u), source="t")
    pts = weak_layout(cfg, model.problem).sample(torch.Generator().manual_seed(0), dtype=F64)
    theta0 = torch.randn(3, 1, cfg.model.latent_dim, dtype=F64, generator=torch.Generator().manual_seed(0))
    values = []
    for device in (CPU, CUDA):
        m = to_device(copy.deepcopy(model), device, F64)
        x = torch.tensor(obs.x[None], device=device, dtype=F64)
        y = torch.tensor(obs.y[None], device=device, dtype=F64)
        prior = standard_prior(cfg.model.latent_dim).to(device=device)
        post = LatentPosterior(m, prior, x, y, torch.full_like(y, 0.002**2), _to(pts, device), pde_weight=1.0)
        theta = theta0.to(device).requires_grad_(True)
        logp = post.log_prob(theta).sum()
        (grad,) = torch.autograd.grad(logp, theta)
        values.append((logp.detach(), grad))
    (cpu_logp, cpu_grad), (gpu_logp, gpu_grad) = values
    assert _rel(gpu_logp, cpu_logp) < 1e-10
    assert _rel(gpu_grad, cpu_grad) < 1e-8


def test_gpu_dgno_train_replays_a_cuda_graph_and_resumes(data_dir, tmp_path):
    base = [*_tiny("dgno"), f"data.dir={data_dir}", "data.preset=darcy-pwc", "train.device=cuda",
            "train.cuda_graph=true", "train.checkpoint_every=3"]
    straight = run_training(load_config(None, [*base, "train.steps=8"]), tmp_path / "straight", progress=False)
    assert straight["cuda_graph"] is True and straight["steps"] == 8
    run_training(load_config(None, [*base, "train.steps=3"]), tmp_path / "resumed", progress=False)
    run_training(load_config(None, [*base, "train.steps=8"]), tmp_path / "resumed", resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    for k in a:
        assert _rel(b[k], a[k]) < 1e-5, k  # float32 on the GPU; the same draws and steps
    rows = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == sorted({r["step"] for r in rows if "loss" in r})
