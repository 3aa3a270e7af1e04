"""Early stopping on a validation score, shared by every trainer (node classification, forecasting)."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

from sheafgraph.utils.checks import check_choice, positive_int


class EarlyStopping:
    """Remembers the best validation score, its epoch and (optionally) a snapshot taken at that epoch, and says when
    ``patience`` epochs in a row brought no strict improvement.

    ``mode="min"`` for losses and errors, ``"max"`` for accuracies; a NaN score never improves. ``state_dict`` and
    ``load_state_dict`` carry it across an interrupted run.
    """

    def __init__(self, patience: int, mode: str = "min"):
        self.patience = positive_int(patience, "patience")
        self.mode = check_choice(mode, ("min", "max"), "early-stopping mode")
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_state: Any = None
        self.stale = 0

    def step(self, score: float, epoch: int, snapshot: Optional[Callable[[], Any]] = None) -> bool:
        """Record the score of ``epoch``; on a strict improvement keep ``snapshot()`` and return True."""
        improved = score < self.best if self.mode == "min" else score > self.best
        if improved:
            self.best, self.best_epoch, self.stale = score, epoch, 0
            if snapshot is not None:
                self.best_state = snapshot()
        else:
            self.stale += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_state": self.best_state, "stale": self.stale}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best, self.best_epoch, self.best_state, self.stale = (state["best"], state["best_epoch"],
                                                                   state["best_state"], state["stale"])
