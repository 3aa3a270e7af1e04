import math

import numpy as np
import pytest
import torch

from sheafgraph.utils.checks import (Registry, check_choice, finite_float, int_in_range, nonnegative_float,
                                     positive_float, positive_int, probability)


def test_positive_int_accepts_integers_only():
    assert positive_int(3, "steps") == 3 and positive_int(np.int64(2), "steps") == 2
    assert positive_int(0, "seed", minimum=0) == 0
    for bad in (0, -1, True, 2.0, "3", None, torch.tensor([3.5])):
        with pytest.raises(ValueError, match=r"steps must be a positive int, got"):
            positive_int(bad, "steps")
    with pytest.raises(ValueError, match=r"seed must be a non-negative int, got -1"):
        positive_int(-1, "seed", minimum=0)
    with pytest.raises(ValueError, match=r"k must be an int >= 2, got 1"):
        positive_int(1, "k", minimum=2)
    with pytest.raises(ValueError, match=r"fold must be an int in 0..9, got 10"):
        int_in_range(10, "fold", 0, 9)


def test_floats_in_intervals():
    assert positive_float(0.5, "lr") == 0.5 and nonnegative_float(0, "wd") == 0.0 and probability(0.0, "p") == 0.0
    for fn, bad in ((positive_float, 0.0), (positive_float, math.nan), (nonnegative_float, -1e-9),
                    (probability, 1.0), (probability, math.inf), (positive_float, True), (positive_float, "1")):
        with pytest.raises(ValueError, match="x must be a finite number in"):
            fn(bad, "x")
    assert finite_float(2.0, "y", low=1.0, high=2.0) == 2.0
    with pytest.raises(ValueError, match=r"\[1.0, 2.0\)"):
        finite_float(2.0, "y", low=1.0, high=2.0, high_open=True)


def test_choice_and_registry():
    assert check_choice("a", ("a", "b"), "mode") == "a"
    with pytest.raises(ValueError, match="unknown mode 'c'; valid names: a, b"):
        check_choice("c", ("a", "b"), "mode")
    reg = Registry("sampler", {"pc": 1})

    @reg.register("s4")
    def s4():
        return 2

    assert list(reg) == ["pc", "s4"] and reg["s4"] is s4 and "pc" in reg and "ode" not in reg and len(reg) == 2
    assert reg.get("ode") is None
    with pytest.raises(ValueError, match="unknown sampler 'ode'; valid names: pc, s4"):
        reg["ode"]
    with pytest.raises(ValueError, match="sampler 'pc' is already registered"):
        reg.add("pc", 3)
