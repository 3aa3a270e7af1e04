r"""Node-classification scores: accuracy and binary ROC AUC, by name.

ROC AUC is the Mann–Whitney statistic :math:`\mathrm{AUC} = \frac{R_+ - n_+(n_+ + 1)/2}{n_+ n_-}` with
:math:`R_+` the sum of the (tie-averaged) ranks of the positive scores, i.e. the probability that a random positive
scores higher than a random negative (ties count one half), as ``sklearn.metrics.roc_auc_score``.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch import Tensor


def _check_labels(y: Tensor, n: int) -> None:
    if not isinstance(y, Tensor) or y.is_floating_point() or y.dtype == torch.bool or y.dim() != 1:
        raise TypeError(f"y must be a 1-d integer tensor of class labels, got {getattr(y, 'dtype', type(y))}")
    if y.numel() != n:
        raise ValueError(f"y has {y.numel()} labels for {n} predictions")
    if n == 0:
        raise ValueError("cannot score an empty set of nodes")


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose arg-max (or, for 1-d input, whose value) equals the label.

    Shapes:
        logits: ``(N, K)`` scores or ``(N,)`` predicted labels; y: ``(N,)``.
    """
    pred = logits.argmax(-1) if logits.dim() == 2 else logits
    _check_labels(y, pred.numel())
    return float((pred == y).double().mean())


def roc_auc(scores: Tensor, y: Tensor) -> float:
    """Binary ROC AUC of scores for the positive class (label 1).

    Args:
        scores: ``(N,)`` scores, or ``(N, 2)`` logits (the score is ``logits[:, 1] - logits[:, 0]``, which ranks
            as the softmax probability of class 1).
        y: ``(N,)`` labels in {0, 1}, both present.

    Raises:
        ValueError: labels outside {0, 1}, a single class present, or a shape mismatch.
    """
    if scores.dim() == 2:
        if scores.size(1) != 2:
            raise ValueError(f"roc_auc needs binary scores, got logits of shape {tuple(scores.shape)}")
        scores = scores[:, 1] - scores[:, 0]
    _check_labels(y, scores.numel())
    if bool(((y != 0) & (y != 1)).any()):
        raise ValueError("roc_auc needs labels in {0, 1}")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_auc is undefined with one class only ({n_pos} positives, {n_neg} negatives)")
    s = scores.detach().double()
    values, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)
    # Tied scores share the mean of the ranks they occupy: first rank + (count - 1) / 2 (ranks from 1).
    first = torch.cumsum(counts, 0) - counts + 1
    ranks = (first + (counts - 1) / 2.0).double()[inverse]
    r_pos = float(ranks[pos].sum())
    return (r_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


METRICS: Dict[str, Callable[[Tensor, Tensor], float]] = {"accuracy": accuracy, "roc_auc": roc_auc}


def score(metric: str, logits: Tensor, y: Tensor) -> float:
    """The metric registered under ``metric`` (``"accuracy"`` or ``"roc_auc"``).

    Raises:
        ValueError: unknown metric name (the message lists the valid ones).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid names: {', '.join(METRICS)}")
    return METRICS[metric](logits, y)
