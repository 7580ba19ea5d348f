"""A prior on the parameters of a known input family instead of on the latent (``dgno invert --prior family``).

When the inputs of a preset are a formula of a few parameters (darcy-trig: a = 2.1 + sin(b1 x) + cos(b2 y);
stokes-cylinder: a(y) = 2 sin(pi y) (1 + sin(b1 y) + cos(b2 y))), each uniform on a range, the posterior can be
put on those parameters b directly: the sampler works on theta in R^k with

    b = lo + (hi - lo) sigmoid(theta),    log p(theta) = sum_i log sigmoid(theta_i) + log sigmoid(-theta_i)

(the uniform prior of b, carried to theta by the Jacobian), and the decoders read beta = encoder(a(b)) at the
model's input nodes. The input a is then the family's exact field of b, not the input decoder's reconstruction,
in the PDE's virtual observables and in every posterior summary of a; the posterior of b itself is reported too.

:class:`FamilyPrior` has the interface of :class:`~dgno.inverse.prior.LatentPrior` that the posterior and the
samplers use (``dim``, ``mean``, ``log_prob``, ``transform``, ``sample``, ``to``), plus ``input`` (a of theta) and
``parameters`` (b of theta).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dgno.errors import DgnoError
from dgno.fields.base import ParametricFamily


class FamilyPrior:
    """Uniform prior on the parameters b of ``family`` (its ranges), pushed through ``model``'s encoder."""

    kind = "family"

    def __init__(self, family: ParametricFamily, model, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> None:
        if not isinstance(family, ParametricFamily):
            raise DgnoError(f"--prior family needs a preset whose inputs are a parametric family; "
                            f"{type(family).__name__} is not one")
        if model.variational:
            raise DgnoError("--prior family reads the encoder's mean; it is built for deterministic (tanh) encoders")
        self.family, self.model = family, model
        self.names = tuple(family.parameter_names)
        ranges = family.parameter_ranges()
        lo_hi = torch.tensor([ranges[n] for n in self.names], dtype=dtype, device=device)
        if not bool((lo_hi[:, 1] > lo_hi[:, 0]).all()):
            raise DgnoError(f"--prior family needs ranges lo < hi for every parameter, got {ranges}")
        self.lo, self.hi = lo_hi[:, 0], lo_hi[:, 1]
        self.mean = torch.zeros(len(self.names), dtype=dtype, device=device)  # theta = 0: the centre of every range

    @property
    def dim(self) -> int:
        return len(self.names)

    def to(self, device=None, dtype=None) -> FamilyPrior:
        return FamilyPrior(self.family, self.model, dtype=dtype or self.mean.dtype,
                           device=device or self.mean.device)

    def parameters(self, theta: Tensor) -> Tensor:
        """b of theta: (..., k) -> (..., k)."""
        return self.lo + (self.hi - self.lo) * torch.sigmoid(theta)

    def inverse_parameters(self, b: Tensor) -> Tensor:
        """theta of b (inside the ranges): (..., k) -> (..., k)."""
        q = ((b - self.lo) / (self.hi - self.lo)).clamp(1e-9, 1 - 1e-9)
        return torch.log(q) - torch.log1p(-q)

    def log_prob(self, theta: Tensor) -> Tensor:
        """log p(theta) up to a constant: (..., k) -> (...)."""
        f = torch.nn.functional.logsigmoid
        return (f(theta) + f(-theta)).sum(-1)

    def input(self, theta: Tensor) -> Tensor:
        """The family's input a at the model's input nodes: theta (n, k) -> (n, *grid_a)."""
        x_a = self.model.x_a.to(theta.dtype)
        return self.family.evaluate(self.parameters(theta), x_a).to(theta.dtype)

    def transform(self, theta: Tensor) -> Tensor:
        """beta = encoder(a(b(theta))): (n, k) -> (n, d)."""
        beta, _ = self.model.encode(self.input(theta), sample=False)
        return beta

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of theta from the prior (b uniform): (n, k)."""
        u = torch.rand(n, self.dim, generator=generator, dtype=self.mean.dtype).clamp(1e-6, 1 - 1e-6)
        return (torch.log(u) - torch.log1p(-u)).to(self.mean.device)

    def state(self) -> dict:
        return {"kind": self.kind, "names": list(self.names), "lo": self.lo.tolist(), "hi": self.hi.tolist()}

    def describe(self) -> dict:
        return {"kind": self.kind, "parameters": {n: [float(lo), float(hi)]
                                                   for n, lo, hi in zip(self.names, self.lo, self.hi, strict=True)}}


def family_prior(preset, model) -> FamilyPrior:
    """The family prior of the preset the run was trained on (its training distribution of inputs); ``preset`` is
    the data preset object (names become objects at the API's edge: :class:`dgno.inversion.Inverter`), or None."""
    if preset is None:
        raise DgnoError("--prior family needs to know the data's preset (the run's data.preset or the file's 'preset')")
    field = getattr(preset, "field", None)
    if not isinstance(field, ParametricFamily):
        raise DgnoError(f"--prior family: the inputs of preset {getattr(preset, 'name', preset)!r} are not a "
                        "parametric family (known for darcy-trig and stokes-cylinder)")
    p = next(model.parameters())
    return FamilyPrior(field, model, dtype=p.dtype, device=p.device)


def stored_parameters(ds, index: int) -> dict[str, float] | None:
    """The per-sample scalars a split file stores in extras (e.g. beta1, beta2 of a parametric family) for
    instance ``index``, or None when it stores none."""
    n = len(ds)
    out = {k: float(v[index]) for k, v in getattr(ds, "extras", {}).items()
           if getattr(v, "ndim", 0) == 1 and v.shape[0] == n and v.dtype.kind == "f"}
    return out or None
