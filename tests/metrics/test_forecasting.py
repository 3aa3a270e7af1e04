"""Masked forecasting errors: hand-computed values, masking of NaN targets, streaming = one shot, report layout."""
import math

import pytest
import torch

from sheafgraph.metrics.forecasting import ForecastErrors, masked_mae, masked_rmse

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
