"""Label homophily of a graph: how often edges join nodes of the same class.

Edge homophily (Zhu et al., "Beyond Homophily in Graph Neural Networks", NeurIPS 2020):
``h_edge = |{(j, i) in E : y_j = y_i}| / |E|``, over the edges as listed (an undirected graph stored with both
directions gives the same value as counting each pair once, unless it has self-loops).

Node homophily (Pei et al., "Geom-GCN", ICLR 2020):
``h_node = mean_i |{j in N(i) : y_j = y_i}| / |N(i)|`` over the nodes with at least one neighbour, where
``N(i) = {j : (j, i) in E}`` (incoming edges, PyG's source-to-target convention).
"""
from __future__ import annotations

import torch
from torch import Tensor

from sheafgraph.ops.structure import check_edge_index


def _same_label(edge_index: Tensor, y: Tensor) -> Tensor:
    """Validate the inputs and return, per edge, 1.0 where both endpoints share a label."""
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor of labels, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got {y.dtype}")
    if y.dim() != 1:
        raise ValueError(f"y must have shape (num_nodes,), got {tuple(y.shape)}")
    check_edge_index(edge_index, y.numel())
    if edge_index.size(1) == 0:
        raise ValueError("homophily is undefined for a graph without edges")
    row, col = edge_index.long()
    return (y[row] == y[col]).to(torch.float64)


def edge_homophily(edge_index: Tensor, y: Tensor) -> float:
    """Fraction of edges whose endpoints share a label, ``h_edge`` above.

    Args:
        edge_index: edges, LongTensor.
        y: integer class label per node.

    Raises:
        TypeError: non-tensor or non-integer inputs. ValueError: bad shapes, out-of-range indices or no edges.

    Shapes:
        edge_index: ``(2, |E|)``, y: ``(|V|,)``.
    """
    return float(_same_label(edge_index, y).mean())


def node_homophily(edge_index: Tensor, y: Tensor) -> float:
    """Mean over nodes with neighbours of the fraction of neighbours sharing the node's label, ``h_node`` above.

    Args:
        edge_index: edges ``(j, i)``, j a neighbour of i, LongTensor.
        y: integer class label per node.

    Raises:
        TypeError: non-tensor or non-integer inputs. ValueError: bad shapes, out-of-range indices or no edges.

    Shapes:
        edge_index: ``(2, |E|)``, y: ``(|V|,)``.
    """
    same = _same_label(edge_index, y)
    col = edge_index[1].long()
    n = y.numel()
    hits = same.new_zeros(n).index_add_(0, col, same)
    degree = torch.bincount(col, minlength=n).to(same.dtype)
    has_neighbours = degree > 0
    return float((hits[has_neighbours] / degree[has_neighbours]).mean())
