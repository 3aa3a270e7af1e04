"""Contextual stochastic block model (cSBM): a synthetic two-class node-classification graph whose homophily and
feature signal are set by one angle ``phi``, generated in ``O(|E|)`` time and memory at any size.

The model of Deshpande et al. ("Contextual Stochastic Block Models", NeurIPS 2018) with the parameterisation of
Chien et al. ("Adaptive Universal Generalized PageRank Graph Neural Network" (GPR-GNN), ICLR 2021; their generator is
``src/cSBM_dataset.py`` in jianhao2016/GPRGNN). With n nodes, F features, average degree d:

- labels ``v_i`` in {-1, +1}, balanced: ``floor(n/2)`` nodes get -1 and the rest +1, assigned by a random
  permutation; ``y_i = (v_i + 1) / 2``;
- features ``x_i = sqrt(mu / n) v_i u + Z_i / sqrt(F)``, ``u ~ N(0, I_F / F)`` shared by all nodes,
  ``Z_i ~ N(0, I_F)``;
- edges: every pair {i, j}, i != j, independently, with probability ``c_in / n`` within a class and ``c_out / n``
  across, ``c_in = d + lambda sqrt(d)``, ``c_out = d - lambda sqrt(d)`` (so the expected degree is d);
- ``lambda = sqrt(1 + epsilon) sin(phi pi / 2)`` and ``mu = sqrt(xi (1 + epsilon)) cos(phi pi / 2)``, ``xi = n / F``:
  the point at angle ``phi pi / 2`` on the ellipse ``lambda^2 + mu^2 / xi = 1 + epsilon``, ``epsilon`` above the
  detection threshold ``lambda^2 + mu^2 / xi = 1`` (GPR-GNN's ``parameterized_Lambda_and_mu``).

So ``phi = -1`` is the graph alone, fully heterophilous (``mu = 0``, ``c_in < c_out``); ``phi = 0`` the features
alone (``lambda = 0``: an Erdős–Rényi graph); ``phi = +1`` the graph alone, fully homophilous. The expected edge
homophily is ``c_in / (c_in + c_out) = 1/2 + lambda / (2 sqrt(d))``, up to O(1/n).

Sampling (vectorised, no n x n object): the pairs form three blocks (within -1, within +1, across). The number of
edges of each block is drawn from its exact binomial ``Binomial(#pairs, c / n)``, then that many pairs are drawn
uniformly with replacement from the block (within a class: j uniform among the members other than i, so there are no
self-loops). Both directions are added and sorting the keys ``i n + j`` coalesces them. A pair drawn twice is kept
once, so a block of M edges among P pairs loses about ``M^2 / (2P)`` of them: a relative deficit of about
``c / (2n)``, 5e-6 at n = 10^6, d = 10 and 0.1% at n = 4000, d = 8, negligible but for tiny dense graphs.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from sheafgraph.utils.checks import finite_float, nonnegative_float, positive_float, positive_int, probability

#: the prefix of a cSBM dataset name, ``"csbm"`` or ``"csbm:key=value,..."`` (:func:`parse_csbm_spec`)
SPEC_PREFIX = "csbm"

# csbm argument -> check(value, name) returning the checked value
_CHECKS: Dict[str, Callable[[Any, str], Any]] = {
    "num_nodes": lambda v, name: positive_int(v, name, minimum=2),
    "num_features": positive_int,
    "avg_degree": positive_float,
    "phi": lambda v, name: finite_float(v, name, low=-1.0, high=1.0),
    "epsilon": nonnegative_float,
    "seed": lambda v, name: positive_int(v, name, minimum=0),
    "num_splits": positive_int,
}
_INTEGER_ARGS = ("num_nodes", "num_features", "seed", "num_splits")
#: spec key -> csbm argument
SPEC_KEYS = {"n": "num_nodes", "f": "num_features", "d": "avg_degree", "phi": "phi", "eps": "epsilon",
             "epsilon": "epsilon", "seed": "seed", "splits": "num_splits"}


def parse_csbm_spec(spec: str) -> Dict[str, Any]:
    """The :func:`csbm` keyword arguments of a dataset name ``"csbm"`` or ``"csbm:key=value,..."``.

    Keys (case-insensitive): ``n`` (num_nodes), ``f`` (num_features), ``d`` (avg_degree), ``phi``, ``eps`` or
    ``epsilon``, ``seed``, ``splits`` (num_splits); keys left out keep :func:`csbm`'s defaults.
    Example: ``"csbm:n=1000000,phi=-0.5,d=10,f=64"``.

    Raises:
        ValueError: not a cSBM name, an item without ``=``, an unknown or repeated key, or a value that is not a
            number of the right kind and range; the message names the key and lists the valid ones.
    """
    head, colon, body = spec.partition(":")
    if head.strip().lower() != SPEC_PREFIX or (colon and not body.strip()):
        raise ValueError(f"{spec!r} is not a cSBM name; expected 'csbm' or 'csbm:key=value,...'")
    valid = f"valid keys: {', '.join(SPEC_KEYS)}"
    kwargs: Dict[str, Any] = {}
    for item in body.split(",") if colon else ():
        key, eq, text = (part.strip() for part in item.partition("="))
        key = key.lower()
        if not eq:
            raise ValueError(f"csbm spec {spec!r}: item {item.strip()!r} is not key=value; {valid}")
        if key not in SPEC_KEYS:
            raise ValueError(f"csbm spec {spec!r}: unknown key {key!r}; {valid}")
        arg = SPEC_KEYS[key]
        if arg in kwargs:
            raise ValueError(f"csbm spec {spec!r}: {key} given twice; {valid}")
        kind = int if arg in _INTEGER_ARGS else float
        try:
            value = kind(text)
        except ValueError:
            form = "an int" if kind is int else "a number"
            raise ValueError(f"csbm spec {spec!r}: {key}={text!r} is not {form}; {valid}") from None
        try:
            kwargs[arg] = _CHECKS[arg](value, key)
        except ValueError as err:
            raise ValueError(f"csbm spec {spec!r}: {err}; {valid}") from None
    return kwargs


def _edge_rates(n: int, f: int, d: float, phi: float, epsilon: float) -> Tuple[float, float, float]:
    """``(mu, c_in, c_out)`` of the module docstring's parameterisation, checked to give probabilities."""
    lam = math.sqrt(1 + epsilon) * math.sin(phi * math.pi / 2)
    mu = math.sqrt(n / f * (1 + epsilon)) * math.cos(phi * math.pi / 2)
    c_in, c_out = d + lam * math.sqrt(d), d - lam * math.sqrt(d)
    setting = f"cSBM(avg_degree={d:g}, phi={phi:g}, epsilon={epsilon:g}, num_nodes={n})"
    if min(c_in, c_out) < 0:
        raise ValueError(f"{setting}: lambda = {lam:.3g} makes c_in = {c_in:.3g} and c_out = {c_out:.3g}, but both "
                         f"must be >= 0 (|lambda| <= sqrt(avg_degree)); raise avg_degree or lower |phi| or epsilon")
    if max(c_in, c_out) > n:
        raise ValueError(f"{setting}: the edge probability max(c_in, c_out) / n = {max(c_in, c_out) / n:.3g} "
                         f"exceeds 1; raise num_nodes or lower avg_degree")
    return mu, c_in, c_out


