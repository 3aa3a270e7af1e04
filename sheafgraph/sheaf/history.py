r"""Historical layer inputs, sheaf degrees and outputs for mini-batch sheaf diffusion (the history of GNNAutoScale,
Fey et al., ICML 2021, extended to the degrees that normalise a sheaf Laplacian), with the backward compensation of
LMC (Shi et al., ICLR 2023) at the last layer.

A history batch (:class:`~sheafgraph.sheaf.minibatch.SubgraphBatches` with ``sampler="history"``) is a set B of
nodes, its one-hop halo :math:`H = N(B) \setminus B` and the edges incident to B. Layer k's output at :math:`i \in B`
reads, for every neighbour j, the layer input :math:`X^{(k)}_j` and, through :math:`\hat L_{ij} = -(D_i + I)^{-1/2}
F_i^\top F_j (D_j + I)^{-1/2}`, j's degree block :math:`D^{(k)}_j = \sum_{e \ni j} F_{j \trianglelefteq e}^\top
F_{j \trianglelefteq e}`, a sum over all of j's edges, most of which the batch lacks. So for :math:`j \in H` both come
from the history: the values of the last whole-graph pass (every evaluation records one; nodecls'
``history_refresh`` N records one before every N-th batch too), overwritten by each batch that held j in B since
(``writes="batches"``, GNNAutoScale's push) or by whole-graph passes only (``"evaluation"``: every batch between two
passes reads one snapshot, the model of the last pass, without dropout). Everything at nodes
of B is computed afresh (all their edges are in the batch) and, with batch writes, pushed;
the embedding :math:`X^{(0)}` is exact everywhere (it needs a node's own features only). With a history as fresh as
the model, a batch's outputs on B equal the whole graph's (``tests/sheaf/test_history.py``).

**Backward.** The whole loss reaches B's last layer inputs :math:`X^{(L-1)}_i` also through the halo's outputs: the
losses of the halo's training nodes depend on them through the edges :math:`j \sim i`. So the halo's outputs are
:math:`\bar X^{(L)}_j + (R_j - \mathrm{sg}(R_j))` (sg: stop gradient): the value from the history and the gradient of
:math:`R_j`, layer L-1's row j recomputed on the batch with the *parameters detached*, and the readout of the halo
rows is detached too. The loss of a batch then takes the training nodes of B and of H (divided by B's): the halo's
terms carry the history's values and send gradients only into B's inputs, so that every parameter is trained by B's
rows alone with their whole-graph gradient :math:`\partial \mathcal{L} / \partial X^{(L-1)}_B` (exact with a fresh
history, without activation and dropout, but for the paths through the halo's degree blocks; test). Paths into
earlier layers' inputs through the halo are dropped, and halo inputs carry no gradient. On a cSBM of degree 10,
batches of 10% of the nodes lose 1.2 points against full batch on five splits at 200 epochs (3.9 without the
compensation) and 1.7 at 500, where full batch trains longer; over ten splits at 200 epochs, evaluation writes lose
1.1, batch writes 1.6, and evaluation writes with a refresh before every batch 0.1 (``benchmarks/RESULTS.md``)."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sheafgraph.ops.sheaf import DegreeHook
from sheafgraph.utils.checks import positive_int
from sheafgraph.utils.distributed import DistributedContext

#: what updates a :class:`NodeHistory` between whole-graph passes: each batch its nodes B's values, or nothing
HISTORY_WRITES = ("batches", "evaluation")


def where_rows(rows: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Row i of ``a`` where ``rows[i]``, else row i of ``b`` (``rows``: a bool mask over the first dimension)."""
    return torch.where(rows.view(-1, *[1] * (a.dim() - 1)), a, b)


