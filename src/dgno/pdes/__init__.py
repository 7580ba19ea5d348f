"""PDEs, one per file: fields, boundary multipliers, weak residuals."""

from dgno.pdes.base import PDE, FieldSpec, apply_multiplier
from dgno.pdes.darcy import Darcy, DarcyMixed, darcy_fd_residual, darcy_fd_residual_central, darcy_fd_solve

__all__ = [
    "PDE",
    "Darcy",
    "DarcyMixed",
    "FieldSpec",
    "apply_multiplier",
    "darcy_fd_residual",
    "darcy_fd_residual_central",
    "darcy_fd_solve",
]
