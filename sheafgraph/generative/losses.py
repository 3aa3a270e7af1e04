r"""Denoising score matching for GDSS's system of SDEs (Jo et al., ICML 2022, Eq. 7).

With :math:`t \sim U(\epsilon, T)`, :math:`X_t = \alpha_t X_0 + \sigma_t z_X` and
:math:`A_t = \alpha_t A_0 + \sigma_t z_A`
(:math:`z_A` symmetric, zero diagonal), the score :math:`s = -\hat\epsilon/\sigma_t` gives the objectives

.. math:: \mathcal L_X = \mathbb E\,\|\sigma_t s_\theta + z_X\|^2 = \mathbb E\,\|\hat\epsilon_X - z_X\|^2, \qquad
          \mathcal L_A = \mathbb E\,\|\hat\epsilon_A - z_A\|^2,

each a mean over the *real* entries only: real nodes times features for X, ordered pairs of distinct real nodes
for A (GDSS sums over all entries, padding included; the mean keeps the loss scale independent of N).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from sheafgraph.generative.noise import Graphs, graph_noise
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.utils.seed import rand


def masked_mse(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """``sum(weight * (pred - target)^2) / sum(weight)`` with ``weight`` broadcast to ``pred``."""
    weight = weight.expand_as(pred)
    return (weight * (pred - target).pow(2)).sum() / weight.sum().clamp_min(1)


def dsm_loss(model: nn.Module, sde: GraphSDE, graphs: Graphs, *, eps: float = 1e-5,
             generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    r"""Denoising score-matching losses :math:`(\mathcal L_X, \mathcal L_A)` on a batch of clean graphs.

    Args:
        model: noise predictor ``model(x, adj, mask, t) -> (eps_x, eps_adj)``.
        sde: the system of forward SDEs.
        graphs: clean graphs (x one-hot atom types, adj bond orders, mask of real nodes).
        eps: smallest diffusion time (avoids :math:`\sigma_t \to 0` for VP).
        generator: source of the times and the noise.

    Shapes:
        graphs.x: ``(B, N, F)``; graphs.adj: ``(B, N, N)`` or ``(B, K, N, N)`` (categorical bonds);
        graphs.mask: ``(B, N)``, 0/1 or bool; returns two scalars.
    """
    x, adj, mask = graphs
    mask = mask.to(x.dtype)                             # a bool mask (as data loaders give) weighs like 0/1
    graphs = Graphs(x, adj, mask)
    t = rand((x.shape[0],), generator, dtype=x.dtype, device=x.device) * (sde.T - eps) + eps
    noise = graph_noise(graphs, generator)
    noisy = sde.perturb(graphs, t, noise)
    eps_x, eps_adj = model(noisy.x, noisy.adj, mask, t)
    pair_mask = (mask.unsqueeze(-1) * mask.unsqueeze(-2)) * (1 - torch.eye(mask.shape[-1], dtype=mask.dtype,
                                                                         device=mask.device))
    if adj.dim() == 4:                                  # categorical bonds: every channel of every pair
        pair_mask = pair_mask.unsqueeze(1)
    return masked_mse(eps_x, noise.x, mask.unsqueeze(-1)), masked_mse(eps_adj, noise.adj, pair_mask)
