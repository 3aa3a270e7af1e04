r"""Mini-batch node classification on graphs too large for one full-batch step: each batch is a subgraph, the sheaf
is learned on that subgraph's edges exactly as full-batch learns it on the whole graph (it only ever exists for one
batch), and the loss is taken on the batch's training nodes.

Samplers (both are PyG's loaders; a sheaf Laplacian needs both directions of every edge, which both give):

* ``"cluster"`` (Cluster-GCN, Chiang et al., KDD 2019): :class:`torch_geometric.loader.ClusterData` partitions the
  graph once with METIS into parts of about ``batch_size / CLUSTERS_PER_BATCH`` nodes, and
  :class:`~torch_geometric.loader.ClusterLoader` merges :data:`CLUSTERS_PER_BATCH` random parts, with the edges
  between them, into the induced subgraph of a batch. METIS comes from pyg-lib or torch-sparse when installed, else
  from ``pymetis`` (a wheel; ``pip install pymetis``).
* ``"ego"``: ``batch_size`` training nodes with everything within ``hops`` hops (the induced subgraph of their
  ``hops``-hop neighbourhoods, PyG's ``k_hop_subgraph``; nodecls takes the diffusion layers by default); the loss is on
  those seeds. Every seed keeps the whole receptive field of its layers, as it has in full-batch evaluation, which
  cluster batches do not give on graphs without communities (a cut edge is lost); only the degrees of the outermost
  nodes are cut. Batches grow with the hops and the degree: on dense graphs take fewer seeds per batch. Needs
  nothing beyond PyG.
* ``"neighbor"`` (GraphSAGE sampling, Hamilton et al., NeurIPS 2017): :class:`~torch_geometric.loader.NeighborLoader`
  samples ``num_neighbors`` neighbours per node for ``hops`` hops around ``batch_size`` training nodes (one number
  for every hop, or one per hop: ``(10, 3)`` takes up to ten neighbours of each seed and three of each of theirs)
  and returns the induced subgraph of the sampled nodes; the loss is on those seeds. Needs torch-sparse (``pip install
  torch-sparse``, a source build of minutes): PyG samples induced subgraphs with torch-sparse's kernel only, not
  with pyg-lib's.
* ``"history"`` (GNNAutoScale, Fey et al., ICML 2021): ``batch_size`` nodes (B) of an order of all nodes drawn anew
  every epoch, their one-hop halo and the edges incident to B. The order (``order``) is all nodes shuffled
  (``"random"``, the default) or the METIS parts of ``"cluster"`` shuffled, each part's nodes shuffled within it
  (``"metis"``, GNNAutoScale's: a batch holds about :data:`CLUSTERS_PER_BATCH` whole parts, so fewer of its edges
  leave it and its halo is smaller; on a cSBM of degree 10, 63% of the edges join two batches of a tenth of the nodes
  against 90% for random ones). Which trains better depends on the graph: choose it on validation. The model reads
  the halo's layer inputs, sheaf degrees and outputs from a history of every node's (:mod:`sheafgraph.sheaf.history`,
  refreshed by every evaluation and, with nodecls' ``history_refresh``, every few batches), so each node of B sees
  its whole neighbourhood as in full batch, only some of it up to an epoch stale; the loss is on the training nodes
  of B and of the halo (whose terms send gradients only into B; divided by B's count). Batch ``Data`` carry ``n_id``
  (global indices) and ``batch_mask`` (B). Discrete NSD models without extra stalks only. Needs nothing beyond PyG
  (``"metis"``: ``pymetis``).

With ``P`` processes (``torchrun``), rank r takes batches r, r + P, ... of the same shuffled order (every rank the
same number), so the ranks together see each batch once per epoch.
"""
from __future__ import annotations

import contextlib
import copy
import math
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from sheafgraph.ops.structure import GraphStructure
from sheafgraph.utils.checks import MissingExtraError, check_choice, int_in_range, positive_int

SAMPLERS = ("cluster", "ego", "neighbor", "history")
HISTORY_ORDERS = ("random", "metis")
#: parts merged into one Cluster-GCN batch (restores some of the edges a partition cuts)
CLUSTERS_PER_BATCH = 4