def _sample_pairs(first: Tensor, second: Optional[Tensor], count: int, generator: torch.Generator
                  ) -> Tuple[Tensor, Tensor]:
    """``count`` pairs drawn uniformly with replacement from ``first x second``, or, with ``second=None``, from the
    pairs of distinct members of ``first``."""
    i = torch.randint(len(first), (count,), generator=generator)
    if second is None:
        j = torch.randint(max(len(first) - 1, 1), (count,), generator=generator)
        j += j >= i  # uniform over the members other than i
        return first[i], first[j]
    return first[i], second[torch.randint(len(second), (count,), generator=generator)]


def _undirected_coalesced(src: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """Both directions of the pairs ``(src, dst)``, sorted by (row, column), each edge once."""
    m = len(src)
    key = torch.empty(2 * m, dtype=torch.long)
    torch.mul(src, num_nodes, out=key[:m]).add_(dst)
    torch.mul(dst, num_nodes, out=key[m:]).add_(src)
    key.numpy().sort()  # in place, no index array: ~10x faster than torch.sort on CPU
    repeated = key[1:] == key[:-1]
    if repeated.any():
        key = torch.cat([key[:1], key[1:][~repeated]])  # the first of each run of equal keys
    edge_index = torch.empty(2, len(key), dtype=torch.long)
    torch.div(key, num_nodes, rounding_mode="floor", out=edge_index[0])
    torch.remainder(key, num_nodes, out=edge_index[1])
    return edge_index


def _random_splits(n: int, num_splits: int, train: float, val: float, generator: torch.Generator
                   ) -> Tuple[Tensor, Tensor, Tensor]:
    """Train/val/test masks ``(n, num_splits)``: per split, a random permutation cut at ``round(train n)`` and
    ``round(train n) + round(val n)``."""
    n_train, n_val = round(train * n), round(val * n)
    if n_train < 1 or n_train + n_val >= n:
        raise ValueError(f"train={train:g}, val={val:g} of {n} nodes leave {n_train} training and "
                         f"{n - n_train - n_val} test nodes; each split needs at least one of both")
    masks = torch.zeros(3, n, num_splits, dtype=torch.bool)
    for s in range(num_splits):
        perm = torch.randperm(n, generator=generator)
        masks[0, perm[:n_train], s] = True
        masks[1, perm[n_train:n_train + n_val], s] = True
        masks[2, perm[n_train + n_val:], s] = True
    return masks[0], masks[1], masks[2]


def csbm(num_nodes: int = 5000, num_features: int = 2000, avg_degree: float = 5.0, phi: float = -0.5,
         epsilon: float = 3.25, seed: int = 0, num_splits: int = 10, train: float = 0.6, val: float = 0.2) -> Data:
    """A cSBM graph (the module docstring gives the model and the sampling), deterministic given ``seed``.

    Defaults follow GPR-GNN's cSBM experiments (``create_cSBM_dataset.sh``: n = 5000, F = 2000, d = 5,
    epsilon = 3.25; 60/20/20 "dense" splits), with ``phi = -0.5``, a heterophilous graph whose features still carry
    signal (GPR-GNN sweeps phi over [-1, 1]). The splits are uniformly random, not class-stratified as GPR-GNN's
    training sets (the classes are balanced). Costs ``O(n F + |E|)``: n = 10^6, F = 64, d = 10 (10^7 directed edges)
    took 2.8 s on 2 busy CPU cores, peak resident memory 0.97 GB of which 0.36 GB is the imported libraries.

    Args:
        num_nodes: n, at least 2.
        num_features: F.
        avg_degree: d, the expected degree; the edge probabilities ``c_in / n``, ``c_out / n`` must lie in [0, 1].
        phi: in [-1, 1]: -1 fully heterophilous graph, 0 features only, +1 fully homophilous graph.
        epsilon: distance above the detection threshold, ``lambda^2 + mu^2 / xi = 1 + epsilon``, ``>= 0``.
        seed: seeds the ``torch.Generator`` that draws everything (on the CPU; the global RNG is not touched).
        num_splits: number of random train/val/test splits (mask columns).
        train, val: fractions of the nodes in the training and validation sets of each split; the rest is test.

    Returns:
        ``Data`` as :func:`sheafgraph.data.load_node_dataset` returns it: ``x`` float32 (not row-normalised: the
        features are centred Gaussians), ``y`` int64 in {0, 1}, ``edge_index`` (both directions, coalesced, no
        self-loops), ``train_mask``/``val_mask``/``test_mask`` bool, disjoint in each split, ``num_classes = 2``,
        ``name`` (e.g. ``"csbm(n=5000,f=2000,d=5,phi=-0.5,eps=3.25,seed=0)"``) and ``metric = "accuracy"``.

    Raises:
        ValueError: an argument out of range, ``c_in`` or ``c_out`` negative (``|lambda| > sqrt(d)``) or above n, or
            splits without a training or test node.

    Shapes:
        x: ``(|V|, F)``, y: ``(|V|,)``, edge_index: ``(2, |E|)``, masks: ``(|V|, num_splits)``.
    """
    n, f = _CHECKS["num_nodes"](num_nodes, "num_nodes"), _CHECKS["num_features"](num_features, "num_features")
    d, phi = _CHECKS["avg_degree"](avg_degree, "avg_degree"), _CHECKS["phi"](phi, "phi")
    epsilon, seed = _CHECKS["epsilon"](epsilon, "epsilon"), _CHECKS["seed"](seed, "seed")
    num_splits = _CHECKS["num_splits"](num_splits, "num_splits")
    train = finite_float(train, "train", low=0.0, high=1.0, low_open=True, high_open=True)
    val = probability(val, "val")
    mu, c_in, c_out = _edge_rates(n, f, d, phi, epsilon)
    g = torch.Generator().manual_seed(seed)

    # labels: a random balanced assignment, v = 2y - 1
    order = torch.randperm(n, generator=g)
    neg, pos = order[:n // 2], order[n // 2:]
    y = torch.zeros(n, dtype=torch.long)
    y[pos] = 1
    # features: x_i = sqrt(mu/n) v_i u + Z_i / sqrt(F)
    u = torch.randn(f, generator=g) / math.sqrt(f)
    x = torch.randn(n, f, generator=g).div_(math.sqrt(f))
    x.addr_(2.0 * y - 1.0, u, alpha=math.sqrt(mu / n))
    # edges: binomial count per block (within -1, within +1, across), then uniform pairs in the block
    pairs = torch.tensor([len(neg) * (len(neg) - 1) / 2, len(pos) * (len(pos) - 1) / 2, len(neg) * len(pos)],
                         dtype=torch.float64)
    rates = torch.tensor([c_in / n, c_in / n, c_out / n], dtype=torch.float64)
    counts = torch.binomial(pairs, rates, generator=g).long().tolist()
    src, dst = map(torch.cat, zip(_sample_pairs(neg, None, counts[0], g), _sample_pairs(pos, None, counts[1], g),
                                  _sample_pairs(neg, pos, counts[2], g)))
    edge_index = _undirected_coalesced(src, dst, n)
    train_mask, val_mask, test_mask = _random_splits(n, num_splits, train, val, g)
    return Data(x=x, y=y, edge_index=edge_index, train_mask=train_mask, val_mask=val_mask, test_mask=test_mask,
                num_classes=2, name=f"csbm(n={n},f={f},d={d:g},phi={phi:g},eps={epsilon:g},seed={seed})",
                metric="accuracy")
