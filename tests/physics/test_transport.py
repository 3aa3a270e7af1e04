"""Physics terms through the AirPhyNet vector field: advection carries a tracer downwind and conserves its mass,
diffusion spreads it and conserves it, the batch operators match per-sample ones, wind units and schedules."""
import math

import pytest
import torch
from torchdiffeq import odeint

from sheafgraph.ops import advection_operator, graph_laplacian
from sheafgraph.physics import (AdvectionDiffusionODE, AdvectionSchedule, advection_operators, batch_structure,
                                forecast_wind, forward_fill, km_per_hour, physics_graph, shared_matmul,
                                station_laplacian)

SPACING_KM = 10.0


def line_graph(n=8):
    """n stations on a west-east line, SPACING_KM apart, edges between neighbours (both directions)."""
    src = torch.arange(n - 1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)
    pos = torch.stack([torch.arange(n, dtype=torch.float64) * SPACING_KM, torch.zeros(n, dtype=torch.float64)], 1)
    return physics_graph(edge_index, torch.ones(edge_index.size(1)), pos, dtype=torch.float64)


def transport_only(diffusion=False, advection=True, k=0.5, alpha=1.0):
    """The AirPhyNet vector field with its graph network silenced and gates fully open: pure physics."""
    func = AdvectionDiffusionODE(1, 4, diffusion=diffusion, advection=advection,
                                 init_k=k, init_alpha=alpha).double()
    with torch.no_grad():
        func.lin_out.weight.zero_()
        func.lin_out.bias.zero_()
        for gate in (func.diffusion_gate, func.advection_gate):
            if gate is not None:
                gate.fill_(30.0)                                  # sigmoid(30) = 1 - 1e-13
    return func


@torch.no_grad()
def integrate(func, graph, wind_ms, hours, interval=3.0, step=0.05):
    """Tracer of unit mass at node 0 of every sample; wind (B, T_w, |V|, 2) in m/s; returns z(hours) (B, |V|)."""
    b, n = wind_ms.size(0), graph.num_nodes
    ops = advection_operators(graph, km_per_hour(wind_ms)) if func.advection else None
    field = func.bind(station_laplacian(graph), ops, interval)
    z0 = torch.zeros(b, n, 1, dtype=torch.float64)
    z0[:, 0] = 1.0
    t = torch.tensor([0.0, hours], dtype=torch.float64)
    return odeint(field, z0, t, method="rk4", options={"step_size": step})[-1, ..., 0]


def centre_km(z, graph):
    return (z * graph.pos_km[:, 0]).sum(-1) / z.sum(-1)


def test_advection_carries_tracer_downwind_and_conserves_mass():
    graph = line_graph(8)
    east = torch.zeros(2, 1, 8, 2, dtype=torch.float64)
    east[0, ..., 0] = 5.0                                         # sample 0: 5 m/s toward the east (18 km/h)
    east[1, ..., 0] = 2.5                                         # sample 1: half the speed
    z = integrate(transport_only(), graph, east, hours=1.0)
    torch.testing.assert_close(z.sum(-1), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-10)   # mass
    assert bool((z >= -1e-12).all())
    # upwind advection moves the centre of mass at the wind speed (until mass piles up at the east end:
    # P(>= 7 hops) is below 0.3% here)
    moved = centre_km(z, graph)
    torch.testing.assert_close(moved, torch.tensor([18.0, 9.0], dtype=torch.float64), rtol=0.01, atol=0)
    assert float(z[0, 0]) == pytest.approx(math.exp(-1.8), rel=1e-5)     # outflow rate 18/10 per hour


def test_advection_scale_and_opposite_wind():
    graph = line_graph(8)
    wind = torch.zeros(1, 1, 8, 2, dtype=torch.float64)
    wind[..., 0] = -5.0                                            # toward the west: node 0 is the west end
    z = integrate(transport_only(alpha=0.5), graph, wind, hours=1.0)
    torch.testing.assert_close(z, torch.eye(8, dtype=torch.float64)[:1])     # nothing west of node 0: stays
    wind[..., 0] = 5.0
    z = integrate(transport_only(alpha=0.5), graph, wind, hours=1.0)
    torch.testing.assert_close(centre_km(z, graph), torch.tensor([9.0], dtype=torch.float64), rtol=0.01, atol=0)


