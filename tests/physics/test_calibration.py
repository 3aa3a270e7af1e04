"""Calibrating sampled forecasts with the validation residuals of the point forecast."""
import pytest
import torch

from sheafgraph.physics.recipes import AirConfig
from sheafgraph.physics.training import draw_residuals


def test_residual_draws_follow_the_tabulated_distribution_per_horizon():
    levels = torch.linspace(0, 1, 201, dtype=torch.float64)
    quantiles = torch.stack([levels * 10 - 5, levels * 2])           # horizon 0: U(-5, 5); horizon 1: U(0, 2)
    draws = draw_residuals(quantiles, torch.Size([50, 40, 2, 10]), torch.Generator().manual_seed(0))
    assert draws.shape == (50, 40, 2, 10)
    h0, h1 = draws[:, :, 0].flatten(), draws[:, :, 1].flatten()
    assert h0.min() >= -5 and h0.max() <= 5 and h1.min() >= 0 and h1.max() <= 2
    assert abs(float(h0.mean())) < 0.1 and abs(float(h1.mean()) - 1.0) < 0.02
    assert float((h0.abs() < 4).double().mean()) == pytest.approx(0.8, abs=0.01)     # central 80% of U(-5, 5)
    again = draw_residuals(quantiles, torch.Size([50, 40, 2, 10]), torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_calibrate_needs_samples():
    with pytest.raises(ValueError, match="calibrate widens sampled forecasts: give samples"):
        AirConfig(model="diff_adv", calibrate=True)
