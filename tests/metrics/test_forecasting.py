"""Masked forecasting scores: hand-computed values, masking of NaN targets, streaming = one shot, report layout;
ensemble CRPS and interval coverage."""
import math

import numpy as np
import pytest
import torch

from sheafgraph.metrics.forecasting import (ForecastErrors, central_interval, crps_ensemble, ensemble_quantiles,
                                            masked_mae, masked_rmse, paired_difference)

NAN = float("nan")


def test_masked_mae_rmse_by_hand():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[2.0, NAN], [0.0, 8.0]])
    mask = torch.tensor([[True, False], [True, True]])
    # errors 1, 3, 4 on the observed entries
    assert float(masked_mae(pred, target, mask)) == pytest.approx(8 / 3)
    assert float(masked_rmse(pred, target, mask)) == pytest.approx(math.sqrt(26 / 3))
    assert float(masked_mae(pred, target, torch.zeros_like(mask))) == 0.0


def test_masked_mae_gradient_ignores_masked_nan():
    pred = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    target = torch.tensor([0.0, NAN, 5.0])
    masked_mae(pred, target, torch.tensor([True, False, True])).backward()
    torch.testing.assert_close(pred.grad, torch.tensor([0.5, 0.0, -0.5]))


def test_streaming_report_matches_one_shot_and_hand_values():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(10, 3, 4, generator=g)
    target = torch.randn(10, 3, 4, generator=g)
    mask = torch.rand(10, 3, 4, generator=g) > 0.3
    mask[:, :, 3] = False                                             # station 3 never observed
    target = torch.where(mask, target, NAN)
    acc = ForecastErrors()
    for lo in range(0, 10, 4):
        acc.update(pred[lo:lo + 4], target[lo:lo + 4], mask[lo:lo + 4])
    r = acc.report()
    assert r.count == int(mask.sum())
    assert r.mae == pytest.approx(float(masked_mae(pred, target, mask)), rel=1e-6)
    assert r.rmse == pytest.approx(float(masked_rmse(pred, target, mask)), rel=1e-6)
    for k in range(3):
        assert float(r.mae_by_step[k]) == pytest.approx(float(masked_mae(pred[:, k], target[:, k], mask[:, k])),
                                                        rel=1e-6)
        assert int(r.count_by_step[k]) == int(mask[:, k].sum())
    for i in range(3):
        assert float(r.rmse_by_station[i]) == pytest.approx(
            float(masked_rmse(pred[..., i], target[..., i], mask[..., i])), rel=1e-6)
    assert math.isnan(float(r.mae_by_station[3]))


def test_report_dict_and_horizons():
    pred = torch.zeros(1, 24, 2)
    target = torch.arange(24.0).view(1, 24, 1).repeat(1, 1, 2)        # error at step k (1-based) is k - 1
    acc = ForecastErrors()
    acc.update(pred, target, torch.ones(1, 24, 2, dtype=torch.bool))
    r = acc.report()
    assert r.at_hours(24, 3.0) == {"mae": 7.0, "rmse": 7.0}
    assert r.at_hours(72, 3.0)["mae"] == 23.0
    d = r.to_dict(3.0, ["A", "B"])
    assert list(d["by_horizon"])[:3] == ["3h", "6h", "9h"] and d["by_horizon"]["48h"]["mae"] == 15.0
    assert d["by_station"]["B"]["mae"] == pytest.approx(11.5) and d["count"] == 48
    with pytest.raises(ValueError, match="horizon 75 h is not one of the 24 forecast steps of 3.0 h"):
        r.at_hours(75, 3.0)
    with pytest.raises(ValueError, match="horizon 4 h"):
        r.at_hours(4, 3.0)
    with pytest.raises(ValueError, match="1 station names for 2 stations"):
        r.to_dict(3.0, ["A"])


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"pred \(2,\), target \(3,\) and mask \(3,\) must have the same shape"):
        masked_mae(torch.zeros(2), torch.zeros(3), torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool tensor, got torch.float32"):
        masked_rmse(torch.zeros(3), torch.zeros(3), torch.ones(3))
    acc = ForecastErrors()
    with pytest.raises(ValueError, match="no batch was added"):
        acc.report()
    with pytest.raises(ValueError, match=r"pred must have shape \(B, T_out, \|V\|\)"):
        acc.update(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool))
    acc.update(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.ones(1, 2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"batch has \(T_out, \|V\|\) = \(2, 4\)"):
        acc.update(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), torch.ones(1, 2, 4, dtype=torch.bool))