def test_time_varying_wind_switches_per_interval():
    graph = line_graph(8)
    wind = torch.zeros(1, 2, 8, 2, dtype=torch.float64)
    wind[0, 0, :, 0] = 5.0                                         # (0, 1 h]: east
    wind[0, 1, :, 0] = -5.0                                        # (1 h, 2 h]: west
    func = transport_only()
    after_one = integrate(func, graph, wind, hours=1.0, interval=1.0)
    after_two = integrate(func, graph, wind, hours=2.0, interval=1.0)
    assert float(centre_km(after_one, graph)) == pytest.approx(18.0, rel=0.01)
    assert float(centre_km(after_two, graph)) < 0.5 * float(centre_km(after_one, graph))    # blown back west
    assert float(after_two.sum()) == pytest.approx(1.0, abs=1e-10)


def test_diffusion_spreads_symmetrically_and_conserves_mass():
    graph = line_graph(5)
    field = transport_only(diffusion=True, advection=False, k=0.5).bind(station_laplacian(graph), None, 3.0)
    z0 = torch.zeros(1, 5, 1, dtype=torch.float64)
    z0[0, 2] = 1.0
    with torch.no_grad():
        z = odeint(field, z0, torch.tensor([0.0, 2.0], dtype=torch.float64), method="rk4",
                   options={"step_size": 0.05})[-1, 0, :, 0]
    expected = torch.linalg.matrix_exp(-0.5 * 2.0 * graph_laplacian(graph.structure, graph.edge_weight).to_dense())
    torch.testing.assert_close(z, expected[:, 2], rtol=1e-6, atol=1e-9)
    assert float(z.sum()) == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(z, z.flip(0))


def test_batched_advection_matches_per_sample_operators():
    g = torch.Generator().manual_seed(0)
    graph = line_graph(6)
    wind = torch.randn(3, 2, 6, 2, generator=g, dtype=torch.float64)
    ops = advection_operators(graph, wind)
    assert len(ops) == 2 and ops[0].shape == (18, 18)
    z = torch.randn(3, 6, 4, generator=g, dtype=torch.float64)
    for k in range(2):
        batched = (ops[k] @ z.reshape(18, 4)).view(3, 6, 4)
        for b in range(3):
            single = advection_operator(graph.structure, wind[b, k], graph.pos_km) @ z[b]
            torch.testing.assert_close(batched[b], single)
    lap = station_laplacian(graph)
    torch.testing.assert_close(shared_matmul(lap, z), torch.stack([lap @ z[b] for b in range(3)]))
    s = batch_structure(graph.structure, 3)
    assert s.num_nodes == 18 and s.num_edges == 3 * graph.structure.num_edges
    assert int(s.edge_index[:, graph.structure.num_edges:2 * graph.structure.num_edges].min()) == 6


def test_wind_units_and_schedules():
    assert float(km_per_hour(torch.tensor(1.0))) == pytest.approx(3.6)
    nan = float("nan")
    # one sample, three input steps, two stations; station 1 never observed
    wind_in = torch.tensor([[[[1.0, 0.0], [nan, nan]], [[3.0, 2.0], [nan, nan]], [[nan, nan], [nan, nan]]]])
    wind_out = torch.tensor([[[[nan, nan], [2.0, 0.0]], [[0.0, 4.0], [nan, nan]]]])
    filled = forward_fill(wind_in)
    torch.testing.assert_close(filled[0, 2], torch.tensor([[3.0, 2.0], [0.0, 0.0]]))
    torch.testing.assert_close(forecast_wind(wind_in, mode="last")[0, 0], 3.6 * torch.tensor([[3.0, 2.0], [0, 0]]))
    torch.testing.assert_close(forecast_wind(wind_in, mode="mean")[0, 0], 3.6 * torch.tensor([[2.0, 1.0], [0, 0]]))
    future = forecast_wind(wind_in, wind_out, mode="future")
    assert future.shape == (1, 2, 2, 2)
    torch.testing.assert_close(future[0], 3.6 * torch.tensor([[[3.0, 2.0], [2.0, 0.0]], [[0.0, 4.0], [2.0, 0.0]]]))
    with pytest.raises(ValueError, match="unknown wind mode 'gusty'; valid names: last, mean, future"):
        forecast_wind(wind_in, mode="gusty")
    with pytest.raises(ValueError, match="needs the observed output winds"):
        forecast_wind(wind_in, mode="future")
    with pytest.raises(ValueError, match=r"wind_in must have shape \(B, T, \|V\|, 2\)"):
        forecast_wind(wind_in[..., 0])


