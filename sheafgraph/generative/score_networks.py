"""GDSS's score networks (Jo, Lee, Hwang, ICML 2022, Sec. 3.2 and App. C) and the joint noise-prediction model.

Both networks predict the *noise* :math:`\\hat\\epsilon` of a perturbed graph; the score is
:math:`s = -\\hat\\epsilon / \\sigma_t` (score_sde's ``scale_by_sigma``). GDSS uses this scaling for VP SDEs and the raw
output for VE; using it for every SDE keeps one path and lets the network output stay O(1) without time input.

Every GCN normalises the noisy adjacency with degrees clamped below at ``min_degree`` (default 1, as PyG's
``DenseGCNConv`` in GDSS; :func:`sheafgraph.ops.dense.normalized_adjacency`). Checkpoints written before this option
existed used 0 (rows of degree <= 0 dropped, degrees in (0, 1) amplified); :meth:`GDSSNoiseModel.from_config` keeps
that for them.

With ``bond_levels`` (categorical bonds, :mod:`sheafgraph.generative.bond_channels`) the adjacency is ``(B, K, N, N)``,
one channel per level: both networks convolve with the bond-order view :math:`\\sum_k \\ell_k C_k`, and the adjacency
network starts from the K channels next to the powers of that view and predicts the noise of every channel.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from sheafgraph.generative.bond_channels import bond_order_view, check_levels
from sheafgraph.generative.layers import MLP, AttentionLayer, DenseGCNConv, pair_features, symmetric_from_pairs
from sheafgraph.generative.noise import batch_view
from sheafgraph.ops.dense import (adjacency_powers, check_dense_batch, mask_adjacency, mask_nodes, normalized_adjacency,
                                  size_buckets)


def _with_time(h: Tensor, t: Optional[Tensor]) -> Tensor:
    """Append the diffusion time ``t (B,)`` as one more feature of ``h (B, ..., F)`` (time conditioning)."""
    if t is None:
        raise ValueError("this score network is time-conditioned: pass t (B,)")
    return torch.cat([h, batch_view(t.to(h.dtype), h).expand(*h.shape[:-1], 1)], dim=-1)


def _register_levels(module: nn.Module, levels: Optional[Sequence[float]]) -> None:
    """Keep categorical ``levels`` as a non-persistent buffer ``bond_levels`` (None: a scalar adjacency)."""
    if levels is None:
        module.bond_levels = None
    else:
        module.register_buffer("bond_levels", torch.tensor(check_levels(levels)), persistent=False)


class ScoreNetworkX(nn.Module):
    r"""GDSS's ScoreNetworkX: ``depth`` GCN layers on the noisy weighted adjacency,
    :math:`H^{(l+1)} = \tanh(\hat A H^{(l)} W^{(l)})`, then an MLP on :math:`[X \| H^{(1)} \| \dots \| H^{(L)}]`.

    Args:
        num_features: atom types F. depth: GCN layers. hidden: GCN width.
        time_conditioning: append t to the MLP head's input. min_degree: degree clamp of the GCN normalisation.

    Shapes:
        x: ``(B, N, F)``; adj: ``(B, N, N)`` (``(B, K, N, N)`` with ``bond_levels``); mask: ``(B, N)``; t: ``(B,)``;
        returns ``(B, N, F)``.
    """

    def __init__(self, num_features: int, depth: int = 2, hidden: int = 16, time_conditioning: bool = False,
                 min_degree: float = 1.0, bond_levels: Optional[Sequence[float]] = None):
        super().__init__()
        self.time_conditioning, self.min_degree = time_conditioning, min_degree
        _register_levels(self, bond_levels)
        dims = [num_features] + [hidden] * depth
        self.convs = nn.ModuleList(DenseGCNConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        head_in = num_features + depth * hidden + int(time_conditioning)
        self.head = MLP(head_in, 2 * head_in, num_features, num_layers=3)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor, t: Optional[Tensor] = None) -> Tensor:
        if self.bond_levels is not None:
            adj = bond_order_view(adj, self.bond_levels)
        adj_norm = normalized_adjacency(adj, mask, min_degree=self.min_degree, validate=False).unsqueeze(1)
        hs = [x]
        for conv in self.convs:
            hs.append(torch.tanh(conv(hs[-1], adj_norm).squeeze(1)))
        h = torch.cat(hs, dim=-1)
        return mask_nodes(self.head(_with_time(h, t) if self.time_conditioning else h), mask)


class ScoreNetworkA(nn.Module):
    r"""GDSS's ScoreNetworkA: graph multi-head attention over the channels :math:`[A, A^2, \dots, A^{c}]`,
    ``num_layers`` :class:`AttentionLayer` s, and an MLP on the concatenated edge channels of all layers giving a
    symmetric output with zero diagonal. ``min_degree``: degree clamp of every GCN normalisation (module docstring).

    Shapes:
        x: ``(B, N, F)``; adj: ``(B, N, N)``; mask: ``(B, N)``; t: ``(B,)``; returns ``(B, N, N)``. With
        ``bond_levels`` (K of them) adj and the result are ``(B, K, N, N)``.
    """

    def __init__(self, num_features: int, hidden: int = 16, num_layers: int = 3, num_linears: int = 3,
                 c_init: int = 2, c_hid: int = 8, c_final: int = 4, attn_dim: int = 16, num_heads: int = 4,
                 time_conditioning: bool = False, min_degree: float = 1.0,
                 bond_levels: Optional[Sequence[float]] = None):
        super().__init__()
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        self.c_init, self.time_conditioning = c_init, time_conditioning
        _register_levels(self, bond_levels)
        bond_channels = 1 if bond_levels is None else len(bond_levels)
        first = bond_channels + c_init - 1          # the adjacency channels, then the powers 2..c_init
        channels = [first] + [c_hid] * (num_layers - 1) + [c_final]
        convs = [num_features] + [hidden] * num_layers
        attn = [hidden] + [attn_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(
            AttentionLayer(num_linears, convs[i], attn[i], convs[i + 1], channels[i], channels[i + 1], num_heads,
                           min_degree)
            for i in range(num_layers))
        head_in = sum(channels) + int(time_conditioning)
        self.head = MLP(head_in, 2 * head_in, bond_channels, num_layers=3)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor, t: Optional[Tensor] = None) -> Tensor:
        if self.bond_levels is None:
            a = adjacency_powers(adj, self.c_init, validate=False)
        else:               # the K bond channels, then the powers 2..c_init of the bond-order view
            powers = adjacency_powers(bond_order_view(adj, self.bond_levels), self.c_init, validate=False)
            a = torch.cat([adj, powers[:, 1:]], dim=1)
        a = mask_adjacency(a, mask)
        channels = [a]
        for layer in self.layers:
            x, a = layer(x, a, mask)
            channels.append(a)
        # the head scores each pair i < j once (symmetric input channels), the diagonal stays zero
        n = adj.shape[-1]
        rows, cols = torch.triu_indices(n, n, 1, device=adj.device)
        h = pair_features(torch.cat(channels, dim=1), rows, cols)
        out = self.head(_with_time(h, t) if self.time_conditioning else h).transpose(1, 2)       # (B, K, P)
        out = symmetric_from_pairs(out, rows, cols, n)
        return mask_adjacency(out.squeeze(1) if self.bond_levels is None else out, mask)


class GDSSNoiseModel(nn.Module):
    r"""The joint model :math:`(\hat\epsilon_X, \hat\epsilon_A) = (s_\theta(X_t, A_t, t), s_\phi(X_t, A_t, t))`.

    Args:
        num_features: atom types F.
        x_params, adj_params: keyword arguments of :class:`ScoreNetworkX` and :class:`ScoreNetworkA` (defaults:
            GDSS's QM9 configuration).
        time_conditioning: feed t to both networks (GDSS does not).
        min_degree: degree clamp of every GCN normalisation (module docstring).
        bond_levels: categorical bonds, one adjacency channel per level (module docstring); None: GDSS's scalar
            adjacency.

    Shapes:
        x: ``(B, N, F)``; adj: ``(B, N, N)``, or ``(B, K, N, N)`` with K ``bond_levels``; mask: ``(B, N)``;
        t: ``(B,)``; returns ``(B, N, F)`` and the shape of adj.

    Both networks treat every graph on its own and ignore padding, so a batch of mixed sizes is evaluated in groups
    of similar size, each cropped to its largest graph (:func:`~sheafgraph.ops.dense.size_buckets` with
    :attr:`bucket_ratio`; None: one pass over the padded batch). The outputs are those of one padded pass up to
    rounding; the pairwise work falls from :math:`B N^2` towards :math:`\sum_b n_b^2` (an ENZYMES batch: 8x less,
    a training step 20x faster on one CPU core, ``benchmarks/gdss_step.py``).
    """

    #: size ratio within one group of :func:`~sheafgraph.ops.dense.size_buckets`; None turns grouping off
    bucket_ratio: Optional[float] = 0.75

    def __init__(self, num_features: int = 4, x_params: Optional[Dict[str, Any]] = None,
                 adj_params: Optional[Dict[str, Any]] = None, time_conditioning: bool = False,
                 min_degree: float = 1.0, bond_levels: Optional[Sequence[float]] = None):
        super().__init__()
        self.num_features, self.time_conditioning, self.min_degree = num_features, time_conditioning, min_degree
        self.x_params, self.adj_params = dict(x_params or {}), dict(adj_params or {})
        self.levels = None if bond_levels is None else list(check_levels(bond_levels))
        common = {"time_conditioning": time_conditioning, "min_degree": min_degree, "bond_levels": self.levels}
        self.net_x = ScoreNetworkX(num_features, **common, **self.x_params)
        self.net_adj = ScoreNetworkA(num_features, **common, **self.adj_params)

    @property
    def adj_channels(self) -> int:
        """Adjacency channels: 1 (a ``(B, N, N)`` adjacency) or K (categorical, ``(B, K, N, N)``)."""
        return 1 if self.levels is None else len(self.levels)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor, t: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        if self.levels is not None:
            if not isinstance(adj, Tensor) or adj.dim() != 4 or adj.shape[1] != len(self.levels):
                shape = tuple(adj.shape) if isinstance(adj, Tensor) else type(adj).__name__
                raise ValueError(f"this model has categorical bonds: adj must have shape (B, {len(self.levels)}, N, "
                                 f"N), one channel per bond level {tuple(self.levels)}, got {shape}")
            check_dense_batch(adj[:, 0], mask, finite=False)
        else:
            check_dense_batch(adj, mask, finite=False)
        b, n = adj.shape[0], adj.shape[-1]
        if not isinstance(x, Tensor) or x.shape != (b, n, self.num_features):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (B, N, F) = {(b, n, self.num_features)} to match adj "
                             f"{tuple(adj.shape)} and the model's {self.num_features} features, got {shape}")
        groups = None if self.bucket_ratio is None else size_buckets(mask, self.bucket_ratio)
        if groups is None:
            return self.net_x(x, adj, mask, t), self.net_adj(x, adj, mask, t)
        parts_x, parts_adj = [], []
        for rows, size in groups:
            t_rows = t[rows] if isinstance(t, Tensor) and t.dim() > 0 else t
            xs, a, m = x[rows, :size], adj[rows][..., :size, :size], mask[rows, :size]
            px, pa = self.net_x(xs, a, m, t_rows), self.net_adj(xs, a, m, t_rows)
            parts_x.append(nn.functional.pad(px, (0, 0, 0, n - size)))
            parts_adj.append(nn.functional.pad(pa, (0, n - size, 0, n - size)))
        inverse = torch.argsort(torch.cat([rows for rows, _ in groups]))
        return torch.cat(parts_x)[inverse], torch.cat(parts_adj)[inverse]

    def config(self) -> Dict[str, Any]:
        """Constructor arguments as plain data (stored in checkpoints; ``bond_levels`` only when categorical)."""
        config = {"num_features": self.num_features, "x_params": self.x_params, "adj_params": self.adj_params,
                  "time_conditioning": self.time_conditioning, "min_degree": self.min_degree}
        return config if self.levels is None else {**config, "bond_levels": self.levels}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "GDSSNoiseModel":
        """The model of a stored :meth:`config`; configs without ``min_degree`` (older checkpoints) get 0."""
        return cls(**{"min_degree": 0.0, **config})
