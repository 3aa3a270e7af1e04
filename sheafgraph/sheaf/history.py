r"""Historical layer inputs and sheaf degrees for mini-batch sheaf diffusion (the history of GNNAutoScale, Fey et
al., ICML 2021, extended to the degrees that normalise a sheaf Laplacian).

A history batch (:class:`~sheafgraph.sheaf.minibatch.SubgraphBatches` with ``sampler="history"``) is a set B of
nodes, its one-hop halo :math:`H = N(B) \setminus B` and the edges incident to B. Layer k's output at :math:`i \in B`
reads, for every neighbour j, the layer input :math:`X^{(k)}_j` and, through :math:`\hat L_{ij} = -(D_i + I)^{-1/2}
F_i^\top F_j (D_j + I)^{-1/2}`, j's degree block :math:`D^{(k)}_j = \sum_{e \ni j} F_{j \trianglelefteq e}^\top
F_{j \trianglelefteq e}`, a sum over all of j's edges, most of which the batch lacks. So for :math:`j \in H` both come
from the history: the values of the last whole-graph pass (every evaluation records one), overwritten by each batch
that held j in B since. Everything at nodes of B is computed afresh (all their edges are in the batch) and pushed;
the embedding :math:`X^{(0)}` is exact everywhere (it needs a node's own features only). With a history as fresh as
the model, a batch's outputs on B equal the whole graph's (``tests/sheaf/test_history.py``). A halo node's layer
input takes its value from the history but its gradient from the batch's own (partial) computation of it, so that
the paths from B's losses through the halo's previous layers still train those layers. What remains is the
history's staleness within an epoch and the gradient paths through edges outside the batch: on a cSBM of degree 10,
batches of 10% of the nodes still lose 2.5-4.2 points against full batch (``benchmarks/RESULTS.md``).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor

from sheafgraph.ops.sheaf import DegreeHook
from sheafgraph.utils.checks import positive_int
from sheafgraph.utils.distributed import DistributedContext


class NodeHistory:
    """Every node's last layer inputs (layers 1 .. L-1) and sheaf degree blocks (layers 0 .. L-1) of one graph.

    Filled by a whole-graph pass with :meth:`record` (e.g. ``model(x, edge_index, history=h.record())``) and read and
    updated by batches with :meth:`batch`. Tensors live on the device and in the dtype of the recorded pass.
    """

    def __init__(self, num_nodes: int):
        self.num_nodes = positive_int(num_nodes, "num_nodes")
        self.inputs: Dict[int, Tensor] = {}
        self.degrees: Dict[int, Tensor] = {}

    def record(self) -> "HistoryView":
        """A view for a pass over the whole graph: it stores every node's layer inputs and degrees."""
        return HistoryView(self, None, None)

    def batch(self, n_id: Tensor, in_batch: Tensor) -> "HistoryView":
        """A view for a batch of the nodes ``n_id`` (global indices) of which ``in_batch`` are B, the rest halo.

        Raises:
            ValueError: mismatched or out-of-range indices.
            RuntimeError: nothing recorded yet.
        """
        if not (self.inputs or self.degrees):
            raise RuntimeError("the history is empty: record a whole-graph pass first (model(x, edge_index, "
                               "history=history.record()))")
        if n_id.dim() != 1 or in_batch.shape != n_id.shape or in_batch.dtype != torch.bool:
            raise ValueError(f"n_id must be (|batch|,) indices and in_batch a bool mask of the same shape, got "
                             f"{tuple(n_id.shape)} and {tuple(in_batch.shape)} {in_batch.dtype}")
        if n_id.numel() and not 0 <= int(n_id.min()) <= int(n_id.max()) < self.num_nodes:
            raise ValueError(f"n_id holds indices outside [0, {self.num_nodes}), the nodes of this history")
        return HistoryView(self, n_id, in_batch)

    def broadcast(self, context: DistributedContext, src: int = 0) -> None:
        """Give every rank rank ``src``'s history (in place; all ranks must have recorded the same layers)."""
        if context.world_size == 1:
            return
        import torch.distributed as dist

        for store in (self.inputs, self.degrees):
            for k in sorted(store):
                dist.broadcast(store[k], src=src)


class HistoryView:
    """What one forward pass reads from and writes to a :class:`NodeHistory` (from its ``record`` or ``batch``)."""

    def __init__(self, history: NodeHistory, n_id: Optional[Tensor], in_batch: Optional[Tensor]):
        self.history, self.n_id, self.in_batch = history, n_id, in_batch

    def _merge(self, store: Dict[int, Tensor], k: int, value: Tensor, gradients: bool = False) -> Tensor:
        """Push the batch's rows of ``value`` and return it with the halo's rows from the history (whole graph:
        store all of it); ``gradients``: the halo's rows keep the gradients of ``value``'s."""
        if self.n_id is None:
            store[k] = value.detach().clone()
            return value
        if k not in store:
            raise RuntimeError(f"the history has no values of layer {k}: it was recorded by a model with fewer layers")
        past = store[k]
        mine = self.in_batch.to(value.device)
        past[self.n_id[mine]] = value[mine].detach().to(past.dtype)
        halo = past[self.n_id].to(value.dtype)
        if gradients:
            halo = halo + (value - value.detach())
        return torch.where(mine.view(-1, *[1] * (value.dim() - 1)), value, halo)

    def layer_input(self, k: int, h: Tensor) -> Tensor:
        """Layer ``k``'s input: B's rows as computed; the halo's rows take their values from the history and their
        gradients from the batch's own computation of them, :math:`\\bar h_j + (h_j - \\mathrm{sg}(h_j))` (sg: stop
        gradient; :math:`h_j` sees only j's edges to B, but the paths through it are not lost); layer 0, the
        embedding: as computed."""
        return h if k == 0 else self._merge(self.history.inputs, k, h, gradients=True)

    def degree_hook(self, k: int) -> DegreeHook:
        """The degree hook of layer ``k`` (:func:`~sheafgraph.ops.sheaf_laplacian`): B's degree blocks as summed,
        the halo's from the history."""
        return lambda deg: self._merge(self.history.degrees, k, deg)
