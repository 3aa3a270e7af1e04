"""How far apart GDSS's training and test splits are, in the degree / clustering / orbit MMD the generic-graph
results are scored by: the floor a perfect model of the training graphs would reach against the test split.

    python benchmarks/graph_splits.py [--datasets ego_small community_small ENZYMES grid] [--draws 8] [--seed 0]
                                      [--root /path/to/shared/data]

For each dataset, ``--draws`` times: a random permutation of the training graphs gives two disjoint draws of as many
graphs as the test split (where the training split holds two), and the script scores draw 1 against draw 2 ("within
training": what sampling alone costs a model whose samples come from the training distribution) and draw 1 against
the test split ("training vs test": what that model would score against test). Printed as mean [min, max] over the
draws, beside the whole training split against the test split and GDSS's published numbers. A "training vs test"
well above "within training" means the test graphs differ from the training graphs beyond sampling noise (GDSS's
split is the first 20% of each file, not a random draw). MMD as ``sheafgraph graphgen evaluate`` computes it
(:func:`sheafgraph.metrics.graph_mmd`, GDSS's kernels). Nothing is trained; no sample of any model is used.
"""
from __future__ import annotations

import argparse

import numpy as np

from sheafgraph.data.generic_graphs import load_generic_graphs
from sheafgraph.metrics.graph_mmd import GRAPH_MMD, graph_mmd
from sheafgraph.tasks.graphgen import PUBLISHED_MMD


def spread(values: np.ndarray) -> str:
    """``mean [min, max]`` of one column of MMDs."""
    return f"{values.mean():.4f} [{values.min():.4f}, {values.max():.4f}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["ego_small", "community_small", "ENZYMES", "grid"])
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"MMD between GDSS's splits: {args.draws} pairs of disjoint training draws of the test split's size, "
          f"seed {args.seed}; mean [min, max]")
    print(f"{'dataset':<16} {'train/test':>10} {'comparison':<22} " + " ".join(f"{s:>24}" for s in GRAPH_MMD))
    for name in args.datasets:
        splits = load_generic_graphs(name, args.root)
        train, test = splits.train, splits.test
        size = len(test)
        if len(train) < 2 * size:
            raise SystemExit(f"{name}: {len(train)} training graphs cannot give two disjoint draws of {size}")
        within, across = [], []
        for _ in range(args.draws):
            order = rng.permutation(len(train))
            first = [train[i] for i in order[:size]]
            second = [train[i] for i in order[size:2 * size]]
            for scores, other in ((within, second), (across, test)):
                mmd = graph_mmd(first, other)           # all three statistics in one call
                scores.append([mmd[s] for s in GRAPH_MMD])
        whole = graph_mmd(train, test)
        rows = [("within training", [spread(c) for c in np.array(within).T]),
                ("training vs test", [spread(c) for c in np.array(across).T]),
                ("whole training vs test", [f"{whole[s]:.4f}" for s in GRAPH_MMD]),
                ("GDSS paper (samples)", [f"{PUBLISHED_MMD[name][s]:.3f}" for s in GRAPH_MMD])]
        for k, (label, cells) in enumerate(rows):
            lead = f"{name:<16} {f'{len(train)}/{size}':>10}" if k == 0 else " " * 27
            print(f"{lead} {label:<22} " + " ".join(f"{c:>24}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
