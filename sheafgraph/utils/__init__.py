"""Shared utilities: checkpoints, seeding, progress bars, weight averaging, devices, data-parallel training."""
from sheafgraph.utils.checkpoint import load_checkpoint, save_checkpoint
from sheafgraph.utils.device import DEFAULT_THREADS, resolve_device, set_threads
from sheafgraph.utils.distributed import DistributedContext, init_distributed
from sheafgraph.utils.ema import EMA
from sheafgraph.utils.progress import progress
from sheafgraph.utils.seed import seed_everything

__all__ = ["DEFAULT_THREADS", "DistributedContext", "EMA", "init_distributed", "load_checkpoint", "progress",
           "resolve_device", "save_checkpoint", "seed_everything", "set_threads"]
