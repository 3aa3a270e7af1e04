"""Readers for the Geom-GCN text files and split masks (Pei et al., "Geom-GCN", ICLR 2020).

File formats (repository bingzhewei/geom-gcn, ``new_data/<name>/`` and ``splits/``):

- ``out1_node_feature_label.txt``: a header line, then ``node_id <TAB> features <TAB> label`` per node, where
  ``features`` is a comma-separated dense 0/1 vector (WebKB) or a comma-separated list of active feature indices
  (Film).
- ``out1_graph_edges.txt``: a header line, then ``src <TAB> dst`` per edge.
- ``splits/<name>_split_0.6_0.2_<k>.npz``: keys ``train_mask``, ``val_mask``, ``test_mask`` of length N.

The readers return NumPy arrays exactly as the files hold them; making the graph undirected and the features
normalised is the job of :func:`sheafgraph.data.heterophily.node_data`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from sheafgraph.data.paths import as_mask, load_npz, reading

SPLIT_KEYS = ("train_mask", "val_mask", "test_mask")


def read_node_features_labels(path: Path, num_index_features: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``out1_node_feature_label.txt`` into features and labels ordered by node id.

    Args:
        path: the file.
        num_index_features: None if each feature field is a dense comma-separated vector; else the feature
            dimension F when each field lists the indices of the active features (Film: F = 932, as Geom-GCN).

    Returns:
        ``x`` float32 of shape ``(N, F)`` and ``y`` int64 of shape ``(N,)``, row i holding node id i.

    Raises:
        ValueError: node ids are not a permutation of ``0..N-1``, rows differ in length, or an index is out of range.
    """
    with reading(path, "Geom-GCN node file (node_id, comma-separated features, label per line)"):
        table = pd.read_csv(path, sep="\t", header=0, dtype=str)
        if table.shape[1] != 3:
            raise ValueError(f"expected 3 tab-separated columns (node_id, features, label), got {table.shape[1]}")
        ids = table.iloc[:, 0].astype(np.int64).to_numpy()
        fields = [np.array(s.split(","), dtype=np.int64) for s in table.iloc[:, 1]]
        labels = table.iloc[:, 2].astype(np.int64).to_numpy()
    n = len(ids)
    if not np.array_equal(np.sort(ids), np.arange(n)):
        raise ValueError(f"{path}: node ids are not a permutation of 0..{n - 1}")
    if num_index_features is None:
        widths = {len(f) for f in fields}
        if len(widths) != 1:
            raise ValueError(f"{path}: feature vectors have different lengths {sorted(widths)}")
        x = np.stack(fields).astype(np.float32)
    else:
        rows = np.repeat(np.arange(n), [len(f) for f in fields])
        cols = np.concatenate(fields)
        if cols.min() < 0 or cols.max() >= num_index_features:
            raise ValueError(f"{path}: feature index {cols.max()} out of range for {num_index_features} features")
        x = np.zeros((n, num_index_features), dtype=np.float32)
        x[rows, cols] = 1.0
    order = np.argsort(ids)
    return x[order], labels[order]


def read_edge_list(path: Path) -> np.ndarray:
    """Read ``out1_graph_edges.txt`` (header line, then ``src <TAB> dst``) as an int64 array of shape ``(2, E)``.

    A file cut inside a line is refused; one cut at a line end reads as a shorter list, which only the sha256 check
    of :func:`~sheafgraph.data.heterophily.load_node_dataset` (``verify=True``) detects.
    """
    with reading(path, "Geom-GCN edge file (src <TAB> dst per line)"):
        table = pd.read_csv(path, sep="\t", header=0, dtype=np.int64)
        if table.shape[1] != 2:
            raise ValueError(f"expected 2 tab-separated columns (src, dst), got {table.shape[1]}")
    return table.to_numpy().T.copy()


def read_split_masks(paths: Sequence[Path], num_nodes: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack the split files ``paths`` (one per split) into train/val/test masks of shape ``(N, S)``, bool.

    Raises:
        ValueError: a file lacks a mask key or holds a mask whose length is not ``num_nodes``.
    """
    masks = {key: [] for key in SPLIT_KEYS}
    for path in paths:
        arrays = load_npz(path, "split file (.npz with train_mask, val_mask, test_mask)")
        for key in SPLIT_KEYS:
            if key not in arrays:
                raise ValueError(f"{path}: missing key {key!r} (has {sorted(arrays)})")
            if arrays[key].shape != (num_nodes,):
                raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, expected ({num_nodes},) for this graph")
            masks[key].append(as_mask(arrays[key], f"{path}: {key}"))
    train, val, test = (np.stack(masks[key], axis=1) for key in SPLIT_KEYS)
    return train, val, test
