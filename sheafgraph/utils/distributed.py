"""Data-parallel training with ``torch.distributed`` (DDP), launched by ``torchrun``.

``torchrun --nproc_per_node P ...`` starts P processes with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in their
environment; :func:`init_distributed` turns that into a process group (NCCL on CUDA, Gloo on CPU). Every rank
then runs the same training loop on its own share of each batch, and DDP averages the gradients, so the model
stays identical on all ranks.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, List, NamedTuple

import torch
import torch.distributed as dist

from sheafgraph.utils.checks import int_in_range


class DistributedContext(NamedTuple):
    """This process's place in the job: rank in ``0 .. world_size - 1`` and the device it trains on."""
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and logs."""
        return self.rank == 0

    @property
    def log(self) -> Callable[..., None]:
        """``print`` on rank 0, a function that prints nothing on the other ranks."""
        return print if self.is_main else _silent


def _silent(*args: Any, **kwargs: Any) -> None:
    """Print nothing (the ranks that do not log)."""


def launched_distributed() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group that ``torchrun`` set up (no-op and rank 0 of 1 when not launched that way).

    On CUDA each rank takes the GPU ``LOCAL_RANK`` and the NCCL backend; on CPU the Gloo backend.
    """
    if not launched_distributed():
        return DistributedContext(0, 1, device)
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise RuntimeError(f"WORLD_SIZE > 1 but {name} is not set: launch with torchrun --nproc_per_node N ...")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current_context(device)


def leave_distributed() -> bool:
    """Destroy the process group, if one is up, before the process exits: a torchrun rank that exits with Gloo's
    threads still running can abort ("terminate called without an active exception", exit code -6). Returns
    whether there was one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False


def exit_without_teardown(code: int) -> None:
    """Flush stdout and stderr and end the process with ``code`` without the interpreter's teardown.

    For a rank whose work is done and whose process group is destroyed: even then a Gloo rank has aborted in the
    teardown (SIGABRT in a native thread, no Python frame) in a few percent of finished GDSS runs on a loaded
    2-core machine, which torchrun reports as a failed job. Files are closed by then; atexit handlers do not run.

    Raises:
        ValueError: ``code`` is not an exit status (an int in 0..255).
    """
    code = int_in_range(code, "exit code", 0, 255, "a process exit status")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def current_context(device: torch.device) -> DistributedContext:
    """Rank and world size of the initialised process group (0 of 1 without one)."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(), device)
    return DistributedContext(0, 1, device)


def all_gather_objects(obj: Any, context: DistributedContext) -> List[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` on a single process)."""
    if context.world_size == 1:
        return [obj]
    out: List[Any] = [None] * context.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, context: DistributedContext, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself on a single process; the other ranks may pass ``None``),
    e.g. a decision only rank 0 can take, so that every rank follows it."""
    if context.world_size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(tensor: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum of ``tensor`` over the ranks (in place; the tensor itself on a single process)."""
    if context.world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
