"""The process group of a ``torchrun`` launch (or a single process when launched plainly)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    """This process's place in the run and the device it trains on."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def start(device: str = "auto") -> World:
    """Joins the process group ``torchrun`` describes in the environment: NCCL on GPUs, gloo on CPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda: no GPU is visible to PyTorch")
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if size > 1:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return World(rank, size, local, dev)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_mean(values: list[float], world: World) -> list[float]:
    """The mean of ``values`` over the processes."""
    t = torch.tensor(values, dtype=torch.float64, device=world.device)
    if world.size > 1:
        dist.all_reduce(t)
        t /= world.size
    return t.tolist()


def all_sum(values: list[float], world: World) -> list[float]:
    """The sum of ``values`` over the processes."""
    t = torch.tensor(values, dtype=torch.float64, device=world.device)
    if world.size > 1:
        dist.all_reduce(t)
    return t.tolist()
