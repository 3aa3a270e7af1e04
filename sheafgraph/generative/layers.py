"""Dense graph layers of GDSS's score networks (Jo et al., ICML 2022, App. C): GCN and graph multi-head attention.

All layers take a batch of small dense graphs with a node mask and keep padding exactly zero. Degree
normalisation comes from :func:`sheafgraph.ops.dense.normalized_adjacency`.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sheafgraph.ops.dense import mask_adjacency, mask_nodes, normalized_adjacency


class MLP(nn.Module):
    """``num_layers`` linear layers with ELU between them (GDSS's MLP, no batch norm).

    Shapes:
        x: ``(..., in_channels)``; returns ``(..., out_channels)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in self.linears:
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        for i, lin in enumerate(self.linears):
            x = lin(x) if i == 0 else lin(nn.functional.elu(x))
        return x


def normalize_channels(adj: Tensor, mask: Tensor, min_degree: float) -> Tensor:
    r"""GCN normalisation :math:`D^{-1/2}(A_c + I)D^{-1/2}` of every channel of ``adj (B, C, N, N)``, degrees
    clamped below at ``min_degree`` (:func:`sheafgraph.ops.dense.normalized_adjacency`)."""
    b, c, n, _ = adj.shape
    flat = normalized_adjacency(adj.reshape(b * c, n, n), mask.repeat_interleave(c, dim=0), min_degree=min_degree,
                                validate=False)
    return flat.reshape(b, c, n, n)


def symmetric_from_pairs(values: Tensor, rows: Tensor, cols: Tensor, n: int) -> Tensor:
    """Scatter per-pair values ``(..., P)`` to symmetric ``(..., n, n)`` matrices: entries (i, j) and (j, i)."""
    out = values.new_zeros(values.shape[:-1] + (n, n))
    out[..., rows, cols] = values
    out[..., cols, rows] = values
    return out


def pair_features(h: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Gather the features of the pairs (rows[p], cols[p]) from edge channels ``h (B, C, N, N)``: ``(B, P, C)``."""
    return h[:, :, rows, cols].transpose(1, 2)


class DenseGCNConv(nn.Module):
    r"""``channels`` independent GCN layers (Kipf & Welling, 2017), one per adjacency channel:
    :math:`H_c = (\hat A_c X) W_c + b_c` with :math:`\hat A_c` already normalised (:func:`normalize_channels`).

    Shapes:
        x: ``(B, N, F)``; adj_norm: ``(B, C, N, N)``; returns ``(B, C, N, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, channels: int = 1):
        super().__init__()
        self.in_channels, self.out_channels, self.channels = in_channels, out_channels, channels
        self.weight = nn.Parameter(torch.empty(channels, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(channels, 1, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = math.sqrt(6.0 / (self.in_channels + self.out_channels))
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, adj_norm: Tensor) -> Tensor:
        # propagate first: F_in <= F_out here, and one einsum over channels beats C tiny bmm's on CPU
        return torch.einsum("bcnf,cfo->bcno", adj_norm @ x.unsqueeze(1), self.weight) + self.bias

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, channels={self.channels})"


class GraphAttention(nn.Module):
    r"""GDSS's graph multi-head attention on each of C adjacency channels: with GCN projections
    :math:`Q, K, V = \mathrm{GCN}(X, A_c)`, the attention map is the head-mean of
    :math:`\tanh(Q_h K_h^\top / \sqrt{d_V})`, symmetrised. Returns the values and the attention maps.

    Shapes:
        x: ``(B, N, F)``; adj_norm: ``(B, C, N, N)``; returns V ``(B, C, N, out)`` and maps ``(B, C, N, N)``.
    """

    def __init__(self, in_channels: int, attn_channels: int, out_channels: int, channels: int, num_heads: int = 4):
        super().__init__()
        if attn_channels % num_heads:
            raise ValueError(f"attn_channels ({attn_channels}) must be divisible by num_heads ({num_heads})")
        self.attn_channels, self.out_channels, self.num_heads = attn_channels, out_channels, num_heads
        self.qkv = DenseGCNConv(in_channels, 2 * attn_channels + out_channels, channels)

    def forward(self, x: Tensor, adj_norm: Tensor):
        q, k, v = self.qkv(x, adj_norm).split([self.attn_channels, self.attn_channels, self.out_channels], dim=-1)
        q, k = (z.unflatten(-1, (self.num_heads, -1)).transpose(-2, -3) for z in (q, k))     # (B, C, H, N, d)
        maps = torch.tanh((q / math.sqrt(self.out_channels)) @ k.transpose(-1, -2)).mean(dim=2)   # scale the small q
        return v, 0.5 * (maps + maps.transpose(-1, -2))


class AttentionLayer(nn.Module):
    r"""One layer of GDSS's ScoreNetworkA: attention on every adjacency channel, then

    * nodes: :math:`X' = \tanh(\mathrm{MLP}([V_1 \| \dots \| V_C]))`,
    * edges: :math:`A'_{ij} = \mathrm{MLP}([\mathrm{attn}_{ij} \| A_{ij}])`, symmetrised as :math:`A' + A'^\top`.
      The inputs are symmetric, so the MLP runs once per pair :math:`i \le j` and :math:`A' + A'^\top = 2A'`.

    ``min_degree``: degree clamp of the GCN normalisation (:func:`normalize_channels`).

    Shapes:
        x: ``(B, N, F)``; adj: ``(B, C_in, N, N)``; mask: ``(B, N)``;
        returns x ``(B, N, conv_out)`` and adj ``(B, C_out, N, N)``.
    """

    def __init__(self, num_linears: int, conv_in: int, attn_channels: int, conv_out: int, channels_in: int,
                 channels_out: int, num_heads: int = 4, min_degree: float = 1.0):
        super().__init__()
        self.min_degree = min_degree
        self.attention = GraphAttention(conv_in, attn_channels, conv_out, channels_in, num_heads)
        hidden = 2 * max(channels_in, channels_out)
        self.node_mlp = MLP(channels_in * conv_out, hidden, conv_out, num_layers=2)
        self.edge_mlp = MLP(2 * channels_in, hidden, channels_out, num_layers=num_linears)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor):
        v, maps = self.attention(x, normalize_channels(adj, mask, self.min_degree))
        # nodes: mix the per-channel values
        x_out = torch.tanh(mask_nodes(self.node_mlp(v.permute(0, 2, 1, 3).flatten(2)), mask))
        # edges: MLP on each pair i <= j of (attention maps, input channels), mirrored
        n = adj.shape[-1]
        rows, cols = torch.triu_indices(n, n, device=adj.device)
        a = self.edge_mlp(pair_features(torch.cat([maps, adj], dim=1), rows, cols)).transpose(1, 2)
        return x_out, mask_adjacency(2 * symmetric_from_pairs(a, rows, cols, n), mask)
