"""Tests for dgno.nn: closed-form activation derivatives, forward-mode MultiONet jets against
autograd, parameter counts against the reference, encoders."""

from __future__ import annotations

import pytest
import torch

from dgno.nn import (
    ACTIVATIONS,
    GELU,
    MLP,
    CNNEncoder,
    DeepONet,
    GaussianEncoder,
    Jet,
    MLPEncoder,
    MultiONet,
    SiLU,
    SiLUId,
    SiLUSin,
    TanhSin,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small_net(*, order_act=TanhSin, weight_init: float = 0.5, seed: int = 0) -> MultiONet:
    """A small float64 MultiONet with nonzero, distinct w_k and b0."""
    torch.manual_seed(seed)
    net = MultiONet(2, 5, width=7, depth=4, n_sum=3, act_trunk=order_act(), act_branch=SiLU(), weight_init=weight_init)
    net = net.double()
    with torch.no_grad():
        net.w.add_(torch.linspace(-0.3, 0.4, net.n_sum, dtype=torch.float64))
        net.b0.fill_(0.1)
    return net


def inputs(B: int = 3, N: int = 6, d: int = 2, d_beta: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, d, generator=g, dtype=torch.float64)  # (N, d)
    beta = torch.randn(B, d_beta, generator=g, dtype=torch.float64)  # (B, d_beta)
    return x, beta


def autograd_jet(net: MultiONet, x: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Value, gradient and Hessian of forward_batch by reverse-mode autograd: x (B, N, d)."""
    x = x.detach().clone().requires_grad_(True)
    u = net.forward_batch(x, beta)  # (B, N); u[b, n] depends on x[b, n] only
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)  # (B, N, d)
    rows = [torch.autograd.grad(grad[..., i].sum(), x, retain_graph=True)[0] for i in range(x.shape[-1])]
    hess = torch.stack(rows, dim=-2)  # (B, N, d, d), hess[..., i, j] = d_j d_i u
    return u.detach(), grad.detach(), hess


# --------------------------------------------------------------------------------------------------
# activations


@pytest.mark.parametrize("name", [*ACTIVATIONS, "gelu"])
def test_activation_derivatives_match_autograd(name: str) -> None:
    act = ACTIVATIONS.get(name, GELU)()
    z = torch.linspace(-4.0, 4.0, 801, dtype=torch.float64)
    if name == "relu":
        z = z[z.abs() > 1e-3]  # the kink
    z.requires_grad_(True)
    y = act(z)
    (dy,) = torch.autograd.grad(y.sum(), z, create_graph=True)
    d2y = torch.autograd.grad(dy.sum(), z, allow_unused=True)[0] if dy.requires_grad else None
    if d2y is None:  # piecewise linear: autograd's dy does not depend on z
        d2y = torch.zeros_like(z)
    with torch.no_grad():
        torch.testing.assert_close(act.derivative(z), dy.detach(), atol=1e-10, rtol=0)
        torch.testing.assert_close(act.second_derivative(z), d2y, atol=1e-10, rtol=0)
        values = act.jet(z, 2)
        torch.testing.assert_close(values[0], y.detach(), atol=0, rtol=0)
        assert len(act.jet(z, 0)) == 1 and len(act.jet(z, 1)) == 2


def test_reference_activation_formulas() -> None:
    z = torch.linspace(-2.0, 2.0, 41, dtype=torch.float64)
    pi = torch.pi
    torch.testing.assert_close(TanhSin()(z), z + torch.tanh(torch.sin(pi * (z + 1))))
    torch.testing.assert_close(TanhSin()(z), z - torch.tanh(torch.sin(pi * z)))  # the digest's identity
    torch.testing.assert_close(SiLUSin()(z), z + torch.nn.functional.silu(torch.sin(pi * (z + 1))))
    torch.testing.assert_close(SiLUId()(z), z + torch.nn.functional.silu(z))


def test_activation_bad_order() -> None:
    with pytest.raises(ValueError, match="order"):
        TanhSin().jet(torch.zeros(3), 3)


# --------------------------------------------------------------------------------------------------
# MultiONet derivatives


@pytest.mark.parametrize("act", [TanhSin, SiLUSin, SiLUId])
def test_jet_matches_autograd_shared_and_per_sample(act) -> None:
    net = small_net(order_act=act)
    x, beta = inputs()
    B = beta.shape[0]
    xb = x.expand(B, *x.shape)  # (B, N, d)
    u, grad, hess = autograd_jet(net, xb, beta)
    for jet in (net.jet(x, beta, order=2), net.jet_batch(xb, beta, order=2)):
        torch.testing.assert_close(jet.value, u, atol=1e-12, rtol=0)
        torch.testing.assert_close(jet.grad, grad, atol=1e-6, rtol=0)
        torch.testing.assert_close(jet.hess, hess, atol=1e-6, rtol=0)
    # order 1 gives the same gradient and no Hessian
    jet1 = net.jet(x, beta, order=1)
    assert jet1.hess is None
    torch.testing.assert_close(jet1.grad, grad, atol=1e-6, rtol=0)
    jet0 = net.jet(x, beta, order=0)
    assert isinstance(jet0, Jet) and jet0.grad is None and jet0.hess is None


def test_jet_batch_distinct_points_matches_autograd() -> None:
    net = small_net()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 5, 2, generator=g, dtype=torch.float64)  # (B, N, d), different points per sample
    beta = torch.randn(4, 5, generator=g, dtype=torch.float64)
    u, grad, hess = autograd_jet(net, x, beta)
    jet = net.jet_batch(x, beta, order=2)
    torch.testing.assert_close(jet.value, u, atol=1e-12, rtol=0)
    torch.testing.assert_close(jet.grad, grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(jet.hess, hess, atol=1e-6, rtol=0)
    # each sample alone, with shared points, agrees with the batch
    for b in range(4):
        single = net.jet(x[b], beta[b : b + 1], order=2)
        torch.testing.assert_close(single.hess[0], jet.hess[b], atol=1e-12, rtol=0)


def test_jet_in_three_dimensions_matches_autograd() -> None:
    torch.manual_seed(4)
    net = MultiONet(3, 4, width=6, depth=3, n_sum=2, act_trunk=SiLUSin(), act_branch=TanhSin(), weight_init=0.7)
    net = net.double()
    x, beta = inputs(B=2, N=5, d=3, d_beta=4)
    _, grad, hess = autograd_jet(net, x.expand(2, *x.shape), beta)
    jet = net.jet(x, beta, order=2)
    torch.testing.assert_close(jet.grad, grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(jet.hess, hess, atol=1e-6, rtol=0)
    torch.testing.assert_close(jet.hess, jet.hess.transpose(-1, -2), atol=1e-12, rtol=0)


def test_forward_paths_agree() -> None:
    net = small_net()
    x, beta = inputs(B=4, N=9)
    u = net(x, beta)  # (B, N)
    assert u.shape == (4, 9)
    torch.testing.assert_close(net.jet(x, beta, order=1).value, u, atol=1e-14, rtol=0)
    xb = x.expand(4, *x.shape)  # (B, N, d)
    torch.testing.assert_close(net.forward_batch(xb, beta), u, atol=1e-13, rtol=0)
    shared, batch = net.jet(x, beta, order=2), net.jet_batch(xb, beta, order=2)
    for a, b in zip(shared, batch, strict=True):
        torch.testing.assert_close(a, b, atol=1e-13, rtol=0)


def test_forward_is_the_multionet_formula() -> None:
    net = small_net()
    x, beta = inputs(B=2, N=4)
    t = x
    b = beta
    ts, bs = [], []
    for lt, lb in zip(net.trunk, net.branch, strict=True):
        t, b = net.act_trunk(lt(t)), net.act_branch(lb(b))
        ts.append(t)
        bs.append(b)
    n_sum = net.n_sum
    summed = range(net.depth - n_sum, net.depth)
    expected = sum(net.w[i] * bs[k] @ ts[k].T for i, k in enumerate(summed)) / n_sum + net.b0  # (B, N)
    torch.testing.assert_close(net(x, beta), expected, atol=1e-13, rtol=0)


def test_trunk_features_shapes_and_leading_dims() -> None:
    net = small_net()
    x, _ = inputs(N=6)
    feats = net.trunk_features(x, order=2)
    assert len(feats.value) == net.n_sum
    assert feats.value[0].shape == (6, 7) and feats.grad[0].shape == (6, 7, 2) and feats.hess[0].shape == (6, 7, 2, 2)
    x2 = torch.stack([x, x + 0.1])  # (2, N, d)
    feats2 = net.trunk_features(x2.unsqueeze(0), order=1)  # (1, 2, N, ...)
    assert feats2.hess is None and feats2.grad[-1].shape == (1, 2, 6, 7, 2)
    torch.testing.assert_close(feats2.grad[-1][0, 0], net.trunk_features(x, order=1).grad[-1], atol=1e-14, rtol=0)
    assert net.trunk_features(x).grad is None
    assert [b.shape for b in net.branch_features(torch.zeros(3, 5, dtype=torch.float64))] == [(3, 7)] * 3


def test_float32_runs() -> None:
    torch.manual_seed(0)
    net = MultiONet(2, 5, width=8, depth=3, n_sum=2, act_trunk=TanhSin(), act_branch=SiLU(), weight_init=0.5)
    x, beta = torch.rand(10, 2), torch.randn(3, 5)
    jet = net.jet(x, beta, order=2)
    assert jet.value.dtype == jet.grad.dtype == jet.hess.dtype == torch.float32
    assert jet.hess.shape == (3, 10, 2, 2)


def test_bad_arguments() -> None:
    net = small_net()
    x, beta = inputs()
    with pytest.raises(ValueError, match="order"):
        net.jet(x, beta, order=3)
    with pytest.raises(ValueError, match="jet_batch"):
        net.jet(x.expand(3, *x.shape), beta)
    with pytest.raises(ValueError, match="n_sum"):
        MultiONet(2, 5, width=4, depth=3, n_sum=3, act_trunk=SiLU(), act_branch=SiLU())


# --------------------------------------------------------------------------------------------------
# parameters, initialisation and gradients


@pytest.mark.parametrize(
    ("width", "depth", "n_sum", "expected"),
    [(100, 5, 4, 94_005), (100, 6, 5, 114_206), (256, 5, 4, 560_133), (128, 5, 4, 148_997)],
)
def test_multionet_parameter_count(width: int, depth: int, n_sum: int, expected: int) -> None:
    net = MultiONet(2, 128, width=width, depth=depth, n_sum=n_sum, act_trunk=TanhSin(), act_branch=SiLU())
    assert n_params(net) == expected
    h = width
    assert expected == (2 + 128) * h + 2 * h + 2 * (depth - 1) * (h * h + h) + n_sum + 1


def test_encoder_parameter_counts() -> None:
    assert n_params(MLPEncoder(841, [512, 256], 128, SiLU())) == 595_328
    assert n_params(MLPEncoder(256, [256, 128], 128, SiLU())) == 115_200
    assert n_params(CNNEncoder((29, 29), activation=SiLU())) == 140_416


def test_initial_output_is_zero() -> None:
    torch.manual_seed(0)
    net = MultiONet(2, 5, width=8, depth=4, n_sum=3, act_trunk=TanhSin(), act_branch=SiLU()).double()
    x, beta = inputs()
    jet = net.jet(x, beta, order=2)
    assert torch.all(jet.value == 0) and torch.all(jet.grad == 0) and torch.all(jet.hess == 0)


@pytest.mark.parametrize("shared", [True, False])
def test_every_parameter_receives_a_gradient(shared: bool) -> None:
    net = small_net()
    x, beta = inputs()
    jet = net.jet(x, beta, order=1) if shared else net.jet_batch(x.expand(3, *x.shape), beta, order=1)
    loss = (jet.value - 1.0).square().mean() + jet.grad.square().mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.any(p.grad != 0), name


def test_hessian_loss_reaches_every_parameter() -> None:
    net = small_net()
    x, beta = inputs()
    jet = net.jet(x, beta, order=2)
    (jet.value.square().mean() + jet.hess.square().mean()).backward()
    assert all(p.grad is not None and torch.any(p.grad != 0) for p in net.parameters())


# --------------------------------------------------------------------------------------------------
# MLP, DeepONet


def test_mlp_final_activation() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    plain = MLP([3, 5, 2], SiLU())
    activated = MLP([3, 5, 2], SiLU(), final_activation=True)
    activated.load_state_dict(plain.state_dict())
    torch.testing.assert_close(activated(x), torch.nn.functional.silu(plain(x)))
    hidden = torch.nn.functional.silu(plain.layers[0](x))
    torch.testing.assert_close(plain(x), plain.layers[1](hidden))
    assert n_params(plain) == 3 * 5 + 5 + 5 * 2 + 2


def test_deeponet_is_multionet_with_one_summed_layer() -> None:
    torch.manual_seed(0)
    net = DeepONet(2, 5, width=6, depth=3, act_trunk=TanhSin(), act_branch=SiLU()).double()
    assert isinstance(net, MultiONet) and net.n_sum == 1
    assert torch.all(net.w == 1.0)
    x, beta = inputs()
    t, b = x, beta
    for lt, lb in zip(net.trunk, net.branch, strict=True):
        t, b = net.act_trunk(lt(t)), net.act_branch(lb(b))
    torch.testing.assert_close(net(x, beta), b @ t.T, atol=1e-13, rtol=0)


# --------------------------------------------------------------------------------------------------
# encoders


def test_encoders_shapes_and_squash() -> None:
    torch.manual_seed(0)
    a = 10.0 * torch.randn(3, 29, 29)
    cnn = CNNEncoder((29, 29), activation=SiLU())
    beta = cnn(a)
    assert beta.shape == (3, 128) and beta.abs().max() < 1
    torch.testing.assert_close(cnn(a.reshape(3, -1)), beta)  # flat input reads the same
    mlp = MLPEncoder(841, [32], 16, SiLU(), squash=False)
    assert mlp(a).shape == (3, 16) and mlp(a).abs().max() > 1
    with pytest.raises(ValueError, match="841"):
        mlp(a[:, :10])


def test_gaussian_encoder_kl_closed_form() -> None:
    torch.manual_seed(0)
    enc = GaussianEncoder(MLPEncoder(12, [16], 8, SiLU(), squash=False), 8, 4).double()
    mean, log_var = enc(torch.randn(5, 3, 4, dtype=torch.float64))
    assert mean.shape == log_var.shape == (5, 4)
    var = log_var.exp()
    p = torch.distributions.Normal(mean, var.sqrt())
    q = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(p, q).sum(-1)  # (B,)
    torch.testing.assert_close(enc.kl(mean, log_var), expected)
    zero = torch.zeros(2, 4, dtype=torch.float64)
    assert torch.all(GaussianEncoder.kl(zero, zero) == 0)


def test_gaussian_encoder_sample_moments() -> None:
    mean = torch.tensor([[1.0, -2.0, 0.0]], dtype=torch.float64).expand(20_000, 3)
    log_var = torch.tensor([[0.0, 2.0 * torch.log(torch.tensor(3.0)).item(), -2.0]], dtype=torch.float64).expand(
        20_000, 3
    )
    g = torch.Generator().manual_seed(7)
    beta = GaussianEncoder.sample(mean, log_var, generator=g)  # (S, 3)
    std = torch.tensor([1.0, 3.0, torch.exp(torch.tensor(-1.0)).item()], dtype=torch.float64)
    torch.testing.assert_close(beta.mean(0), mean[0], atol=4 * 3.0 / 20_000**0.5, rtol=0)
    torch.testing.assert_close(beta.std(0), std, atol=0, rtol=0.03)
    again = GaussianEncoder.sample(mean, log_var, generator=torch.Generator().manual_seed(7))
    assert torch.equal(beta, again)
    # reparameterised: gradients reach mean and log_var
    m = mean[:4].clone().requires_grad_(True)
    lv = log_var[:4].clone().requires_grad_(True)
    GaussianEncoder.sample(m, lv).sum().backward()
    assert torch.all(m.grad == 1) and torch.any(lv.grad != 0)
