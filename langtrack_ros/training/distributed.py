"""Data-parallel training on PyTorch's own engine: torchrun + DistributedDataParallel.

- ``init_distributed()`` reads the variables torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK) and joins
  the process group: NCCL when CUDA is there, gloo on CPU. Without torchrun it is a world of one.
- ``RankStepBatches``: step k of the run uses global sample indices [k*B, (k+1)*B) (``sampling.py``);
  rank r takes the r-th of W equal slices. The samples of a step are therefore the same for any world
  size, which is what lets ``--resume`` continue with another W that divides B.
- ``launch_torchrun``: ``langtrack train mvlm --nproc N`` re-runs the same command under
  ``python -m torch.distributed.run --nproc_per_node N``.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist

LOG = logging.getLogger(__name__)


@dataclass
class DistContext:
    """Where this process sits: rank / world size, and the device it trains on."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks in place (float64 on CPU for gloo; the device's tensor for NCCL)."""
        if self.active:
            moved = tensor.to(self.device) if dist.get_backend() == "nccl" else tensor
            dist.all_reduce(moved, op=dist.ReduceOp.SUM)
            if moved is not tensor:
                tensor.copy_(moved.cpu())
        return tensor


def pick_device(name: str, local_rank: int) -> torch.device:
    """``auto`` -> cuda:<local_rank> when CUDA is available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but CUDA is not available")
        return torch.device(f"cuda:{local_rank}")
    return torch.device(name)


def init_distributed(device: str = "auto") -> DistContext:
    """Join torchrun's process group (idempotent); a plain ``python`` run is a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        LOG.info("rank %d/%d joined the %s process group on %s", rank, world, backend, dev)
    return DistContext(rank, world, local_rank, dev)


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def check_divisible(batch: int, world: int, accum: int) -> int:
    """The micro-batch size; the global batch must split evenly over ranks x accumulation steps."""
    if batch % (world * accum):
        raise ValueError(f"optim.batch_size={batch} is not divisible by world size {world} x "
                         f"optim.accum_steps={accum}; pick a world size / accum_steps that divides it")
    return batch // (world * accum)


class RankStepBatches(torch.utils.data.Sampler):
    """This rank's slice of each step's global batch: step k -> [k*B + r*B/W, k*B + (r+1)*B/W)."""

    def __init__(self, start: int, stop: int, batch_size: int, rank: int = 0, world: int = 1):
        self.start, self.stop, self.batch_size, self.rank, self.world = start, stop, batch_size, rank, world
        self.share = check_divisible(batch_size, world, 1)

    def __iter__(self) -> Iterator[list[int]]:
        for k in range(self.start, self.stop):
            first = k * self.batch_size + self.rank * self.share
            yield list(range(first, first + self.share))

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Run ``langtrack <argv>`` under torchrun with ``nproc`` processes on this machine; its exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "langtrack_ros.cli", *argv]
    LOG.info("launching: %s", " ".join(cmd))
    return subprocess.call(cmd)
