"""Training utilities for GDSS: one optimisation step (with the EMA of `sheafgraph.utils.EMA`) and the training loop.

GDSS (Jo et al., ICML 2022, App. C) trains with Adam, clips the gradient norm, decays the learning rate by a
constant factor per epoch (``ExponentialLR``) and samples with EMA weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from sheafgraph.generative.losses import dsm_loss
from sheafgraph.generative.noise import Graphs
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.utils import EMA, load_checkpoint, save_checkpoint


def train_step(model: nn.Module, sde: GraphSDE, optimizer: torch.optim.Optimizer, graphs: Graphs, *,
               ema: Optional[EMA] = None, grad_clip: Optional[float] = 1.0, eps: float = 1e-5,
               generator: Optional[torch.Generator] = None) -> Tuple[float, float]:
    """One optimiser step on ``L_X + L_A`` with gradient-norm clipping per sub-network and an EMA update.

    Returns the two losses as floats.
    """
    model.train()
    loss_x, loss_adj = dsm_loss(model, sde, graphs, eps=eps, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    (loss_x + loss_adj).backward()
    if grad_clip is not None:  # per sub-network, as GDSS clips its X and A networks separately
        for part in (list(model.children()) or [model]):
            nn.utils.clip_grad_norm_(part.parameters(), grad_clip)
    optimizer.step()
    if ema is not None:
        ema.update(model)
    return float(loss_x.detach()), float(loss_adj.detach())


def fit(model: nn.Module, sde: GraphSDE, data: Graphs, checkpoint: str, *, epochs: int, batch_size: int = 1024,
        lr: float = 5e-3, weight_decay: float = 1e-4, lr_decay: float = 0.999, ema_decay: float = 0.999,
        grad_clip: Optional[float] = 1.0, eps: float = 1e-5, seed: int = 0, resume: bool = True,
        extra: Optional[Dict] = None, log=None, progress=None) -> Dict:
    """Train ``model`` on ``data`` for ``epochs`` epochs, writing a resumable checkpoint after every epoch.

    The checkpoint holds the model and EMA weights, optimiser, scheduler and generator states, the epoch, the
    loss history, ``model.config()``, ``sde.config()`` and ``extra`` (e.g. the node-count distribution).
    With ``resume=True`` an existing checkpoint is continued from its last epoch; resumed training reproduces
    uninterrupted training exactly (same shuffles and noise).

    Args:
        model: noise predictor with a ``config()`` method. sde: the system of SDEs.
        data: all training graphs. checkpoint: the checkpoint file.
        epochs: total number of epochs (including those already done when resuming).
        log: ``log(str)`` after each epoch. progress: ``progress(iterable, desc, total)`` wrapper for batches.

    Shapes:
        data.x: ``(M, N, F)``; data.adj: ``(M, N, N)``; data.mask: ``(M, N)``.
    """
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"batch_size must be >= 1 and epochs >= 0, got {batch_size} and {epochs}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay)
    ema = EMA(model, ema_decay)
    generator = torch.Generator().manual_seed(seed)
    state = {"epoch": 0, "history": []}
    if resume and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
    num = data.x.shape[0]
    for epoch in range(state["epoch"], epochs):
        perm = torch.randperm(num, generator=generator)
        batches = perm.split(batch_size)
        if progress is not None:
            batches = progress(batches, desc=f"epoch {epoch + 1}/{epochs}", total=len(batches))
        sums = torch.zeros(2, dtype=torch.float64)
        for idx in batches:
            batch = Graphs(data.x[idx], data.adj[idx], data.mask[idx])
            losses = train_step(model, sde, optimizer, batch, ema=ema, grad_clip=grad_clip, eps=eps,
                                generator=generator)
            sums += torch.tensor(losses, dtype=torch.float64) * len(idx)
        scheduler.step()
        loss_x, loss_adj = (sums / num).tolist()
        state = {"epoch": epoch + 1, "history": state["history"] + [[loss_x, loss_adj]],
                 "model_config": model.config(), "sde_config": sde.config(), **(extra or {}),
                 "train_config": {"batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                                  "lr_decay": lr_decay, "ema_decay": ema_decay, "grad_clip": grad_clip,
                                  "eps": eps, "seed": seed},
                 "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "generator": generator.get_state()}
        save_checkpoint(state, checkpoint)
        if log is not None:
            log(f"epoch {epoch + 1}: loss_x {loss_x:.4f} loss_adj {loss_adj:.4f} lr {scheduler.get_last_lr()[0]:.2e}")
    return state