def fanout(num_neighbors: Union[int, Sequence[int]], hops: int) -> Tuple[int, ...]:
    """Neighbours sampled per node at each of ``hops`` hops: one positive int for every hop, or one per hop.

    Raises:
        ValueError: a count is not a positive int, or there are several but not ``hops`` of them.
    """
    counts = [num_neighbors] if isinstance(num_neighbors, int) else list(num_neighbors)
    for k in counts:
        positive_int(k, "num_neighbors")
    if len(counts) == 1:
        return tuple(counts) * hops
    if len(counts) != hops:
        raise ValueError(f"num_neighbors gives {len(counts)} counts for {hops} hops: give one for every hop or one "
                         f"per hop (hops defaults to the diffusion layers)")
    return tuple(counts)


def neighbour_lists(edge_index: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    """``(rowptr, col)`` on the host: node i's neighbours are ``col[rowptr[i]:rowptr[i + 1]]`` (CSR)."""
    from torch_geometric.index import index2ptr
    from torch_geometric.utils import sort_edge_index

    row, col = sort_edge_index(edge_index.cpu(), num_nodes=num_nodes)
    return index2ptr(row, size=num_nodes), col


def csr_reverse_index(rowptr: Tensor, col: Tensor) -> Tensor:
    """For the sorted CSR lists of :func:`neighbour_lists`, the position of each edge's reverse
    (:meth:`GraphStructure.reverse_index`, which finds the lists' keys already sorted and sorts nothing).

    Raises:
        ValueError: some edge (i, j) has no (j, i), or repeats: history batches need each edge once, with its reverse.
    """
    n = rowptr.numel() - 1
    row = torch.repeat_interleave(torch.arange(n), rowptr[1:] - rowptr[:-1])
    try:
        return GraphStructure(torch.stack([row, col]), n).reverse_index()
    except ValueError as err:
        raise ValueError(f"history batches need each edge once, with its reverse: {err}") from None


def _batch_reverse(edges: Tensor, dst: Tensor, leaving: Tensor, local: Tensor, offsets: Tensor, rowptr: Tensor,
                   reverse: Tensor) -> Tensor:
    """The reverse of each edge of a history batch, whose edges are B's out-edges (whole-graph CSR positions
    ``edges``, targets ``dst``; the list of B's k-th node starts at ``offsets[k]``), then the reverses of those
    ``leaving`` B in that order; ``local`` numbers B's nodes 0, 1, ... in their order."""
    first = edges.numel()
    inside, left = ~leaving, leaving.nonzero().view(-1)
    j = dst[inside]                               # (i, j) inside B: (j, i) is in j's list, at its place there
    head = torch.empty(first, dtype=torch.long)
    head[inside] = offsets[local[j]] + reverse[edges[inside]] - rowptr[j]
    head[left] = first + torch.arange(left.numel())
    return torch.cat([head, left])


def metis_partition(edge_index: Tensor, num_nodes: int, num_parts: int) -> Tensor:
    """METIS part of every node (``pymetis``), a LongTensor ``(num_nodes,)`` with values in ``[0, num_parts)``.

    Raises:
        ValueError: ``num_parts`` is not a positive int.
        MissingExtraError: ``pymetis`` is not installed (the message says how to install it).
    """
    positive_int(num_parts, "num_parts")
    try:
        import pymetis
    except ImportError as err:
        raise MissingExtraError("the cluster sampler needs METIS: pip install pymetis (or install pyg-lib or "
                                "torch-sparse)") from err
    xadj, col = neighbour_lists(edge_index, num_nodes)
    _, parts = pymetis.part_graph(num_parts, pymetis.CSRAdjacency(xadj.numpy(), col.numpy()))
    return torch.as_tensor(parts, dtype=torch.long).to(edge_index.device)


def _cluster_data_class():
    from torch_geometric.loader import ClusterData

    class MetisClusterData(ClusterData):
        """PyG's ClusterData, partitioned by :func:`metis_partition` where PyG has no METIS of its own, or by a
        given partition."""

        def __init__(self, data: Data, num_parts: int, partition: Optional[Tensor]):
            self.given = partition
            super().__init__(data, num_parts=num_parts, log=False)

        def _metis(self, edge_index: Tensor, num_nodes: int) -> Tensor:
            import torch_geometric.typing as pyg_typing

            if self.given is not None:
                self.cluster = self.given.to(edge_index.device)
                return self.cluster
            self.cluster = None
            if pyg_typing.WITH_TORCH_SPARSE or pyg_typing.WITH_METIS:
                with contextlib.suppress(ImportError):      # a torch-sparse built from source may lack METIS
                    self.cluster = super()._metis(edge_index, num_nodes)
            if self.cluster is None:
                self.cluster = metis_partition(edge_index, num_nodes, self.num_parts)
            return self.cluster

    return MetisClusterData


def _with_private_rng(loader, seed: int) -> Iterator[Data]:
    """The batches of ``loader``, each drawn with torch's global CPU generator set to a private stream seeded by
    ``seed`` and restored afterwards: torch-sparse's neighbour sampling draws from the global generator, so this makes
    the batches a function of the seed (a resumed run gets the same ones) and leaves the caller's random state (e.g.
    dropout) untouched."""
    state = torch.Generator().manual_seed(seed).get_state()
    batches = iter(loader)
    while True:
        outer = torch.get_rng_state()
        torch.set_rng_state(state)
        try:
            batch = next(batches, None)
        finally:
            state = torch.get_rng_state()
            torch.set_rng_state(outer)
        if batch is None:
            return
        yield batch


def uses_partition(sampler: str, order: str = "random") -> bool:
    """Whether batches of ``sampler`` (``"history"``: in ``order``) are cut from a METIS partition.

    Raises:
        ValueError: an unknown sampler or history order (the message lists the valid ones).
    """
    check_choice(sampler, SAMPLERS, "sampler")
    check_choice(order, HISTORY_ORDERS, "history order")
    return sampler == "cluster" or (sampler == "history" and order == "metis")


def num_cluster_parts(num_nodes: int, batch_size: int) -> int:
    """Parts of the Cluster-GCN partition for batches of about ``batch_size`` nodes."""
    return max(1, math.ceil(num_nodes * CLUSTERS_PER_BATCH / batch_size))


class SubgraphBatches:
    """The mini-batches of one graph for one split, re-shuffled every epoch (``iter`` starts an epoch).

    Args:
        data: the whole graph (``x``, ``y``, ``edge_index`` with both directions, ``train_mask``).
        sampler: ``"cluster"``, ``"ego"``, ``"neighbor"`` or ``"history"``.
        batch_size: nodes per batch (``"cluster"``: about; ``"history"``: B, without the halo; all of them seeds)
            or training nodes per batch (``"ego"``, ``"neighbor"``).
        hops: hops around the seeds (``"ego"``, ``"neighbor"``; the number of diffusion layers gives each seed its
            whole receptive field).
        num_neighbors: neighbours sampled per node and hop (``"neighbor"``): one count, or one per hop.
        seed: seed of the shuffles (every rank draws the same order for a given seed, split and epoch).
        rank, world_size: this process's share of the batches.
        order: how ``"history"`` orders the nodes into batches: one by one (``"random"``, the default) or by
            shuffled METIS parts (``"metis"``).
        partition: a precomputed part per node for ``"cluster"`` and ``"history"`` with ``order="metis"`` (e.g.
            :func:`metis_partition` with :func:`num_cluster_parts` parts, saved once and reused by several runs);
            default: METIS now. The one used is :attr:`partition` (``None`` where there is none).

    Each batch is a ``Data`` subgraph with ``x``, ``y``, ``edge_index``, the masks, ``seed_mask`` (its training nodes
    of split ``fold`` given to :meth:`epoch_batches`) and ``loss_mask`` (the nodes whose loss counts).
    """

    def __init__(self, data: Data, sampler: str = "cluster", batch_size: int = 1024, *, hops: int = 2,
                 num_neighbors: Union[int, Sequence[int]] = 10, seed: int = 0, rank: int = 0, world_size: int = 1,
                 order: str = "random", partition: Optional[Tensor] = None):
        parted = uses_partition(sampler, order)
        self.sampler, self.order = sampler, order
        self.batch_size = positive_int(batch_size, "batch_size")
        self.hops = positive_int(hops, "hops")
        self.fanout = fanout(num_neighbors, self.hops)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.data = copy.copy(data)          # its own references: moving the caller's data moves not these
        self._clusters, self.partition = None, None
        parts = num_cluster_parts(data.num_nodes, self.batch_size)
        if parted and partition is not None and (partition.shape != (data.num_nodes,) or
                                                 not 0 <= int(partition.min()) <= int(partition.max()) < parts):
            raise ValueError(f"partition must give each of the {data.num_nodes} nodes a part in [0, {parts}) "
                             f"(num_cluster_parts), got shape {tuple(partition.shape)}")
        if self.sampler == "cluster":
            self._clusters = _cluster_data_class()(data, parts, partition)
            self.partition = self._clusters.cluster
        elif self.sampler == "neighbor":
            import torch_geometric.typing as pyg_typing

            if not pyg_typing.WITH_TORCH_SPARSE:
                raise MissingExtraError("the neighbor sampler runs PyG's NeighborLoader on induced subgraphs, which "
                                        "needs torch-sparse (pip install torch-sparse; pyg-lib alone does not "
                                        "sample induced subgraphs); --sampler cluster or ego needs neither")
        elif self.sampler == "history":
            self._csr = neighbour_lists(data.edge_index, data.num_nodes)
            self._reverse = csr_reverse_index(*self._csr)
            if parted:
                self.partition = (metis_partition(data.edge_index, data.num_nodes, parts) if partition is None
                                  else partition).cpu()

    def __len__(self) -> int:
        """This rank's batches per epoch of split 0 (:meth:`num_batches`)."""
        return self.num_batches(0)

    def num_batches(self, fold: int = 0) -> int:
        """This rank's batches per epoch of split ``fold`` (``"ego"`` and ``"neighbor"`` seed that split's training
        nodes, so the count depends on it; every rank gets the same count)."""
        train = self._train_mask(fold)
        if self._clusters is not None:
            total = math.ceil(len(self._clusters) / CLUSTERS_PER_BATCH)
        elif self.sampler == "history":
            total = math.ceil(self.data.num_nodes / self.batch_size)
        else:
            total = math.ceil(int(train.sum()) / self.batch_size)
        return total // self.world_size

    def _train_mask(self, fold: int) -> Tensor:
        mask = self.data.train_mask
        splits = 1 if mask.dim() == 1 else mask.shape[1]
        fold = int_in_range(fold, "fold", 0, splits - 1, f"a split index: the graph has {splits} split(s)")
        return mask if mask.dim() == 1 else mask[:, fold]

    def _ego_batches(self, generator: torch.Generator, train: Tensor) -> Iterator[Data]:
        from torch_geometric.utils import k_hop_subgraph

        seeds = train.nonzero().view(-1)
        for chunk in seeds[torch.randperm(seeds.numel(), generator=generator)].split(self.batch_size):
            subset, edge_index, center, _ = k_hop_subgraph(chunk, self.hops, self.data.edge_index, relabel_nodes=True,
                                                           num_nodes=self.data.num_nodes)
            batch = Data(x=self.data.x[subset], y=self.data.y[subset], edge_index=edge_index,
                         train_mask=self.data.train_mask[subset], num_nodes=subset.numel())
            batch.center = center
            yield batch

    def _node_order(self, generator: torch.Generator) -> Tensor:
        """The nodes in the order history batches take them: shuffled, then (``"metis"``) stably sorted by the
        shuffled rank of their part."""
        order = torch.randperm(self.data.num_nodes, generator=generator)
        if self.partition is None:
            return order
        part_rank = torch.randperm(int(self.partition.max()) + 1, generator=generator)
        return order[torch.argsort(part_rank[self.partition[order]], stable=True)]

    def _history_batches(self, generator: torch.Generator) -> Iterator[Data]:
        """B's out-edges read from the CSR neighbour lists (O(edges of B), not O(|E|) per batch), plus the reverse of
        those that leave B; nodes ordered B first, then the halo. ``edge_rev`` holds each batch edge's reverse (from
        the whole graph's, without a sort: :class:`~sheafgraph.ops.GraphStructure`'s ``reverse``)."""
        rowptr, col = self._csr
        n = self.data.num_nodes
        marked, local = torch.zeros(n, dtype=torch.bool), torch.empty(n, dtype=torch.long)
        for nodes in self._node_order(generator).split(self.batch_size):
            starts, counts = rowptr[nodes], rowptr[nodes + 1] - rowptr[nodes]
            offsets = torch.cumsum(counts, 0) - counts
            edges = torch.repeat_interleave(starts - offsets, counts) + torch.arange(int(counts.sum()))
            dst = col[edges]
            src = nodes.repeat_interleave(counts)
            marked[nodes] = True
            leaving = ~marked[dst]
            marked[nodes] = False
            subset = torch.cat([nodes, dst[leaving].unique()])
            local[subset] = torch.arange(subset.numel())
            edge_index = local[torch.cat([torch.stack([src, dst]), torch.stack([dst[leaving], src[leaving]])], 1)]
            batch = Data(x=self.data.x[subset], y=self.data.y[subset], edge_index=edge_index,
                         train_mask=self.data.train_mask[subset], num_nodes=subset.numel())
            batch.n_id, batch.batch_mask = subset, torch.arange(subset.numel()) < nodes.numel()
            batch.edge_rev = _batch_reverse(edges, dst, leaving, local, offsets, rowptr, self._reverse)
            yield batch

    def _loader(self, generator: torch.Generator, input_nodes: Optional[Tensor]):
        if self.sampler == "ego":
            return self._ego_batches(generator, input_nodes)
        if self.sampler == "history":
            return self._history_batches(generator)
        if self._clusters is not None:
            from torch_geometric.loader import ClusterLoader

            return ClusterLoader(self._clusters, batch_size=CLUSTERS_PER_BATCH, shuffle=True, generator=generator)
        from torch_geometric.loader import NeighborLoader

        sampling_seed = int(torch.randint(2**62, (1,), generator=generator))
        loader = NeighborLoader(self.data, num_neighbors=list(self.fanout), input_nodes=input_nodes,
                                batch_size=self.batch_size, shuffle=True, subgraph_type="induced", generator=generator)
        return _with_private_rng(loader, sampling_seed)

    def epoch_batches(self, fold: int, epoch: int) -> Iterator[Data]:
        """This rank's batches of ``epoch``, each with ``seed_mask`` (its seeds: the training nodes of split ``fold``
        it trains on) and ``loss_mask`` (the nodes whose loss counts: the seeds, and for ``"history"`` the halo's
        training nodes too); the same arguments give the same batches (a resumed run continues the same
        sequence)."""
        generator = torch.Generator().manual_seed((self.seed * 1009 + fold) * 1_000_003 + epoch)
        train = self._train_mask(fold)
        loader = self._loader(generator, None if self._clusters is not None else train)
        keep = self.num_batches(fold) * self.world_size     # equal counts per rank: DDP steps in lock-step
        for k, batch in enumerate(loader):
            if k >= keep:
                break
            if k % self.world_size != self.rank:
                continue
            if self._clusters is not None or self.sampler == "history":    # every training node of the batch
                mask = batch.train_mask if batch.train_mask.dim() == 1 else batch.train_mask[:, fold]
            else:                                           # the seeds: ego's centres, first in a NeighborLoader batch
                mask = torch.zeros(batch.num_nodes, dtype=torch.bool)
                mask[batch.center if self.sampler == "ego" else slice(0, batch.batch_size)] = True
            batch.loss_mask = mask
            batch.seed_mask = mask & batch.batch_mask if self.sampler == "history" else mask
            yield batch
