"""Reader for the Planetoid citation files (Yang et al., "Revisiting Semi-Supervised Learning with Graph
Embeddings", ICML 2016; repository kimiyoung/planetoid).

``ind.<name>.{allx, ally, tx, ty}`` are pickled (Python 2) scipy sparse feature matrices and dense one-hot label
arrays; ``ind.<name>.graph`` a pickled ``{node: [neighbours]}`` dict; ``ind.<name>.test.index`` the node id of each
``tx`` row, one per line. Node ids: rows of ``allx`` are nodes ``0..len(allx)-1`` and row k of ``tx`` is node
``test_index[k]``. Citeseer's test ids have 15 holes (isolated nodes without features); those nodes get zero
features and label 0, as Geom-GCN and PyG do, so that N and the node order match the Geom-GCN splits.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Mapping, Tuple

import numpy as np

from sheafgraph.data.paths import reading

PLANETOID_PARTS = ("allx", "ally", "tx", "ty", "graph", "test.index")


#: the only classes a Planetoid pickle may name: NumPy arrays, a SciPy CSR matrix, the adjacency dict and its lists
SAFE_GLOBALS = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("scipy.sparse.csr", "csr_matrix"),
                ("scipy.sparse._csr", "csr_matrix"), ("collections", "defaultdict"), ("__builtin__", "list"),
                ("builtins", "list")}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Unpickles only :data:`SAFE_GLOBALS`: a planted pickle cannot run code, whatever ``verify`` says."""

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: Planetoid files hold only NumPy/SciPy "
                                         f"arrays and an adjacency dict")
        return super().find_class(module, name)


def _unpickle(path: Path):
    with reading(path, "Planetoid pickle"), open(path, "rb") as f, warnings.catch_warnings():
        # files pickled with the old scipy.sparse.csr module path
        warnings.simplefilter("ignore", DeprecationWarning)
        return _PlanetoidUnpickler(f, encoding="latin1").load()


def read_planetoid(paths: Mapping[str, Path]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read one Planetoid dataset into features, labels and the raw edge list in Planetoid node order.

    Args:
        paths: the file of each part in :data:`PLANETOID_PARTS`.

    Returns:
        ``x`` float32 ``(N, F)``, ``y`` int64 ``(N,)`` (argmax of the one-hot rows; 0 for padded nodes) and
        ``edges`` int64 ``(2, E)`` with one entry per adjacency-list item, with N = max(test index) + 1.

    Raises:
        ValueError: the parts have inconsistent sizes or the graph names a node outside ``0..N-1``.
    """
    allx, ally, tx, ty, graph = (_unpickle(paths[part]) for part in PLANETOID_PARTS[:5])
    with reading(paths["test.index"], "Planetoid test index (one node id per line)"):
        test_index = np.loadtxt(paths["test.index"], dtype=np.int64, ndmin=1)
    if allx.shape[0] != ally.shape[0] or not tx.shape[0] == ty.shape[0] == len(test_index):
        raise ValueError(f"{paths['allx']}: inconsistent Planetoid parts (allx {allx.shape}, ally {ally.shape}, "
                         f"tx {tx.shape}, ty {ty.shape}, {len(test_index)} test indices)")
    num_nodes = int(test_index.max()) + 1
    if test_index.min() < allx.shape[0]:
        raise ValueError(f"{paths['test.index']}: test index {test_index.min()} overlaps the allx rows")
    x = np.zeros((num_nodes, allx.shape[1]), dtype=np.float32)
    x[: allx.shape[0]] = allx.toarray()
    x[test_index] = tx.toarray()
    onehot = np.zeros((num_nodes, ally.shape[1]), dtype=np.float32)
    onehot[: ally.shape[0]] = ally
    onehot[test_index] = ty
    y = onehot.argmax(axis=1).astype(np.int64)
    src = np.repeat(np.fromiter(graph.keys(), dtype=np.int64, count=len(graph)), [len(v) for v in graph.values()])
    dst = np.fromiter((j for v in graph.values() for j in v), dtype=np.int64)
    edges = np.stack([src, dst])
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise ValueError(f"{paths['graph']}: node id {edges.max()} outside 0..{num_nodes - 1}")
    return x, y, edges
