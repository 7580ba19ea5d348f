"""Training: the loop, data, checkpoints."""

from dgno.train.checkpoint import load_checkpoint, save_checkpoint
from dgno.train.loop import train

__all__ = ["load_checkpoint", "save_checkpoint", "train"]
