"""Gaussian random fields on the unit square by a truncated cosine (Neumann) expansion."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SpectralField:
    """g(x, y) = sum_{k, l < K} c[k, l] e_k(x) e_l(y), e_0 = 1, e_k(t) = sqrt(2) cos(pi k t).

    The e_k are orthonormal in L2(0, 1) and are the Neumann eigenfunctions of -d^2/dt^2 with
    eigenvalues (pi k)^2. Evaluable at arbitrary points.
    """

    coefficients: np.ndarray  # (K, K): axis 0 the x-mode k, axis 1 the y-mode l

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Values at points ``x`` of shape (..., 2); returns shape (...)."""
        x = np.asarray(x, dtype=float)
        ex = cosine_basis(x[..., 0], self.coefficients.shape[0])  # (..., K)
        ey = cosine_basis(x[..., 1], self.coefficients.shape[1])  # (..., K)
        return np.einsum("...k,...k->...", ex @ self.coefficients, ey)


def cosine_basis(t: np.ndarray, n_modes: int) -> np.ndarray:
    """Orthonormal Neumann cosine basis on [0, 1]: (..., ) -> (..., n_modes)."""
    k = np.arange(n_modes)
    scale = np.where(k == 0, 1.0, np.sqrt(2.0))
    return scale * np.cos(np.pi * np.asarray(t)[..., None] * k)


@dataclass(frozen=True)
class GaussianRandomField:
    """Centred Gaussian random field on [0, 1]^2 with covariance sigma^2 (-Lap + tau^2 I)^(-alpha).

    The Laplacian has Neumann boundary conditions, so the Karhunen-Loeve expansion is

        g = sigma * sum_{k, l} (pi^2 (k^2 + l^2) + tau^2)^(-alpha/2) xi_kl e_k(x) e_l(y),

    with xi_kl independent standard normals, truncated to k, l < ``n_modes``. The correlation
    length is about 1/tau; alpha sets the smoothness (samples lie in H^s for s < alpha - 1).
    ``sigma=None`` takes sigma = tau^(alpha - 1), the convention of the FNO Darcy data;
    ``zero_mean=True`` drops the constant mode (also that convention), so every sample has
    zero spatial mean.
    """

    alpha: float = 2.0
    tau: float = 3.0
    sigma: float | None = None
    n_modes: int = 32
    zero_mean: bool = True

    def __post_init__(self) -> None:
        if self.alpha <= 0 or self.tau <= 0 or self.n_modes < 1:
            raise ValueError(f"need alpha > 0, tau > 0, n_modes >= 1; got {self}")
        if self.sigma is not None and self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")

    @property
    def amplitude(self) -> float:
        return self.tau ** (self.alpha - 1) if self.sigma is None else self.sigma

    def mode_std(self) -> np.ndarray:
        """Standard deviation of each expansion coefficient, shape (K, K)."""
        k = np.arange(self.n_modes)
        lam = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + self.tau**2
        std = self.amplitude * lam ** (-self.alpha / 2)
        if self.zero_mean:
            std[0, 0] = 0.0
        return std

    def sample(self, rng: np.random.Generator) -> SpectralField:
        std = self.mode_std()
        return SpectralField(std * rng.standard_normal(std.shape))

    def variance(self, x: np.ndarray) -> np.ndarray:
        """Exact pointwise variance of the truncated field at points (..., 2)."""
        x = np.asarray(x, dtype=float)
        ex = cosine_basis(x[..., 0], self.n_modes) ** 2
        ey = cosine_basis(x[..., 1], self.n_modes) ** 2
        return np.einsum("...k,kl,...l->...", ex, self.mode_std() ** 2, ey)

    def covariance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact covariance E[g(x) g(y)] of the truncated field for points (..., 2) and (..., 2)."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        cx = cosine_basis(x[..., 0], self.n_modes) * cosine_basis(y[..., 0], self.n_modes)
        cy = cosine_basis(x[..., 1], self.n_modes) * cosine_basis(y[..., 1], self.n_modes)
        return np.einsum("...k,kl,...l->...", cx, self.mode_std() ** 2, cy)

    def describe(self) -> dict[str, Any]:
        return {"type": "GaussianRandomField", **asdict(self), "amplitude": self.amplitude}