def test_physics_graph_validation():
    graph = line_graph(4)
    ei = graph.structure.edge_index
    with pytest.raises(ValueError, match="self-loops"):
        physics_graph(torch.cat([ei, torch.tensor([[1], [1]])], 1), None, graph.pos_km)
    with pytest.raises(ValueError, match="not symmetric"):
        physics_graph(ei[:, :3], None, graph.pos_km)
    with pytest.raises(ValueError, match=r"edge_weight must have shape \(6,\), got \(5,\)"):
        physics_graph(ei, torch.ones(5), graph.pos_km)
    with pytest.raises(ValueError, match=r"pos_km must have shape \(\*, 2\)"):
        physics_graph(ei, None, graph.pos_km[:, :1])


def old_interval(t: float, interval: float, count: int) -> int:
    """The interval index as it was computed before, on the host: ceil(float(t) / interval - 1e-6) - 1, clamped."""
    return min(max(int(math.ceil(float(t) / interval - 1e-6)) - 1, 0), count - 1)


def test_advection_schedule_picks_the_interval_of_t_on_the_device(monkeypatch):
    graph = line_graph(5)
    wind = torch.randn(2, 4, 5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ops = advection_operators(graph, km_per_hour(wind))
    schedule = AdvectionSchedule(ops, 3.0)
    just_past = torch.nextafter(torch.tensor(3.0, dtype=torch.float32), torch.tensor(4.0)).item()
    times = [-1.0, 0.0, 1.0, 2.9999, 3.0, 3.0 + 1e-6, just_past, 3.1, 4.5, 6.0, 7.5, 9.0, 9.5, 12.0, 30.0]
    for dtype in (torch.float32, torch.float64):
        for t in times:
            t = torch.tensor(t, dtype=dtype)
            expected = ops[old_interval(t, 3.0, len(ops))]
            assert torch.equal(schedule.at(t).values, expected.values), float(t)    # the same operator, bit for bit
    assert schedule.at(torch.tensor(4.5)).pattern is ops[0].pattern
    assert AdvectionSchedule(ops[:1], 3.0).at(torch.tensor(7.0)) is ops[0]          # held wind: nothing to pick

    def host_sync(*args):
        raise AssertionError("the vector field read a tensor on the host")

    func = transport_only(diffusion=True)
    field = func.bind(station_laplacian(graph), ops, 3.0)
    z = torch.rand(2, 5, 1, dtype=torch.float64)
    reference = [field(torch.tensor(t, dtype=torch.float64), z) for t in (1.0, 4.5, 11.0)]
    for name in ("__float__", "__int__", "__bool__", "__index__", "item", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, host_sync)
    with torch.no_grad():
        results = [field(torch.tensor(t, dtype=torch.float64), z) for t in (1.0, 4.5, 11.0)]
    monkeypatch.undo()
    for result, expected in zip(results, reference):
        torch.testing.assert_close(result, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="at least one operator"):
        AdvectionSchedule([], 3.0)
    with pytest.raises(ValueError, match=r"interval must be a finite number in \(0.0, inf\], got 0"):
        AdvectionSchedule(ops, 0)
