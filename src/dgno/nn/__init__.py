"""Plain neural-network building blocks; nothing here knows about PDEs.

- :mod:`dgno.nn.activations`: activations with closed-form first and second derivatives;
- :mod:`dgno.nn.mlp`: a fully connected network;
- :mod:`dgno.nn.multionet`: MultiONet / DeepONet with forward-mode spatial derivatives, trunk shared
  across the batch;
- :mod:`dgno.nn.fno`: a compact 2-D Fourier neural operator (for the PINO and FNO baselines);
- :mod:`dgno.nn.encoders`: MLP, CNN and Gaussian encoders from a gridded input to a latent.
"""

from __future__ import annotations

from dgno.nn.activations import (
    ACTIVATIONS,
    GELU,
    Activation,
    Identity,
    ReLU,
    SiLU,
    SiLUId,
    SiLUSin,
    Sin,
    Tanh,
    TanhSin,
)
from dgno.nn.encoders import CNNEncoder, GaussianEncoder, MLPEncoder
from dgno.nn.fno import FNO2d, SpectralConv2d
from dgno.nn.mlp import MLP
from dgno.nn.multionet import DeepONet, Jet, MultiONet, TrunkFeatures

__all__ = [
    "ACTIVATIONS",
    "GELU",
    "MLP",
    "Activation",
    "CNNEncoder",
    "DeepONet",
    "FNO2d",
    "GaussianEncoder",
    "Identity",
    "Jet",
    "MLPEncoder",
    "MultiONet",
    "ReLU",
    "SiLU",
    "SiLUId",
    "SiLUSin",
    "Sin",
    "SpectralConv2d",
    "Tanh",
    "TanhSin",
    "TrunkFeatures",
]
