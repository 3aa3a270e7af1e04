"""Shared utilities: checkpoints, seeding, progress bars, weight averaging."""
from sheafgraph.utils.checkpoint import load_checkpoint, save_checkpoint
from sheafgraph.utils.ema import EMA
from sheafgraph.utils.progress import progress
from sheafgraph.utils.seed import seed_everything

__all__ = ["EMA", "load_checkpoint", "progress", "save_checkpoint", "seed_everything"]
