"""Node-classification benchmarks (heterophilous and homophilous) as PyG ``Data``, by name.

``load_node_dataset(name)`` returns the graphs used by Neural Sheaf Diffusion (Bodnar et al., NeurIPS 2022) and
by Platonov et al. (ICLR 2023), preprocessed as NSD does: features row-normalised, ``x_i / sum_k x_ik`` (rows
summing to 0 stay 0), the graph undirected, coalesced and without self-loops, and the 10 standard splits.

Files are read from ``<root>/heterophily/`` laid out as the shared data folder (``geom-gcn/``, ``heterophilous/``,
``planetoid/``); ``root`` defaults to ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``, which ships only the
small WebKB graphs (texas, wisconsin, cornell, cornell_2022). Files whose sha256 is listed in
``datasets/heterophily/SHA256SUMS`` are checked against it. Provenance: ``datasets/heterophily/SOURCES.md``.

Datasets (name: source; metric):

- ``texas``, ``wisconsin``: Geom-GCN WebKB; accuracy.
- ``cornell`` (alias ``cornell_nsd``): Geom-GCN commit 1c4c04f, the version NSD's published numbers use, whose
  features and labels are byte-identical to Texas's (on Cornell's graph); accuracy.
- ``cornell_2022``: the corrected Cornell re-uploaded to Geom-GCN in 2022 (what PyG's ``WebKB`` serves); accuracy.
- ``film``: Geom-GCN Film (Actor), 932 binary features; accuracy.
- ``chameleon``, ``squirrel``: features and labels from Platonov's ``.npz`` (Geom-GCN's are unavailable), edges
  and splits from Geom-GCN; accuracy.
- ``chameleon_filtered``, ``squirrel_filtered``, ``actor``: Platonov ``.npz`` with its masks; accuracy.
- ``minesweeper``, ``tolokers``: Platonov ``.npz`` with its masks; ROC AUC.
- ``cora``, ``citeseer``: Planetoid files with the Geom-GCN splits (which leave some nodes in no mask); accuracy.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

from sheafgraph.data.geom_gcn import read_edge_list, read_node_features_labels, read_split_masks
from sheafgraph.data.paths import DATASETS_DIR, PathLike, data_root, require_file, verify_sha256
from sheafgraph.data.planetoid import PLANETOID_PARTS, read_planetoid
from sheafgraph.data.platonov import read_platonov_npz

NUM_SPLITS = 10
FILM_NUM_FEATURES = 932  # Geom-GCN's feature dimension for Film (indices 0..931)
SHIPPED = ("texas", "wisconsin", "cornell", "cornell_nsd", "cornell_2022")
SOURCES = {
    "geom-gcn": "the Geom-GCN repository bingzhewei/geom-gcn (new_data/ and splits/ at commit 1c4c04f; the corrected "
                "Cornell re-uploaded on 2022-07-17)",
    "heterophilous": "the repository yandex-research/heterophilous-graphs (data/*.npz at commit a431395)",
    "planetoid": "the repository kimiyoung/planetoid (data/ind.<name>.*)",
}

Arrays = Tuple[np.ndarray, ...]  # x, y, edges (2, E), train, val, test masks (N, S)
Locate = Callable[[str], Path]  # path relative to <root>/heterophily -> checked file


@dataclass(frozen=True)
class _Spec:
    read: Callable[..., Arrays]  # read(locate, *args)
    args: Tuple
    metric: str


def _geom_gcn_splits(locate: Locate, name: str, num_nodes: int) -> Arrays:
    files = [locate(f"geom-gcn/splits/{name}_split_0.6_0.2_{k}.npz") for k in range(NUM_SPLITS)]
    return read_split_masks(files, num_nodes)


def _read_geom_gcn(locate: Locate, folder: str, name: str, num_index_features: Optional[int] = None) -> Arrays:
    x, y = read_node_features_labels(locate(f"geom-gcn/{folder}/{name}/out1_node_feature_label.txt"),
                                     num_index_features)
    edges = read_edge_list(locate(f"geom-gcn/{folder}/{name}/out1_graph_edges.txt"))
    return (x, y, edges, *_geom_gcn_splits(locate, name, len(y)))


def _read_wikipedia(locate: Locate, name: str) -> Arrays:
    x, y, *_ = read_platonov_npz(locate(f"heterophilous/{name}.npz"))
    edges = read_edge_list(locate(f"geom-gcn/new_data/{name}/out1_graph_edges.txt"))
    return (x, y, edges, *_geom_gcn_splits(locate, name, len(y)))


def _read_platonov(locate: Locate, name: str) -> Arrays:
    return read_platonov_npz(locate(f"heterophilous/{name}.npz"))


def _read_citation(locate: Locate, name: str) -> Arrays:
    x, y, edges = read_planetoid({part: locate(f"planetoid/data/ind.{name}.{part}") for part in PLANETOID_PARTS})
    return (x, y, edges, *_geom_gcn_splits(locate, name, len(y)))


def _spec(read: Callable[..., Arrays], *args, metric: str = "accuracy") -> _Spec:
    return _Spec(read, args, metric)


_cornell_nsd = _spec(_read_geom_gcn, "new_data", "cornell")
_REGISTRY: Dict[str, _Spec] = {
    "texas": _spec(_read_geom_gcn, "new_data", "texas"),
    "wisconsin": _spec(_read_geom_gcn, "new_data", "wisconsin"),
    "cornell": _cornell_nsd,
    "cornell_nsd": _cornell_nsd,
    "cornell_2022": _spec(_read_geom_gcn, "new_data_cornell_2022-07-17", "cornell"),
    "film": _spec(_read_geom_gcn, "new_data", "film", FILM_NUM_FEATURES),
    "chameleon": _spec(_read_wikipedia, "chameleon"),
    "squirrel": _spec(_read_wikipedia, "squirrel"),
    "chameleon_filtered": _spec(_read_platonov, "chameleon_filtered"),
    "squirrel_filtered": _spec(_read_platonov, "squirrel_filtered"),
    "actor": _spec(_read_platonov, "actor"),
    "minesweeper": _spec(_read_platonov, "minesweeper", metric="roc_auc"),
    "tolokers": _spec(_read_platonov, "tolokers", metric="roc_auc"),
    "cora": _spec(_read_citation, "cora"),
    "citeseer": _spec(_read_citation, "citeseer"),
}


def node_dataset_names() -> Tuple[str, ...]:
    """The names :func:`load_node_dataset` accepts, sorted."""
    return tuple(sorted(_REGISTRY))


@functools.lru_cache(maxsize=None)
def known_sha256() -> Dict[str, str]:
    """Full sha256 of each known file, keyed by its path relative to ``heterophily/`` (from ``SHA256SUMS``)."""
    listing = DATASETS_DIR / "heterophily" / "SHA256SUMS"
    if not listing.is_file():
        return {}
    pairs = (line.split(maxsplit=1) for line in listing.read_text().splitlines() if line.strip())
    return {rel.strip(): digest for digest, rel in pairs}


def _locator(root: Path, verify: bool) -> Locate:
    """A function mapping a path relative to ``<root>/heterophily`` to the existing, checksum-verified file."""
    known = known_sha256() if verify else {}
    shipped = ", ".join(SHIPPED)

    def locate(rel: str) -> Path:
        hint = (f"it comes from {SOURCES[rel.split('/', 1)[0]]}; see datasets/heterophily/SOURCES.md. The data root "
                f"searched was {root} (the project's datasets/ ships only {shipped}); pass --root /path/to/shared/data "
                f"(root= in Python) or set SHEAFGRAPH_DATA to a folder that contains heterophily/{rel}")
        path = require_file(root / "heterophily" / rel, hint)
        if rel in known:
            verify_sha256(path, known[rel])
        return path

    return locate


def row_normalize(x: Tensor) -> Tensor:
    """Row-normalise non-negative features, ``x_i / sum_k x_ik``; rows summing to 0 stay 0 (as PyG's
    ``NormalizeFeatures``, used by NSD).

    Shapes:
        x: ``(|V|, F)`` -> ``(|V|, F)``.
    """
    total = x.sum(dim=1, keepdim=True)
    return x / torch.where(total == 0, torch.ones_like(total), total)


def _to_data(arrays: Arrays, name: str, metric: str, normalize_features: bool) -> Data:
    x, y, edges, train, val, test = arrays
    n = x.shape[0]
    if y.shape != (n,):
        raise ValueError(f"{name}: labels have shape {y.shape}, expected ({n},) to match the features")
    if y.min() < 0:
        raise ValueError(f"{name}: negative class label {y.min()}")
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise ValueError(f"{name}: edge endpoint {edges.max()} outside 0..{n - 1}")
    x = torch.from_numpy(x).float()
    if normalize_features:
        x = row_normalize(x)
    edge_index, _ = remove_self_loops(torch.from_numpy(edges).long())
    edge_index = to_undirected(edge_index, num_nodes=n)  # adds reverse edges, sorts, removes duplicates
    return Data(x=x, y=torch.from_numpy(y).long(), edge_index=edge_index,
                train_mask=torch.from_numpy(train), val_mask=torch.from_numpy(val), test_mask=torch.from_numpy(test),
                num_classes=int(y.max()) + 1, name=name, metric=metric)


def load_node_dataset(name: str, root: Optional[PathLike] = None, *, normalize_features: bool = True,
                      verify: bool = True) -> Data:
    """Load a node-classification benchmark by name (see the module docstring for the list and sources).

    Args:
        name: dataset name, case-insensitive; :func:`node_dataset_names` lists them.
        root: folder containing ``heterophily/`` (e.g. the shared ``data`` folder); default ``$SHEAFGRAPH_DATA``,
            else the project's ``datasets/``.
        normalize_features: divide each feature row by its sum (NSD preprocessing).
        verify: check files against the sha256 list ``datasets/heterophily/SHA256SUMS``.

    Returns:
        ``Data`` with ``x`` float32, ``y`` int64, ``edge_index`` (both directions, coalesced, no self-loops),
        ``train_mask``/``val_mask``/``test_mask`` bool with one column per split (nodes may be in no mask:
        Cora and Citeseer), ``num_classes``, ``name`` and ``metric`` (``'accuracy'`` or ``'roc_auc'``).

    Raises:
        ValueError: unknown name, a checksum mismatch or malformed files (e.g. masks of the wrong length).
        FileNotFoundError: a file is missing; the message names it, its source and how to point ``root`` at it.

    Shapes:
        x: ``(|V|, F)``, y: ``(|V|,)``, edge_index: ``(2, |E|)``, masks: ``(|V|, 10)``.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown node dataset {name!r}; valid names: {', '.join(node_dataset_names())}")
    spec = _REGISTRY[key]
    arrays = spec.read(_locator(data_root(root), verify), *spec.args)
    return _to_data(arrays, key, spec.metric, normalize_features)
