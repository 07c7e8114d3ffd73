"""Data-parallel training under torchrun: process group, DDP wrapping, rank-0-only writes.

``torchrun --nproc_per_node N`` sets RANK / WORLD_SIZE / LOCAL_RANK; without them this is a
single process and every helper is a no-op. NCCL on GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from edgekit.errors import PipelineError

# rank > 0 waits in a barrier while rank 0 exports, quantizes and benchmarks: allow for it
TIMEOUT = timedelta(seconds=int(os.environ.get("EDGEKIT_DIST_TIMEOUT_S", "7200")))


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return env_rank() == 0


@dataclass
class DistEnv:
    rank: int
    world_size: int
    device: Any
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: Any) -> Any:
        if self.world_size == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def mean(self, values: list[float]) -> list[float]:
        """Each value averaged over the ranks."""
        if self.world_size == 1:
            return values
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return (tensor / self.world_size).tolist()

    def from_main(self, value: int) -> int:
        """Rank 0's ``value`` on every rank (decisions such as early stopping, or the time budget that each rank's
        clock would judge a little differently, must agree)."""
        if self.world_size == 1:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], device=self.device)
        dist.broadcast(tensor, src=0)
        return int(tensor.item())

    def sync_buffers(self, module: Any) -> None:
        """Rank 0's buffers (BatchNorm running statistics) everywhere: each rank updated them on its own shard."""
        if self.world_size == 1:
            return
        import torch.distributed as dist

        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def setup(device: str = "auto") -> DistEnv:
    """The process group (initialised once per process) and the device of this rank."""
    import torch

    world = env_world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" and not torch.cuda.is_available():
        raise PipelineError("Distillation on CUDA was asked for but no CUDA device is available.",
                            "Drop the device setting (auto picks CPU here).")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    dev = torch.device(f"cuda:{local % max(1, torch.cuda.device_count())}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    backend = None
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=TIMEOUT)
    return DistEnv(env_rank(), world, dev, backend)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def finish() -> None:
    """Wait for every rank, then tear the process group down (the end of a torchrun compress)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
