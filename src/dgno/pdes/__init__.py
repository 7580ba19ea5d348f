"""Problems, one per file: domain, input role, fields with their constraints, outputs, weak residuals."""

from dgno.pdes.base import (
    BoundaryPart,
    Constraint,
    Domain,
    FieldSpec,
    InputSpec,
    Output,
    Problem,
    apply_multiplier,
    field_output,
)
from dgno.pdes.burgers import Burgers, burgers_fd_residual
from dgno.pdes.darcy import Darcy, DarcyMixed, darcy_fd_residual, darcy_fd_residual_central, darcy_fd_solve

__all__ = [
    "BoundaryPart",
    "Burgers",
    "Constraint",
    "Darcy",
    "DarcyMixed",
    "Domain",
    "FieldSpec",
    "InputSpec",
    "Output",
    "Problem",
    "apply_multiplier",
    "burgers_fd_residual",
    "darcy_fd_residual",
    "darcy_fd_residual_central",
    "darcy_fd_solve",
    "field_output",
]
