"""Training: the loop, data, checkpoints."""

from dgno.training.checkpoint import load_checkpoint, save_checkpoint
from dgno.training.loop import train

__all__ = ["load_checkpoint", "save_checkpoint", "train"]
