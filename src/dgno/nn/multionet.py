"""MultiONet: a DeepONet that averages the inner products of several trunk/branch layer pairs.

    G(beta)(x) = (1/l) sum_{k=L-l+1..L} w_k <t_k(x), b_k(beta)> + b0,

    t_1 = sigma_t(W_1 x + c_1),  t_k = sigma_t(W_k t_{k-1} + c_k)   (k = 2..L, the trunk),
    b_1 = sigma_b(V_1 beta + e_1), b_k = sigma_b(V_k b_{k-1} + e_k)  (the branch),

with widths h, learnable scalars w_k and bias b0 (reference: DGenNO ``MultiONetBatch``).

The performance contract. In a weak-form step all B samples are evaluated at the same N points, and
the trunk depends on x alone, the branch on beta alone. So :meth:`MultiONet.jet` computes the trunk
features *and their spatial derivatives* once for the point set, by forward mode (value, tangent and
Hessian pushed through each affine map and activation by the chain rule, with the activation's
closed-form sigma' and sigma''), computes the branch features once per sample, and contracts:

    u[b, n]          = (1/l) sum_k w_k <t_k[n], b_k[b]> + b0,
    grad u[b, n, i]  = (1/l) sum_k w_k <d_i t_k[n], b_k[b]>,
    hess u[b, n, i, j] = (1/l) sum_k w_k <d_i d_j t_k[n], b_k[b]>.

Cost: trunk O(N L h^2 d^order) once, contraction O(B N l h d^order) matmuls. :meth:`MultiONet.jet_batch`
is the per-sample path for points that differ between samples, x of shape (B, N, d); it runs the
trunk on all B N points, as the reference does for every evaluation.

Internally the trunk derivatives are laid out with the width last, (..., N, d, h) and
(..., N, d, d, h): a tangent then passes through an affine layer as ``F.linear(dt, W)`` and the
contraction with the branch is a single matmul over h. :meth:`MultiONet.trunk_features` returns
views in the (..., N, h, d) and (..., N, h, d, d) layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dgno.nn.activations import Activation

__all__ = ["DeepONet", "Jet", "MultiONet", "TrunkFeatures", "frozen_trunks"]


class Jet(NamedTuple):
    """A scalar field and its spatial derivatives at N points for B samples."""

    value: Tensor  # (B, N)
    grad: Tensor | None  # (B, N, d), d_i u
    hess: Tensor | None  # (B, N, d, d), d_i d_j u


class TrunkFeatures(NamedTuple):
    """Features of the l summed trunk layers, one list entry per layer, and their x-derivatives."""

    value: list[Tensor]  # each (..., N, h)
    grad: list[Tensor] | None  # each (..., N, h, d)
    hess: list[Tensor] | None  # each (..., N, h, d, d)


def _check_order(order: int) -> None:
    if order not in (0, 1, 2):
        raise ValueError(f"derivative order must be 0, 1 or 2, got {order}")


def _contract(features: list[Tensor], branch: list[Tensor], *, shared: bool) -> Tensor:
    """sum_k <f_k, b_k> over the width h, as matmuls.

    Args:
        features: l trunk tensors, (N, *J, h) if shared else (B, N, *J, h), contiguous.
        branch: l tensors (B, h), already scaled by w_k / l.
        shared: whether the trunk features are shared by the batch.

    Returns:
        (B, N * prod(J)).
    """
    out = None
    for f, b in zip(features, branch, strict=True):
        h = f.shape[-1]
        if shared:
            term = b @ f.reshape(-1, h).T  # (B, h) @ (h, N * prod(J)) -> (B, N * prod(J))
        else:
            # (B, N * prod(J), h) @ (B, h, 1) -> (B, N * prod(J), 1) -> (B, N * prod(J))
            term = (f.reshape(b.shape[0], -1, h) @ b.unsqueeze(-1)).squeeze(-1)
        out = term if out is None else out + term
    return out


class MultiONet(nn.Module):
    """G(beta)(x) = (1/l) sum_{k=L-l+1..L} w_k <t_k(x), b_k(beta)> + b0.

    Args:
        d_x: dimension d of the points x.
        d_beta: dimension of the latent (branch input) beta.
        width: h, the width of every trunk and branch layer.
        depth: L, the number of layers in the trunk and in the branch (the lifting layer included).
        n_sum: l, how many of the last layers contribute; 1 <= l < L (l = L - 1 in the reference).
        act_trunk: sigma_t; its closed-form derivatives drive the forward-mode jets.
        act_branch: sigma_b.
        weight_init: initial value of every w_k. The reference uses 0, so the initial output is 0.

    The parameter count is (d_x + d_beta) h + 2 h + 2 (L - 1)(h^2 + h) + l + 1.
    """

    def __init__(
        self,
        d_x: int,
        d_beta: int,
        *,
        width: int,
        depth: int,
        n_sum: int,
        act_trunk: Activation,
        act_branch: Activation,
        weight_init: float = 0.0,
    ) -> None:
        super().__init__()
        if not 1 <= n_sum < depth:
            raise ValueError(f"MultiONet needs 1 <= n_sum < depth, got n_sum={n_sum}, depth={depth}")
        if min(d_x, d_beta, width) < 1:
            raise ValueError(f"dimensions must be positive, got d_x={d_x}, d_beta={d_beta}, width={width}")
        self.d_x, self.d_beta, self.width, self.depth, self.n_sum = d_x, d_beta, width, depth, n_sum
        self.trunk = nn.ModuleList([nn.Linear(d_x, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
        self.branch = nn.ModuleList([nn.Linear(d_beta, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
        self.act_trunk = act_trunk
        self.act_branch = act_branch
        self.w = nn.Parameter(torch.full((n_sum,), float(weight_init)))  # (l,)
        self.b0 = nn.Parameter(torch.zeros(()))  # ()

    # ----------------------------------------------------------------------------------------------
    # features

    _trunk_cache: dict | None = None  # set by frozen_trunks(): point set -> trunk jets

    def _trunk_jet(self, x: Tensor, order: int) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Forward-mode trunk (width-last layout), from the cache of :func:`frozen_trunks` when it is on."""
        if self._trunk_cache is None:
            return self._trunk_jet_compute(x, order)
        key = (x.data_ptr(), tuple(x.shape), tuple(x.stride()), x.dtype, x.device, x._version)
        hit = self._trunk_cache.get(key)
        if hit is None or hit[1] < order:
            with torch.no_grad():
                hit = (x, order, self._trunk_jet_compute(x, order))  # x is kept so its memory is not reused
            if len(self._trunk_cache) >= 32:  # point sets that change every call: do not grow without bound
                self._trunk_cache.clear()
            self._trunk_cache[key] = hit
        values, grads, hessians = hit[2]
        return values, grads if order >= 1 else [], hessians if order >= 2 else []

    def _trunk_jet_compute(self, x: Tensor, order: int) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Forward-mode trunk, width-last layout.

        x (..., N, d) -> for each summed layer: value (..., N, h), tangent (..., N, d, h) if
        order >= 1, Hessian (..., N, d, d, h) if order >= 2 (empty lists otherwise).
        """
        _check_order(order)
        if x.shape[-1] != self.d_x:
            raise ValueError(f"points must have last dimension {self.d_x}, got shape {tuple(x.shape)}")
        first_summed = self.depth - self.n_sum
        values: list[Tensor] = []
        grads: list[Tensor] = []
        hessians: list[Tensor] = []
        act = self.act_trunk
        t = dt = ht = None
        for k, layer in enumerate(self.trunk):
            if k == 0:
                z = layer(x)  # (..., N, h)
                s = act.jet(z, order)
                if order >= 1:
                    dz = layer.weight.T  # (d, h): d_i z = W[:, i], the same at every point
                    dt = s[1].unsqueeze(-2) * dz  # (..., N, d, h)
                if order >= 2:
                    dzdz = dz.unsqueeze(-2) * dz.unsqueeze(-3)  # (d, d, h): d_i z d_j z
                    ht = s[2][..., None, None, :] * dzdz  # (..., N, d, d, h); d_i d_j z = 0
            else:
                z = layer(t)  # (..., N, h)
                s = act.jet(z, order)
                if order >= 1:
                    dz = F.linear(dt, layer.weight)  # (..., N, d, h): tangents skip the bias
                    dt = s[1].unsqueeze(-2) * dz  # (..., N, d, h)
                if order >= 2:
                    hz = F.linear(ht, layer.weight)  # (..., N, d, d, h)
                    dzdz = dz.unsqueeze(-2) * dz.unsqueeze(-3)  # (..., N, d, d, h)
                    ht = s[2][..., None, None, :] * dzdz + s[1][..., None, None, :] * hz  # (..., N, d, d, h)
            t = s[0]  # (..., N, h)
            if k >= first_summed:
                values.append(t)
                if order >= 1:
                    grads.append(dt)
                if order >= 2:
                    hessians.append(ht)
        return values, grads, hessians

    def trunk_features(self, x: Tensor, order: int = 0) -> TrunkFeatures:
        """Summed-layer trunk features t_k(x) and their x-derivatives, by forward mode.

        Args:
            x: points (..., N, d), any leading dimensions.
            order: 0, 1 or 2.

        Returns:
            value: l tensors (..., N, h); grad: l tensors (..., N, h, d) if order >= 1, else None;
            hess: l tensors (..., N, h, d, d) if order >= 2, else None (views, not copies).
        """
        values, grads, hessians = self._trunk_jet(x, order)
        grad = [g.transpose(-1, -2) for g in grads] if order >= 1 else None  # (..., N, h, d)
        hess = [hh.movedim(-1, -3) for hh in hessians] if order >= 2 else None  # (..., N, h, d, d)
        return TrunkFeatures(values, grad, hess)

    def branch_features(self, beta: Tensor) -> list[Tensor]:
        """Summed-layer branch features b_k(beta): beta (B, d_beta) -> l tensors (B, h)."""
        if beta.dim() != 2 or beta.shape[-1] != self.d_beta:
            raise ValueError(f"beta must have shape (B, {self.d_beta}), got {tuple(beta.shape)}")
        first_summed = self.depth - self.n_sum
        features: list[Tensor] = []
        b = beta
        for k, layer in enumerate(self.branch):
            b = self.act_branch(layer(b))  # (B, h)
            if k >= first_summed:
                features.append(b)
        return features

    def _scaled_branch(self, beta: Tensor) -> list[Tensor]:
        """(w_k / l) b_k(beta): l tensors (B, h)."""
        coeff = self.w / self.n_sum  # (l,)
        return [coeff[k] * b for k, b in enumerate(self.branch_features(beta))]

    # ----------------------------------------------------------------------------------------------
    # evaluation

    def jet(self, x: Tensor, beta: Tensor, order: int = 1) -> Jet:
        """G(beta)(x) and its x-derivatives at points shared by the batch; trunk computed once.

        Args:
            x: points (N, d), the same for every sample.
            beta: latents (B, d_beta).
            order: 0 (value), 1 (+ gradient) or 2 (+ Hessian).

        Returns:
            Jet(value (B, N), grad (B, N, d) or None, hess (B, N, d, d) or None).
        """
        if x.dim() != 2:
            raise ValueError(f"jet takes shared points of shape (N, d), got {tuple(x.shape)}; see jet_batch")
        return self._jet(x, beta, order, shared=True)

    def jet_batch(self, x: Tensor, beta: Tensor, order: int = 1) -> Jet:
        """G(beta_b)(x_b) and its x-derivatives at per-sample points; trunk run on all B N points.

        Args:
            x: points (B, N, d), one set per sample.
            beta: latents (B, d_beta).
            order: 0, 1 or 2.

        Returns:
            Jet(value (B, N), grad (B, N, d) or None, hess (B, N, d, d) or None).
        """
        if x.dim() != 3 or x.shape[0] != beta.shape[0]:
            raise ValueError(
                f"jet_batch takes points (B, N, d) and beta (B, d_beta), got {tuple(x.shape)} and {tuple(beta.shape)}"
            )
        return self._jet(x, beta, order, shared=False)

    def _jet(self, x: Tensor, beta: Tensor, order: int, *, shared: bool) -> Jet:
        """Trunk jets (on x (N, d) if shared, else (B, N, d)) contracted with the scaled branch features."""
        values, grads, hessians = self._trunk_jet(x, order)
        branch = self._scaled_branch(beta)  # l x (B, h)
        B, (N, d) = beta.shape[0], x.shape[-2:]
        value = _contract(values, branch, shared=shared) + self.b0  # (B, N)
        grad = _contract(grads, branch, shared=shared).reshape(B, N, d) if order >= 1 else None  # (B, N, d)
        hess = _contract(hessians, branch, shared=shared).reshape(B, N, d, d) if order >= 2 else None  # (B, N, d, d)
        return Jet(value, grad, hess)

    def forward(self, x: Tensor, beta: Tensor) -> Tensor:
        """G(beta)(x) at shared points: x (N, d), beta (B, d_beta) -> (B, N)."""
        return self.jet(x, beta, order=0).value

    def forward_batch(self, x: Tensor, beta: Tensor) -> Tensor:
        """G(beta_b)(x_b) at per-sample points: x (B, N, d), beta (B, d_beta) -> (B, N)."""
        return self.jet_batch(x, beta, order=0).value

    def extra_repr(self) -> str:
        return f"d_x={self.d_x}, d_beta={self.d_beta}, width={self.width}, depth={self.depth}, n_sum={self.n_sum}"


def DeepONet(
    d_x: int, d_beta: int, *, width: int, depth: int, act_trunk: Activation, act_branch: Activation
) -> MultiONet:
    """A DeepONet, G(beta)(x) = w <t_L(x), b_L(beta)> + b0: the MultiONet with l = 1 and w initialised to 1.

    The reference's ``DeepONetBatch`` differs slightly: its branch ends in a linear layer (here the
    branch's last layer is activated, as in every MultiONet layer) and it has no scalar w. Its trunk,
    an MLP whose output is passed through the trunk activation, is the same as here.
    """
    return MultiONet(
        d_x, d_beta, width=width, depth=depth, n_sum=1, act_trunk=act_trunk, act_branch=act_branch, weight_init=1.0
    )


@contextmanager
def frozen_trunks(module: nn.Module) -> Iterator[None]:
    """Inside, every MultiONet in ``module`` computes its trunk jets once per point set and reuses them.

    For fixed networks evaluated many times at fixed points with changing latents (inversion, sampling):
    the trunk depends on x alone, so each later evaluation costs only the branch and the contraction.
    Trunks are computed without gradient, so no gradient reaches the trunk parameters inside; gradients
    with respect to beta are exact. A point set is recognised by its memory, shape, strides and version,
    so pass the same tensor (or view) each time.
    """
    nets = [m for m in module.modules() if isinstance(m, MultiONet)]
    for net in nets:
        net._trunk_cache = {}
    try:
        yield
    finally:
        for net in nets:
            net._trunk_cache = None


class TokenMultiONet(MultiONet):
    """The reference's multi-output MultiONet (``MultiONetBatch_X``, its Stokes stress network).

    The latent beta (B, m) is read as m tokens of dimension 1 that share one branch MLP, b_k(beta_i) (B, m, h); each
    summed layer adds <t_k(x), b_k(beta_i)> per token, and a linear map over the tokens gives ``n_out`` outputs:

        G_c(beta)(x) = sum_i W_ci (1/l) sum_k <t_k(x), b_k(beta_i)> + bias_c.

    There are no w_k and no b0 (the reference has none). The map over tokens is folded into the branch features
    (sum_i W_ci b_k(beta_i), (B, n_out, h)) before the contraction with the trunk, so jets cost as much as n_out
    MultiONets sharing one trunk. The parameter count is (d_x + 1) h + 2 h + 2 (L - 1)(h^2 + h) + (m + 1) n_out:
    101,887 for d_x = 2, h = 100, L = 6, m = 128, n_out = 3, as in the reference.

    One call evaluates every output; :class:`OutputOf` gives each output the ``jet`` / ``jet_batch`` interface of a
    one-output network, and the outputs of one (x, beta, order) are computed once.
    """

    def __init__(self, d_x: int, n_tokens: int, n_out: int, *, width: int, depth: int, n_sum: int,
                 act_trunk: Activation, act_branch: Activation) -> None:
        super().__init__(d_x, 1, width=width, depth=depth, n_sum=n_sum, act_trunk=act_trunk, act_branch=act_branch)
        del self.w, self.b0  # the reference's multi-output network has neither
        if min(n_tokens, n_out) < 1:
            raise ValueError(f"TokenMultiONet needs n_tokens, n_out >= 1, got {n_tokens}, {n_out}")
        self.n_tokens, self.n_out = n_tokens, n_out
        self.head = nn.Linear(n_tokens, n_out)
        self._last: tuple | None = None  # (x, beta, order, shared, jets) of the latest call

    def _folded_branch(self, beta: Tensor) -> list[Tensor]:
        """(1/l) sum_i W_ci b_k(beta_i): l tensors (B, n_out, h)."""
        if beta.dim() != 2 or beta.shape[-1] != self.n_tokens:
            raise ValueError(f"beta must have shape (B, {self.n_tokens}), got {tuple(beta.shape)}")
        tokens = beta.unsqueeze(-1)  # (B, m, 1)
        first_summed = self.depth - self.n_sum
        out: list[Tensor] = []
        b = tokens
        for k, layer in enumerate(self.branch):
            b = self.act_branch(layer(b))  # (B, m, h)
            if k >= first_summed:
                out.append(torch.einsum("cm,bmh->bch", self.head.weight, b) / self.n_sum)
        return out

    def jets(self, x: Tensor, beta: Tensor, order: int, *, shared: bool = True) -> Jet:
        """All outputs: value (B, N, C), grad (B, N, d, C), hess (B, N, d, d, C) (None below ``order``)."""
        last = self._last
        if last is not None and last[0] is x and last[1] is beta and last[2] >= order and last[3] == shared:
            return last[4]
        values, grads, hessians = self._trunk_jet(x, order)  # width-last: (.., N, h), (.., N, d, h), (.., N, d, d, h)
        branch = self._folded_branch(beta)  # l x (B, C, h)
        p = "" if shared else "b"
        value = sum(torch.einsum(f"{p}nh,bch->bnc", t, b) for t, b in zip(values, branch, strict=True))
        value = value + self.head.bias  # (B, N, C)
        grad = hess = None
        if order >= 1:
            grad = sum(torch.einsum(f"{p}ndh,bch->bndc", g, b) for g, b in zip(grads, branch, strict=True))
        if order >= 2:
            hess = sum(torch.einsum(f"{p}nijh,bch->bnijc", h, b) for h, b in zip(hessians, branch, strict=True))
        out = Jet(value, grad, hess)
        self._last = (x, beta, order, shared, out)  # strong references: identities cannot be reused meanwhile
        return out

    def jet(self, x: Tensor, beta: Tensor, order: int = 1) -> Jet:
        raise TypeError("a TokenMultiONet has several outputs: evaluate them with jets(), or one with OutputOf")

    jet_batch = jet

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, n_tokens={self.n_tokens}, n_out={self.n_out}"


class OutputOf(nn.Module):
    """Output ``index`` of a :class:`TokenMultiONet`, with the one-output interface (``jet``, ``jet_batch``,
    ``forward``) that a problem's field decoder has. Several OutputOf share one network and its parameters."""

    def __init__(self, net: TokenMultiONet, index: int) -> None:
        super().__init__()
        if not 0 <= index < net.n_out:
            raise ValueError(f"OutputOf: index {index} outside the network's {net.n_out} outputs")
        self.net, self.index = net, index

    def _pick(self, jets: Jet) -> Jet:
        c = self.index
        return Jet(jets.value[..., c], None if jets.grad is None else jets.grad[..., c],
                   None if jets.hess is None else jets.hess[..., c])

    def jet(self, x: Tensor, beta: Tensor, order: int = 1) -> Jet:
        if x.dim() != 2:
            raise ValueError(f"jet takes shared points of shape (N, d), got {tuple(x.shape)}; see jet_batch")
        return self._pick(self.net.jets(x, beta, order, shared=True))

    def jet_batch(self, x: Tensor, beta: Tensor, order: int = 1) -> Jet:
        return self._pick(self.net.jets(x, beta, order, shared=False))

    def forward(self, x: Tensor, beta: Tensor) -> Tensor:
        return self.jet(x, beta, order=0).value
