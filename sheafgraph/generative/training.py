"""Training utilities for GDSS: one optimisation step (with the EMA of `sheafgraph.utils.EMA`) and the training loop.

GDSS (Jo et al., ICML 2022, App. C) trains with Adam, clips the gradient norm, decays the learning rate by a
constant factor per epoch (``ExponentialLR``) and samples with EMA weights. The loop runs on any device and, when
``torch.distributed`` is initialised (``torchrun``, :func:`sheafgraph.utils.init_distributed`), data-parallel:
every rank takes an equal share of each batch and DDP averages the gradients.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from sheafgraph.generative.losses import dsm_loss
from sheafgraph.generative.noise import Graphs
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.utils import EMA, load_checkpoint, save_checkpoint
from sheafgraph.utils.distributed import DistributedContext, all_gather_objects, all_reduce_sum, current_context


def train_step(model: nn.Module, sde: GraphSDE, optimizer: torch.optim.Optimizer, graphs: Graphs, *,
               ema: Optional[EMA] = None, grad_clip: Optional[float] = 1.0, eps: float = 1e-5,
               generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """One optimiser step on ``L_X + L_A`` with gradient-norm clipping per sub-network and an EMA update.

    ``model`` may be wrapped in ``DistributedDataParallel``; clipping and the EMA then see the wrapped model.
    Returns the two losses as detached 0-dim tensors on the model's device (no host synchronisation per step).
    """
    model.train()
    loss_x, loss_adj = dsm_loss(model, sde, graphs, eps=eps, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    (loss_x + loss_adj).backward()
    core = model.module if isinstance(model, DistributedDataParallel) else model
    if grad_clip is not None:  # per sub-network, as GDSS clips its X and A networks separately
        for part in (list(core.children()) or [core]):
            nn.utils.clip_grad_norm_(part.parameters(), grad_clip)
    optimizer.step()
    if ema is not None:
        ema.update(core)
    return loss_x.detach(), loss_adj.detach()


def fit(model: nn.Module, sde: GraphSDE, data: Graphs, checkpoint: str, *, epochs: int, batch_size: int = 1024,
        lr: float = 5e-3, weight_decay: float = 1e-4, lr_decay: float = 0.999, ema_decay: float = 0.999,
        grad_clip: Optional[float] = 1.0, eps: float = 1e-5, seed: int = 0, resume: bool = True,
        resume_lr: Optional[float] = None, device: Union[str, torch.device] = "cpu", extra: Optional[Dict] = None,
        log=None, progress=None) -> Dict:
    """Train ``model`` on ``data`` for ``epochs`` epochs, writing a resumable checkpoint after every epoch.

    The checkpoint holds the model and EMA weights, optimiser, scheduler and generator states, the epoch, the
    loss history, ``model.config()``, ``sde.config()`` and ``extra`` (e.g. the node-count distribution).
    With ``resume=True`` an existing checkpoint is continued from its last epoch; resumed training reproduces
    uninterrupted training exactly (same shuffles and noise).

    Data-parallel (``torch.distributed`` initialised, W ranks): all ranks draw the same shuffle, rank r trains on
    rows ``r, r + W, ...`` of each batch with its own noise generator, DDP averages the gradients, and only rank 0
    writes the checkpoint and logs (the checkpoint keeps every rank's noise-generator state).

    Args:
        model: noise predictor with a ``config()`` method. sde: the system of SDEs.
        data: all training graphs (any device; batches are moved to ``device``). checkpoint: the checkpoint file.
        epochs: total number of epochs (including those already done when resuming).
        resume_lr: when resuming, go on with this learning rate instead of the saved one (e.g. to anneal), still
            decayed by ``lr_decay`` per epoch; every change is kept in the checkpoint as ``[epoch, lr]`` under
            ``"lr_resets"``.
        device: where to train (under DDP on CUDA: this rank's GPU).
        log: ``log(str)`` after each epoch. progress: ``progress(iterable, desc, total)`` wrapper for batches.

    Shapes:
        data.x: ``(M, N, F)``; data.adj: ``(M, N, N)``; data.mask: ``(M, N)``.
    """
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"batch_size must be >= 1 and epochs >= 0, got {batch_size} and {epochs}")
    if resume_lr is not None and not resume_lr > 0:
        raise ValueError(f"resume_lr must be positive, got {resume_lr}")
    context = current_context(torch.device(device))
    model.to(context.device)
    net = model
    if context.world_size > 1:
        # static graph: the same parameters take part every step (the last adjacency layer's node MLP never does)
        net = DistributedDataParallel(model, device_ids=[context.device] if context.device.type == "cuda" else None,
                                      static_graph=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay)
    ema = EMA(model, ema_decay)
    generator = torch.Generator().manual_seed(seed)          # shuffles (and, on one CPU process, the noise)
    noise = _noise_generator(generator, seed, context)
    state = {"epoch": 0, "history": [], "lr_resets": []}
    if resume and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint)
        state.setdefault("lr_resets", [])                    # checkpoints written before resume_lr existed
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        if noise is not generator:
            saved = state.get("noise_generators") or []
            if len(saved) == context.world_size:
                noise.set_state(saved[context.rank])
            else:                                            # another world size: fresh streams from this epoch on
                noise = _noise_generator(generator, seed + 7919 * state["epoch"], context)
        if resume_lr is not None and state["epoch"] < epochs:
            for group in optimizer.param_groups:
                group["lr"] = resume_lr
            state["lr_resets"] = state["lr_resets"] + [[state["epoch"], resume_lr]]
            if log is not None and context.is_main:
                log(f"learning rate set to {resume_lr:.2e} after epoch {state['epoch']}")
    if log is not None and context.is_main:
        log(f"checkpoint {checkpoint}: {_plan(state['epoch'], epochs)}")
    num, share = data.x.shape[0], context.world_size
    with _quiet_ddp_strides(context.world_size > 1):
        for epoch in range(state["epoch"], epochs):
            perm = torch.randperm(num, generator=generator)
            batches = [idx for idx in perm.split(batch_size) if len(idx) >= share]  # every rank needs rows
            if progress is not None and context.is_main:
                batches = progress(batches, desc=f"epoch {epoch + 1}/{epochs}", total=len(batches))
            sums = torch.zeros(3, dtype=torch.float64, device=context.device)
            for idx in batches:
                rows = idx[context.rank::share]
                batch = Graphs(*(part[rows].to(context.device) for part in data))
                losses = train_step(net, sde, optimizer, batch, ema=ema, grad_clip=grad_clip, eps=eps,
                                    generator=noise)
                sums += torch.stack([*losses, torch.ones_like(losses[0])]).double() * len(rows)
            scheduler.step()
            sums = all_reduce_sum(sums, context).cpu()
            loss_x, loss_adj = (sums[:2] / sums[2].clamp_min(1)).tolist()
            noise_states = all_gather_objects(noise.get_state(), context) if noise is not generator else []
            state = {"epoch": epoch + 1, "history": state["history"] + [[loss_x, loss_adj]],
                     "lr_resets": state["lr_resets"],
                     "model_config": model.config(), "sde_config": sde.config(), **(extra or {}),
                     "train_config": {"batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                                      "lr_decay": lr_decay, "ema_decay": ema_decay, "grad_clip": grad_clip,
                                      "eps": eps, "seed": seed, "world_size": context.world_size},
                     "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                     "noise_generators": noise_states}
            if context.is_main:
                save_checkpoint(state, checkpoint)
                if log is not None:
                    log(f"epoch {epoch + 1}: loss_x {loss_x:.4f} loss_adj {loss_adj:.4f} "
                        f"lr {scheduler.get_last_lr()[0]:.2e}")
    return state


def _plan(done: int, epochs: int) -> str:
    """What a run asked for ``epochs`` will do after the ``done`` epochs of its checkpoint."""
    if done == 0:
        return f"new run of {epochs} epochs"
    if done < epochs:
        return f"resuming after epoch {done}, training epochs {done + 1}-{epochs}"
    return f"already trained {done} epochs >= epochs={epochs}: nothing to do (raise the epochs to continue)"


@contextlib.contextmanager
def _quiet_ddp_strides(active: bool):
    """Within: DDP's warning that gradient strides differ from its buckets' is ignored (for the size-1 leading
    dimension of the channel-wise weights they differ only nominally, with the same memory layout)."""
    with warnings.catch_warnings():
        if active:
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        yield


def _noise_generator(shuffle: torch.Generator, seed: int, context: DistributedContext) -> torch.Generator:
    """The source of diffusion times and noise: the shuffle generator itself on a single CPU process (so older
    checkpoints resume exactly), else a generator on the training device, seeded per rank."""
    if context.world_size == 1 and context.device.type == "cpu":
        return shuffle
    return torch.Generator(context.device).manual_seed(seed * 65536 + context.rank + 1)