def detached(module: nn.Module) -> Callable[..., Tensor]:
    """``module`` as a function of its inputs alone: called with its parameters detached (no gradient reaches them).

    Raises:
        TypeError: ``module`` is not a :class:`torch.nn.Module`.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"detached needs a torch.nn.Module, got {type(module).__name__}")
    params = {name: p.detach() for name, p in module.named_parameters()}
    return lambda *args, **kwargs: functional_call(module, params, args, kwargs)


class NodeHistory:
    """Every node's layer inputs (layers 1 .. L-1), sheaf degree blocks (layers 0 .. L-1) and last layer output of one
    graph.

    Filled by a whole-graph pass with :meth:`record` (e.g. ``model(x, edge_index, history=h.record())``) and read and
    updated by batches with :meth:`batch`. Tensors live on the device and in the dtype of the recorded pass.
    """

    def __init__(self, num_nodes: int):
        self.num_nodes = positive_int(num_nodes, "num_nodes")
        self.inputs: Dict[int, Tensor] = {}
        self.degrees: Dict[int, Tensor] = {}
        self.outputs: Dict[int, Tensor] = {}       # one entry, the last layer's (a dict like the others)

    def record(self) -> "HistoryView":
        """A view for a pass over the whole graph: it stores every node's layer inputs, degrees and output."""
        return HistoryView(self, None, None)

    def batch(self, n_id: Tensor, in_batch: Tensor, write: bool = True) -> "HistoryView":
        """A view for a batch of the nodes ``n_id`` (global indices) of which ``in_batch`` are B, the rest halo; with
        ``write`` the batch's values at B overwrite the history's.

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
        return HistoryView(self, n_id, in_batch, write)

    def broadcast(self, context: DistributedContext, src: int = 0) -> None:
        """Give every rank rank ``src``'s history (in place; all ranks must have recorded the same layers)."""
        if context.world_size == 1:
            return
        import torch.distributed as dist

        for store in (self.inputs, self.degrees, self.outputs):
            for k in sorted(store):
                dist.broadcast(store[k], src=src)


class HistoryView:
    """What one forward pass reads from and writes to a :class:`NodeHistory` (from its ``record`` or ``batch``)."""

    def __init__(self, history: NodeHistory, n_id: Optional[Tensor], in_batch: Optional[Tensor], write: bool = True):
        self.history, self.n_id, self.in_batch, self.write = history, n_id, in_batch, write

    def _merge(self, store: Dict[int, Tensor], k: int, value: Tensor) -> Tensor:
        """Push the batch's rows of ``value`` (if the view writes) and return it with the halo's rows from the
        history (whole graph: store all of it, into the storage of the last record where it fits: a refresh before
        every batch allocates no new history)."""
        if self.n_id is None:
            past = store.get(k)
            if past is not None and (past.shape, past.dtype, past.device) == (value.shape, value.dtype, value.device):
                past.copy_(value.detach())
            else:
                store[k] = value.detach().clone()
            return value
        if k not in store:
            raise RuntimeError(f"the history has no values of layer {k}: it was recorded by a model with fewer layers")
        past = store[k]
        mine = self.in_batch.to(value.device)
        if self.write:
            past.index_copy_(0, self.n_id[mine], value[mine].detach().to(past.dtype))
        # index_select, not past[n_id]: 2.8 times faster on 2 CPU cores for 651k rows of 48 floats
        return where_rows(mine, value, past.index_select(0, self.n_id).to(value.dtype))

    def layer_input(self, k: int, h: Tensor) -> Tensor:
        """Layer ``k``'s input: B's rows as computed, the halo's from the history (no gradient); layer 0, the
        embedding: as computed."""
        return h if k == 0 else self._merge(self.history.inputs, k, h)

    def degree_hook(self, k: int) -> DegreeHook:
        """The degree hook of layer ``k`` (:func:`~sheafgraph.ops.sheaf_laplacian`): B's degree blocks as summed,
        the halo's from the history."""
        return lambda deg: self._merge(self.history.degrees, k, deg)

    def logits(self, k: int, h: Tensor, recompute: Callable[[], Tensor], readout: nn.Module) -> Tensor:
        """``readout`` of ``h``, the output of the last layer ``k - 1`` (whole graph: recorded). In a batch the halo's
        rows are :math:`\\bar X_j + (R_j - \\mathrm{sg}(R_j))` with ``R = recompute()``, the last layer on the batch
        with its parameters detached (:func:`detached`), and are read out with the readout's parameters detached:
        their losses train B's inputs only (module docstring)."""
        merged = self._merge(self.history.outputs, k, h)
        halo = None if self.in_batch is None else ~self.in_batch.to(h.device)
        if halo is None or not bool(halo.any()):
            return readout(merged.flatten(1))
        rows = recompute()
        merged = where_rows(halo, merged + (rows - rows.detach()), merged).flatten(1)
        return where_rows(halo, detached(readout)(merged), readout(merged))
