"""End-to-end sampling of discrete graphs: node counts, prior, reverse-time sampler, quantisation, in batches."""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional

import torch
from torch import Tensor, nn

from sheafgraph.generative.noise import node_mask
from sheafgraph.generative.quantize import quantize_graphs
from sheafgraph.generative.samplers import check_sampler_options, get_sampler, sampler_options
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.utils.progress import progress


class GeneratedGraphs(NamedTuple):
    """Discrete samples: ``atom_types (M, N)`` (-1 on padding), ``bond_orders (M, N, N)`` (bond codes: 0-3 orders,
    4 aromatic), NFE per graph."""

    atom_types: Tensor
    bond_orders: Tensor
    nfe: int


def sample_node_counts(node_counts: Tensor, num: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """Draw ``num`` node counts from the histogram ``node_counts[n]`` (how many training graphs have n nodes)."""
    if node_counts.dim() != 1 or not bool((node_counts >= 0).all()) or float(node_counts.sum()) <= 0:
        raise ValueError("node_counts must be a 1-D histogram of non-negative counts with a positive total")
    return torch.multinomial(node_counts.double(), num, replacement=True, generator=generator)


@torch.no_grad()
def generate(model: nn.Module, sde: GraphSDE, num_nodes: Tensor, *, num_features: int, sampler: str = "s4",
             batch_size: int = 1000, generator: Optional[torch.Generator] = None,
             options: Optional[Dict[str, Any]] = None, max_nodes: Optional[int] = None,
             aromatic: bool = False, show_progress: Optional[bool] = None) -> GeneratedGraphs:
    """Sample one graph per entry of ``num_nodes (M,)`` with the named sampler, ``batch_size`` graphs at a time.

    Args:
        model: noise predictor (put in eval mode here; sampling runs on its device, ``generator`` must live there
            too). sde: the system of SDEs.
        num_nodes: node count of every graph (e.g. from :func:`sample_node_counts`).
        num_features: atom types F. sampler: a name in :data:`SAMPLERS`; options: its keyword options
            (``steps``, ``snr``, ...). max_nodes: padded size N (default ``max(num_nodes)``).
        aromatic: quantise bonds as the aromatic-aware encoding (code 4 = aromatic; :func:`quantize_bonds`).
        A model with categorical bonds (``adj_channels`` > 1 and its ``levels``, as :class:`GDSSNoiseModel`) samples
        one adjacency channel per level and is quantised by them.
        show_progress: a bar over the sampler's steps of every batch (None: only when stderr is a terminal).

    Shapes:
        num_nodes: ``(M,)``; returns atom_types ``(M, N)`` and bond_orders ``(M, N, N)``.
    """
    sample = get_sampler(sampler)
    check_sampler_options(sampler, options or {})
    if num_nodes.dim() != 1 or num_nodes.numel() == 0 or int(num_nodes.min()) < 1:
        raise ValueError(f"num_nodes must be a non-empty 1-D tensor of positive counts, got {num_nodes.tolist()[:8]}")
    n = int(max_nodes or num_nodes.max())
    if int(num_nodes.max()) > n:
        raise ValueError(f"a graph has {int(num_nodes.max())} nodes, more than max_nodes={n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model.eval()
    device = next(model.parameters()).device
    channels, levels = getattr(model, "adj_channels", 1), getattr(model, "levels", None)
    atoms, bonds, nfe = [], [], 0
    batches = num_nodes.split(batch_size)
    steps = {**sampler_options(sampler), **(options or {})}["steps"]
    bar = progress(None, desc=f"sampling {len(num_nodes)} graphs ({sampler})", total=steps * len(batches),
                   enabled=show_progress)
    for counts in batches:
        mask = node_mask(counts.to(device), n)
        out = sample(model, sde.prior_sampling(mask, num_features, generator, channels), sde, generator=generator,
                     callback=lambda *step: bar.update(), **(options or {}))
        if not bool(torch.isfinite(out.graphs.x).all() & torch.isfinite(out.graphs.adj).all()):
            raise ValueError(f"sampling with {sampler!r} diverged: the sampled graphs contain NaN or infinite values "
                             f"(an undertrained checkpoint, or unstable sampler options such as too few steps or a "
                             f"large snr)")
        a, b = quantize_graphs(out.graphs, aromatic, levels)
        atoms.append(a.cpu())
        bonds.append(b.cpu())
        nfe = max(nfe, out.nfe)
    bar.close()
    return GeneratedGraphs(torch.cat(atoms), torch.cat(bonds), nfe)
