"""Distributed data-parallel training with torch.distributed, launched by torchrun.

``torchrun --nproc-per-node 4 -m dgno train cfg.yaml`` (one node) or
``torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m dgno train cfg.yaml``
(several nodes) start one process per GPU (or per CPU process group); torchrun sets RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT, and :func:`from_env` reads them. The semantics, chosen so that a run on
n processes equals a run in one process:

- ``train.batch_size`` is the global batch: every rank draws the same batch indices, particles and encoder noise
  from generators seeded identically, and takes its own contiguous B/n of the batch (so the particles of a step
  are identical on all ranks, and the samples of a step are those of the one-process run);
- DistributedDataParallel averages the gradients, so the mean of the per-rank mean losses equals the
  one-process loss and its gradient;
- only rank 0 validates, logs, plots and writes checkpoints; logged losses are averaged over the ranks.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dgno.errors import DgnoError


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank among world processes (world = 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def local_slice(self, batch: int) -> slice:
        """This rank's contiguous share of a global batch of ``batch``."""
        if batch % self.world:
            raise DgnoError(f"train.batch_size = {batch} must be divisible by the {self.world} processes of the run")
        size = batch // self.world
        return slice(self.rank * size, (self.rank + 1) * size)


def from_env() -> DistInfo:
    """The process's place from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); one process without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise DgnoError(f"distributed environment: {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise DgnoError(f"distributed environment: RANK={rank} is not within WORLD_SIZE={world}")
    return DistInfo(rank=rank, world=world, local_rank=local)


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """One GPU per process on a node: cuda -> cuda:LOCAL_RANK when distributed."""
    if info.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", info.local_rank)
    return device


def init(info: DistInfo, device: torch.device, *, timeout_minutes: float = 30.0) -> None:
    """Join the process group (NCCL on GPUs, gloo on CPUs) once; a no-op in one process."""
    if not info.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world,
                            timeout=datetime.timedelta(minutes=timeout_minutes))


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def mean_over_ranks(values: dict[str, torch.Tensor], info: DistInfo) -> dict[str, torch.Tensor]:
    """Averages of scalar tensors over the ranks (the values themselves in one process)."""
    if not info.enabled or not values:
        return values
    stacked = torch.stack([v.detach().reshape(()) for v in values.values()])
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    stacked /= info.world
    return dict(zip(values, stacked, strict=True))


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (e.g. rank 0's wall-clock budget is spent)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


class LossModule(torch.nn.Module):
    """``forward`` = ``model.loss``, so that DistributedDataParallel can hook the gradients of the loss."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.loss(*args, **kwargs)
