"""Baselines for node classification beside NSD: an MLP that ignores the graph and a GCN (Kipf & Welling, ICLR
2017), with the same call signature as the NSD models: ``model(x, edge_index_or_structure) -> logits``."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv

from sheafgraph.ops import GraphStructure
from sheafgraph.ops.dropout import dropout
from sheafgraph.ops.structure import StructureLike


def _widths(in_channels: int, out_channels: int, hidden_channels: int, num_layers: int):
    sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
    return list(zip(sizes[:-1], sizes[1:]))


class MLP(nn.Module):
    r"""``num_layers`` linear layers with ReLU and dropout,
    :math:`h^{(l+1)} = W^{(l)} \mathrm{drop}(\mathrm{relu}(h^{(l)}))`; ignores the graph.

    Shapes:
        x: ``(|V|, in_channels)``; returns ``(|V|, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, input_dropout: float = 0.0):
        super().__init__()
        self.lins = nn.ModuleList([nn.Linear(a, b) for a, b in _widths(in_channels, out_channels, hidden_channels,
                                                                        num_layers)])
        self.dropout, self.input_dropout = dropout, input_dropout

    def forward(self, x: Tensor, edge_index: Optional[StructureLike] = None) -> Tensor:
        x = dropout(x, self.input_dropout, self.training)
        for k, lin in enumerate(self.lins):
            if k > 0:
                x = dropout(F.relu(x), self.dropout, self.training)
            x = lin(x)
        return x


class GCN(nn.Module):
    r"""``num_layers`` PyG ``GCNConv`` layers, :math:`H^{(l+1)} = \hat A\, \mathrm{drop}(\mathrm{relu}(H^{(l)}))
    W^{(l)}` with :math:`\hat A = D^{-1/2}(A + I)D^{-1/2}`.

    Shapes:
        x: ``(|V|, in_channels)``; edge_index: ``(2, |E|)`` or a GraphStructure; returns ``(|V|, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, input_dropout: float = 0.0):
        super().__init__()
        self.convs = nn.ModuleList([GCNConv(a, b) for a, b in _widths(in_channels, out_channels, hidden_channels,
                                                                       num_layers)])
        self.dropout, self.input_dropout = dropout, input_dropout

    def forward(self, x: Tensor, edge_index: StructureLike) -> Tensor:
        if isinstance(edge_index, GraphStructure):
            edge_index = edge_index.edge_index
        x = dropout(x, self.input_dropout, self.training)
        for k, conv in enumerate(self.convs):
            if k > 0:
                x = dropout(F.relu(x), self.dropout, self.training)
            x = conv(x, edge_index)
        return x


BASELINES = {"mlp": MLP, "gcn": GCN}
