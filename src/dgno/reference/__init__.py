"""Ground truth: reference solvers, data presets and generation, data files."""

from dgno.reference.burgers import BurgersChebyshev
from dgno.reference.darcy_fd import DarcyFD
from dgno.reference.darcy_fem import DarcyFEM
from dgno.reference.dataset import Dataset, load_h5, save_h5
from dgno.reference.generate import Shard, SplitCounts, generate, generate_split, merge
from dgno.reference.presets import BurgersPreset, DarcyPreset, DataPreset, StokesPreset

__all__ = [
    "BurgersChebyshev",
    "BurgersPreset",
    "DarcyFD",
    "DarcyFEM",
    "DarcyPreset",
    "DataPreset",
    "Dataset",
    "Shard",
    "SplitCounts",
    "StokesPreset",
    "generate",
    "generate_split",
    "load_h5",
    "merge",
    "save_h5",
]