# ---------------------------------------------------------------------------------------------------- ensembles

def test_crps_of_a_point_mass_ensemble_is_the_absolute_error():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g,
                                                                                     dtype=torch.float64)
    for k in (1, 2, 5):
        members = pred.expand(k, 4, 3)
        torch.testing.assert_close(crps_ensemble(members, target, fair=False), (pred - target).abs())
        if k > 1:
            torch.testing.assert_close(crps_ensemble(members, target), (pred - target).abs())
    # pooled over a mask it is the MAE
    mask = torch.rand(4, 3, generator=g) > 0.3
    acc = ForecastErrors()
    acc.update(pred[None], target[None], mask[None], samples=pred.expand(3, 4, 3)[:, None])
    r = acc.report()
    assert r.crps == pytest.approx(r.mae) and r.crps == pytest.approx(float(masked_mae(pred, target, mask)))


def test_crps_by_hand():
    members, y = torch.tensor([[1.0], [3.0], [6.0]], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    # E|X - y| = (1 + 1 + 4) / 3 = 2; sum over ordered pairs |x_k - x_l| = 2 (2 + 5 + 3) = 20
    assert float(crps_ensemble(members, y)) == pytest.approx(2 - 20 / (2 * 3 * 2))           # fair: 1/3
    assert float(crps_ensemble(members, y, fair=False)) == pytest.approx(2 - 20 / (2 * 9))   # 8/9
    # the empirical form is the integral of (F(z) - 1{z >= y})^2 of the ensemble's step CDF F:
    # [1, 2): (1/3)^2, [2, 3): (2/3)^2, [3, 6): 3 (1/3)^2  -> 8/9
    assert 1 / 9 + 4 / 9 + 3 / 9 == pytest.approx(8 / 9)
    # brute force over pairs, random ensembles
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    pairs = (x[:, None] - x[None]).abs().sum((0, 1))
    torch.testing.assert_close(crps_ensemble(x, t), (x - t).abs().mean(0) - pairs / (2 * 7 * 6))
    with pytest.raises(ValueError, match=r"samples must have shape \(K, \*target.shape\) = \(K, 1\) with K >= 2"):
        crps_ensemble(members[:1], y)
    with pytest.raises(ValueError, match=r"= \(K, 4\) with K >= 2, got \(7, 5\)"):
        crps_ensemble(x, t[:4])


def test_quantiles_and_coverage_of_a_known_ensemble():
    members = torch.arange(11.0).view(11, 1).repeat(1, 6)            # 0, 1, ..., 10 at every entry
    np.testing.assert_allclose(ensemble_quantiles(members, [0.0, 0.25, 0.5, 0.93])[:, 0].numpy(),
                               np.quantile(np.arange(11.0), [0.0, 0.25, 0.5, 0.93]))
    lower, upper = central_interval(members, 0.8)                    # 10% and 90% quantiles: 1 and 9
    assert lower.tolist() == [1.0] * 6 and upper.tolist() == [9.0] * 6
    target = torch.tensor([0.5, 1.0, 5.0, 9.0, 9.5, NAN])
    mask = torch.tensor([True, True, True, True, True, False])
    acc = ForecastErrors(levels=(0.8, 0.5))
    acc.update(torch.full((1, 1, 6), 5.0), target.view(1, 1, 6), mask.view(1, 1, 6), members.view(11, 1, 1, 6))
    r = acc.report()
    assert r.coverage == {0.8: pytest.approx(3 / 5), 0.5: pytest.approx(1 / 5)}   # [1, 9] and [2.5, 7.5]
    assert r.samples == 11 and r.coverage_by_step[0.8].tolist() == [pytest.approx(0.6)]
    assert math.isnan(float(r.crps_by_station[5])) and not math.isnan(r.crps)
    with pytest.raises(ValueError, match=r"level must be a finite number in \(0.0, 1.0\), got 1.0"):
        central_interval(members, 1.0)
    with pytest.raises(ValueError, match=r"q must be a sequence of levels in \[0, 1\]"):
        ensemble_quantiles(members, [1.5])


def test_ensemble_scores_per_horizon_and_report_layout():
    g = torch.Generator().manual_seed(2)
    pred, target = torch.randn(5, 3, 2, generator=g), torch.randn(5, 3, 2, generator=g)
    members = pred + 0.5 * torch.randn(4, 5, 3, 2, generator=g)
    mask = torch.rand(5, 3, 2, generator=g) > 0.2
    target = torch.where(mask, target, NAN)
    acc = ForecastErrors()
    for part in (slice(0, 2), slice(2, 5)):
        acc.update(pred[part], target[part], mask[part], members[:, part])
    r = acc.report()
    crps = crps_ensemble(members.double(), torch.where(mask, target, 0.0).double())
    for k in range(3):
        expected = float(crps[:, k][mask[:, k]].mean())
        assert float(r.crps_by_step[k]) == pytest.approx(expected)
        lower, upper = central_interval(members[:, :, k].double(), 0.9)
        inside = (lower <= target[:, k]) & (target[:, k] <= upper)
        assert float(r.coverage_by_step[0.9][k]) == pytest.approx(float(inside[mask[:, k]].double().mean()))
    d = r.to_dict(3.0, ["A", "B"])
    assert d["samples"] == 4 and set(d["coverage"]) == {"80%", "90%"}
    assert set(d["by_horizon"]["6h"]) == {"mae", "rmse", "crps", "coverage"}
    assert set(d["by_horizon"]["6h"]["coverage"]) == {"80%", "90%"} and "crps" in d["by_station"]["A"]
    assert set(r.at_hours(9, 3.0)) == {"mae", "rmse", "crps", "coverage"}
    plain = ForecastErrors()
    plain.update(pred, target, mask)
    assert set(plain.report().to_dict(3.0)["by_horizon"]["3h"]) == {"mae", "rmse"}
    assert plain.report().mae == r.mae                                 # the point scores do not change
    with pytest.raises(ValueError, match="batch has 0 samples, earlier batches 4"):
        acc.update(pred, target, mask)
    with pytest.raises(ValueError, match="batch has 4 samples, earlier batches 0"):
        plain.update(pred, target, mask, members)
    with pytest.raises(ValueError, match="K >= 2"):
        ForecastErrors().update(pred, target, mask, members[:1])
    with pytest.raises(ValueError, match=r"interval levels must be a finite number in \(0.0, 1.0\), got 80"):
        ForecastErrors(levels=(80,))


def test_paired_difference_by_hand():
    d = paired_difference([10.0, 12.0, 11.0], [11.0, 12.5, 12.5])                  # differences -1, -0.5, -1.5
    assert d["n"] == 3 and d["mean"] == pytest.approx(-1.0)
    assert d["se"] == pytest.approx(math.sqrt(((0.0 + 0.25 + 0.25) / 2) / 3))       # sample sd 0.5, over sqrt(3)
    assert paired_difference([3.0], [1.0]) == {"mean": 2.0, "se": None, "n": 1}
    with pytest.raises(ValueError, match="two equally long, non-empty sequences, got 2 and 1 values"):
        paired_difference([1.0, 2.0], [1.0])
