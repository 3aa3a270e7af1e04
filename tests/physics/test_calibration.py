"""Calibrating sampled forecasts with the validation residuals of the point forecast, pooled or in level bins."""
import pytest
import torch

from sheafgraph.physics.recipes import AirConfig
from sheafgraph.physics.training import ResidualTable, draw_residuals, residual_table
from sheafgraph.utils.seed import rand


def level_dependent_residuals(n=400, steps=2, stations=5, missing=0.1):
    """Point forecasts U(0, 100) and residuals ``(h + 1) * forecast * U(-1, 1)`` at horizon h: errors that grow with
    the level; a fraction ``missing`` unobserved (NaN)."""
    g = torch.Generator().manual_seed(1)
    point = 100 * torch.rand(n, steps, stations, generator=g, dtype=torch.float64)
    scale = torch.arange(1, steps + 1, dtype=torch.float64).view(1, -1, 1)
    residual = scale * point * (2 * torch.rand(point.shape, generator=g, dtype=torch.float64) - 1)
    return point, residual.masked_fill(torch.rand(point.shape, generator=g) < missing, torch.nan)


def test_residual_draws_follow_the_tabulated_distribution_per_horizon():
    levels = torch.linspace(0, 1, 201, dtype=torch.float64)
    quantiles = torch.stack([levels * 10 - 5, levels * 2])[:, None]    # horizon 0: U(-5, 5); horizon 1: U(0, 2)
    table, point = ResidualTable(torch.zeros(2, 0, dtype=torch.float64), quantiles), torch.zeros(40, 2, 10)
    draws = draw_residuals(table, point, torch.Size([50, 40, 2, 10]), torch.Generator().manual_seed(0))
    assert draws.shape == (50, 40, 2, 10)
    h0, h1 = draws[:, :, 0].flatten(), draws[:, :, 1].flatten()
    assert h0.min() >= -5 and h0.max() <= 5 and h1.min() >= 0 and h1.max() <= 2
    assert abs(float(h0.mean())) < 0.1 and abs(float(h1.mean()) - 1.0) < 0.02
    assert float((h0.abs() < 4).double().mean()) == pytest.approx(0.8, abs=0.01)     # central 80% of U(-5, 5)
    again = draw_residuals(table, point, torch.Size([50, 40, 2, 10]), torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_one_bin_is_the_pooled_table_and_draws_as_before():
    point, residual = level_dependent_residuals()
    table = residual_table(point, residual, bins=1)
    # the pooled table and inverse-CDF draw as they were before level bins existed, written out here
    r = residual.transpose(0, 1).flatten(1)
    pooled = torch.nanquantile(r, torch.linspace(0, 1, 201, dtype=r.dtype), dim=1).t()
    assert table.edges.shape == (2, 0) and torch.equal(table.quantiles[:, 0], pooled)
    shape = torch.Size([6, *point.shape])
    position = rand(shape, torch.Generator().manual_seed(5), dtype=pooled.dtype) * 200
    low = position.floor().long().clamp_(max=199)
    step = torch.arange(2).view(1, 1, -1, 1).expand(shape)
    before = pooled[step, low] + (position - low) * (pooled[step, low + 1] - pooled[step, low])
    assert torch.equal(draw_residuals(table, point, shape, torch.Generator().manual_seed(5)), before)


def test_draws_follow_the_residuals_of_their_own_level_bin():
    point, residual = level_dependent_residuals()
    bins, k = 4, 20
    table = residual_table(point, residual, bins=bins)
    assert table.edges.shape == (2, bins - 1) and table.quantiles.shape == (2, bins, 201)
    draws = draw_residuals(table, point, torch.Size([k, *point.shape]), torch.Generator().manual_seed(0))
    q = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    for h in range(2):
        p, r, d = point[:, h].flatten(), residual[:, h].flatten(), draws[:, :, h].flatten(1)
        observed = ~r.isnan()
        edges = torch.quantile(p[observed], torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
        torch.testing.assert_close(table.edges[h], edges)
        groups = torch.bucketize(p, edges)                      # edges[b - 1] < p <= edges[b]
        for b in range(bins):
            members = groups == b
            expected = torch.quantile(r[members & observed], q)
            assert abs(int((members & observed).sum()) - int(observed.sum()) / bins) <= 1    # equal counts
            torch.testing.assert_close(torch.quantile(d[:, members].flatten(), q), expected,
                                       atol=0.04 * 100 * (h + 1), rtol=0)
    # the bins matter: the highest level bin spreads several times wider than the lowest
    spread = table.quantiles[:, :, 180] - table.quantiles[:, :, 20]
    assert bool((spread[:, -1] > 4 * spread[:, 0]).all())


def test_bad_bins_are_refused_with_the_fix():
    point, residual = level_dependent_residuals(n=2, steps=1, stations=2, missing=0.0)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="calibrate_bins must be a positive int"):
            residual_table(point, residual, bins=bad)
        with pytest.raises(ValueError, match="calibrate_bins must be a positive int"):
            AirConfig(model="diff_adv", samples=4, calibrate=True, calibrate_bins=bad)
    with pytest.raises(ValueError, match="5 bins leave a bin of some horizon without observed residuals: use fewer"):
        residual_table(point, residual, bins=5)                 # 4 observed residuals per horizon


def test_calibrate_needs_samples():
    with pytest.raises(ValueError, match="calibrate widens sampled forecasts: give samples"):
        AirConfig(model="diff_adv", calibrate=True)
