"""Reader for the ``.npz`` files of Platonov et al., "A critical look at the evaluation of GNNs under heterophily:
are we really making progress?", ICLR 2023 (repository yandex-research/heterophilous-graphs).

Keys: ``node_features`` ``(N, F)``, ``node_labels`` ``(N,)``, ``edges`` ``(E, 2)`` (each undirected pair once),
``train_masks``, ``val_masks``, ``test_masks`` ``(S, N)`` (S = 10 splits).
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np

from sheafgraph.data.paths import as_mask, load_npz

NPZ_KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks", "test_masks")


def read_platonov_npz(path: Path) -> Tuple[np.ndarray, ...]:
    """Read one dataset file.

    Returns:
        ``x`` float32 ``(N, F)``, ``y`` int64 ``(N,)``, ``edges`` int64 ``(2, E)`` and the train/val/test masks,
        bool ``(N, S)`` each.

    Raises:
        ValueError: a key is missing, ``edges`` is not ``(E, 2)`` or a mask's length is not N.
    """
    arrays = load_npz(path, "dataset file (.npz of Platonov et al.)")
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} (has {sorted(arrays)})")
    x = arrays["node_features"].astype(np.float32)
    y = arrays["node_labels"].astype(np.int64)
    edges = arrays["edges"].astype(np.int64)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"{path}: edges has shape {edges.shape}, expected (num_edges, 2)")
    masks = []
    for key in NPZ_KEYS[3:]:
        mask = arrays[key]
        if mask.ndim != 2 or mask.shape[1] != len(y):
            raise ValueError(f"{path}: {key} has shape {mask.shape}, expected (num_splits, {len(y)})")
        masks.append(as_mask(mask, f"{path}: {key}").T.copy())
    return (x, y, edges.T.copy(), *masks)
