import math

import pytest

from sheafgraph.utils.early_stopping import EarlyStopping


def test_min_mode_keeps_best_snapshot_and_stops_after_patience():
    stopper = EarlyStopping(2, "min")
    flags = [stopper.step(v, e, snapshot=lambda v=v: f"state {v}") for e, v in enumerate([3.0, 2.0, 2.0, math.nan])]
    assert flags == [True, True, False, False]                   # ties and NaN are no improvement
    assert (stopper.best, stopper.best_epoch, stopper.best_state) == (2.0, 1, "state 2.0") and stopper.should_stop


def test_max_mode_and_bad_arguments():
    stopper = EarlyStopping(1, "max")
    assert stopper.step(0.5, 0) and not stopper.should_stop and not stopper.step(0.4, 1) and stopper.should_stop
    assert stopper.best_state is None
    with pytest.raises(ValueError, match="patience must be a positive int"):
        EarlyStopping(0)
    with pytest.raises(ValueError, match="unknown early-stopping mode 'up'"):
        EarlyStopping(3, "up")
