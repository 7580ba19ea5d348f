"""Add a PDE that dgno does not ship, in one file, and train DGNO on it for a few steps.

The PDE is reaction-diffusion, -div(a grad u) + c u = f on the unit square with u = 0 on the
boundary; its weak residual for a test function w_j is

    r_j = < a grad u . grad w_j + c u w_j - f w_j >_j        (ball averages).

A PDE is an object with ``fields``, ``multiplier``, ``coefficient`` and ``residuals``
(:class:`dgno.pdes.base.PDE`); nothing in the library changes. Run it as

    python examples/custom_pde.py [--steps 30] [--n 64]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from dgno.fields import LogNormalField, unit_square_nodes
from dgno.models import DGNO, GaussianField
from dgno.nn import ACTIVATIONS, Jet, MLPEncoder, MultiONet
from dgno.pdes import FieldSpec
from dgno.pdes.darcy import bicubic, sine_multiplier
from dgno.weak import ParticleSampler, WeakPoints, Wendland, gauss_rule, weak_points


@dataclass(frozen=True)
class ReactionDiffusion:
    """-div(a grad u) + c u = f, u = 0 on the boundary of the unit square."""

    reaction: float = 5.0
    source: float = 10.0
    fields = (FieldSpec("u", order=1, constrained=True),)
    terms = ("weak",)

    def multiplier(self, x: torch.Tensor, order: int) -> Jet:
        return sine_multiplier(x, order)

    def coefficient(self, a_nodes: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bicubic(a_nodes, x)

    def residuals(self, fields: dict[str, Jet], a: torch.Tensor, points: WeakPoints) -> dict[str, torch.Tensor]:
        u = fields["u"]  # value (B, P, Q), grad (B, P, Q, 2)
        integrand = (a[..., None] * u.grad * points.grad_v).sum(-1) + (self.reaction * u.value - self.source) * points.v
        return {"weak": (points.average(integrand) ** 2).sum(-1)}  # (B,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--n", type=int, default=64, help="number of unlabeled inputs a")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    nodes = unit_square_nodes(29)
    sampler = LogNormalField()
    a = torch.tensor(np.stack([sampler.sample(rng)(nodes) for _ in range(args.n)]), dtype=torch.float32)

    torch.manual_seed(0)
    act = ACTIVATIONS["tanh_sin"]
    pde = ReactionDiffusion()
    model = DGNO(
        encoder=MLPEncoder(29 * 29, (128,), 32, ACTIVATIONS["silu"]()),
        decoders={"u": MultiONet(2, 32, width=48, depth=4, n_sum=3, act_trunk=act(), act_branch=act(),
                                 weight_init=0.1)},
        a_decoder=MultiONet(2, 32, width=48, depth=4, n_sum=3, act_trunk=act(), act_branch=act()),
        pde=pde,
        likelihood=GaussianField(sigma=0.05),
        x_a=torch.tensor(nodes, dtype=torch.float32),
        a_mean=a.mean(0),
        a_std=a.std(0),
        precisions={"weak": 168.2},
    )
    particles = ParticleSampler(n=64, r_min=0.02, r_max=0.05)
    rule, test_function = gauss_rule(3), Wendland(dim=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for step in range(args.steps):
        batch = a[torch.randint(0, args.n, (16,), generator=gen)]
        points = weak_points(particles.sample(gen), rule, test_function)
        out = model.loss(batch, points)
        opt.zero_grad()
        out.total.backward()
        opt.step()
        losses.append(out.total.item())
        if step % 10 == 0 or step == args.steps - 1:
            parts = "  ".join(f"{k} {v:.4f}" for k, v in out.parts.items())
            print(f"step {step:4d}  loss {out.total.item():.4f}  {parts}")
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    print(f"mean loss of the first 5 steps {first:.4f}, of the last 5 steps {last:.4f}")


if __name__ == "__main__":
    main()
