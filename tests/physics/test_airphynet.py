"""AirPhyNet latent ODE and baselines: shapes, NFE, trainable physics, determinism, registry, input errors."""
import pytest
import torch

import sheafgraph.physics.airphynet as airphynet_module
from sheafgraph.physics.odefunc import clock_features
from sheafgraph.physics import (VARIANTS, AdvectionDiffusionODE, AirPhyNet, BoundField, Forecaster, GRUForecaster,
                                HistoricalAverage, Persistence, advection_operators, physics_graph, station_laplacian)
from sheafgraph.utils import seed_everything

B, T_IN, T_OUT, N, C = 3, 5, 4, 6, 4
HOUR = torch.tensor([0.0, 7.5, 19.0])             # clock hour at each sample's forecast origin


def ring_graph(n=N, dtype=torch.float32):
    """n stations on a 20 km circle, each linked to its two neighbours."""
    angle = torch.arange(n, dtype=torch.float64) * 2 * torch.pi / n
    pos = 20.0 * torch.stack([angle.cos(), angle.sin()], 1)
    src = torch.arange(n)
    edge_index = torch.cat([torch.stack([src, (src + 1) % n]), torch.stack([(src + 1) % n, src])], 1)
    return physics_graph(edge_index, torch.full((2 * n,), 0.6), pos, dtype=dtype)


def batch(seed=0, missing=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T_IN, N, C, generator=g)
    mask = torch.rand(B, T_IN, N, C, generator=g) > (0.2 if missing else -1.0)
    x = torch.where(mask, x, float("nan"))
    wind_in = 4 * torch.randn(B, T_IN, N, 2, generator=g)
    wind_out = 4 * torch.randn(B, T_OUT, N, 2, generator=g)
    return x, mask, wind_in, wind_out


def model(variant="diff_adv", **kw):
    kw = {"hidden_dim": 16, "latent_dim": 8, "ode_hidden_dim": 8, "method": "rk4", "step_size": 3.0, **kw}
    return AirPhyNet(C, T_OUT, variant=variant, **kw)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shapes_nfe_and_finite_outputs(variant):
    x, mask, wind_in, wind_out = batch()
    out = model(variant).eval()(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in)
    assert out.mean.shape == (B, T_OUT, N)
    assert bool(torch.isfinite(out.mean).all()) and out.kl.dim() == 0 and float(out.kl.detach()) >= 0
    assert out.nfe == 4 * T_OUT                  # rk4 (4 evaluations per step), one 3-hour step per output step
    assert model(variant, step_size=1.5).eval()(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in).nfe == 8 * T_OUT
    adaptive = model(variant, method="dopri5").eval()(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in)
    assert adaptive.nfe >= 6 and adaptive.mean.shape == (B, T_OUT, N)


def test_physics_parameters_receive_gradients_and_train():
    x, mask, wind_in, wind_out = batch()
    net = model("diff_adv", wind_mode="future")
    func = net.func
    physics = {"raw_k": func.raw_k, "diffusion_gate": func.diffusion_gate, "raw_alpha": func.raw_alpha,
               "advection_gate": func.advection_gate}
    before = {name: p.detach().clone() for name, p in physics.items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    out = net(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in, wind_out=wind_out,
              generator=torch.Generator().manual_seed(0))
    (out.mean.square().mean() + 1e-3 * out.kl).backward()
    for name, p in physics.items():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), f"{name} got no gradient"
    opt.step()
    for name, p in physics.items():
        assert not torch.equal(p.detach(), before[name]), f"{name} did not change"
    assert float(func.k.detach()) > 0 and float(func.alpha.detach()) > 0
    # the vector field is one persistent module: the same object is integrated on every call
    assert net.func is func and sum(1 for m in net.modules() if m is func) == 1


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_station_permutation_equivariance(variant):
    x, mask, wind_in, wind_out = batch()
    graph, perm = ring_graph(dtype=torch.float64), torch.tensor([3, 0, 5, 1, 4, 2])
    inverse = torch.argsort(perm)                     # new index of old station i
    permuted = physics_graph(inverse[graph.structure.edge_index], graph.edge_weight, graph.pos_km[perm],
                             dtype=torch.float64)
    net = model(variant, wind_mode="future", clock=True, readout=True).double().eval()
    args = [t.double() if t.is_floating_point() else t for t in (x, mask, wind_in, wind_out)]
    out = net(args[0], args[1], graph=graph, hour=HOUR, wind_in=args[2], wind_out=args[3]).mean
    out_p = net(*(t[:, :, perm] for t in args[:2]), graph=permuted, hour=HOUR, wind_in=args[2][:, :, perm],
                wind_out=args[3][:, :, perm]).mean
    torch.testing.assert_close(out_p, out[:, :, perm])


def test_clock_forcing():
    torch.testing.assert_close(clock_features(torch.tensor([0.0, 6.0, 30.0])),
                               torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]), atol=1e-6, rtol=0)
    x, mask, wind_in, _ = batch()
    graph, graph64 = ring_graph(), ring_graph(dtype=torch.float64)
    for variant in VARIANTS:
        net = model(variant, clock=True).double().eval()
        xd, wd = x.double(), wind_in.double()
        out = net(xd, mask, graph=graph64, hour=HOUR, wind_in=wd).mean
        torch.testing.assert_close(net(xd, mask, graph=graph64, hour=HOUR + 24, wind_in=wd).mean, out)  # period 1 day
        assert not torch.allclose(net(xd, mask, graph=graph64, hour=HOUR + 12, wind_in=wd).mean, out)
        plain = model(variant).eval()
        assert plain.func.lin_clock is None and plain.decoder_clock is None
        torch.testing.assert_close(plain(x, mask, graph=graph, wind_in=wind_in).mean,
                                   plain(x, mask, graph=graph, hour=HOUR + 12, wind_in=wind_in).mean)
    with pytest.raises(ValueError, match=r"needs hour \(B,\)"):
        model(clock=True)(x, mask, graph=graph, wind_in=wind_in)
    with pytest.raises(ValueError, match=r"hour must be \(3,\) finite clock hours, got shape \(2,\)"):
        model(clock=True)(x, mask, graph=graph, wind_in=wind_in, hour=HOUR[:2])
    with pytest.raises(ValueError, match="pass origin_hour"):
        AdvectionDiffusionODE(8, advection=False, clock=True).bind(station_laplacian(graph))


def test_lead_time_readout():
    x, mask, wind_in, _ = batch()
    graph = ring_graph()
    net = model(readout=True).eval()
    assert torch.equal(net.readout.weight, torch.zeros_like(net.readout.weight))
    before = net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in).mean
    with torch.no_grad():
        net.readout.bias.copy_(torch.arange(1.0, T_OUT + 1))
    after = net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in).mean
    torch.testing.assert_close(after - before, torch.arange(1.0, T_OUT + 1).view(1, T_OUT, 1).expand_as(before))
    out = net.train()(x, mask, graph=graph, hour=HOUR, wind_in=wind_in, generator=torch.Generator().manual_seed(0))
    out.mean.square().mean().backward()
    assert bool(net.readout.weight.grad.abs().sum() > 0)
    assert model().readout is None


def test_dropout_acts_only_while_training():
    x, mask, wind_in, _ = batch()
    graph = ring_graph()
    seed_everything(0)
    net = model(dropout=0.5, readout=True)
    seed_everything(0)
    plain = model(readout=True)
    assert torch.equal(net.state_dict()["decoder.2.weight"], plain.state_dict()["decoder.2.weight"])
    net.eval(), plain.eval()
    torch.testing.assert_close(net(x, mask, graph=graph, wind_in=wind_in).mean,
                               plain(x, mask, graph=graph, wind_in=wind_in).mean)
    net.train(), plain.train()
    runs = []
    for module in (net, net, plain):
        torch.manual_seed(1)                     # dropout masks come from the global generator
        runs.append(module(x, mask, graph=graph, wind_in=wind_in, generator=torch.Generator().manual_seed(0)).mean)
    torch.testing.assert_close(runs[0], runs[1])                 # same masks, same forecast
    assert not torch.allclose(runs[0], runs[2], atol=1e-3)       # the masks change the training forecast
    with pytest.raises(ValueError, match=r"dropout must be a finite number in \[0.0, 1.0\), got 1.0"):
        model(dropout=1.0)


def test_variants_hold_only_their_terms():
    for variant, (diffusion, advection) in VARIANTS.items():
        func = model(variant).func
        assert (func.raw_k is not None) == diffusion and (func.raw_alpha is not None) == advection
        assert (func.k is not None) == diffusion and (func.alpha is not None) == advection


def test_wind_modes_change_the_forecast_only_through_advection():
    x, mask, wind_in, wind_out = batch()
    graph = ring_graph()
    for variant, differs in (("diff_adv", True), ("diff", False)):
        torch.manual_seed(0)
        net = model(variant, wind_mode="future").eval()
        a = net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in, wind_out=wind_out).mean
        b = net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in, wind_out=-wind_out).mean
        assert (not torch.allclose(a, b)) == differs


def test_deterministic_under_seed():
    x, mask, wind_in, wind_out = batch()
    outs = []
    for _ in range(2):
        g = seed_everything(7)
        net = model("diff_adv").train()
        outs.append(net(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in, generator=g).mean)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    g = seed_everything(8)
    other = model("diff_adv").train()(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in, generator=g).mean
    assert not torch.allclose(outs[0], other)
    # evaluation uses the latent mean: repeated calls agree exactly
    net = model("diff_adv").eval()
    torch.testing.assert_close(net(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in).mean,
                               net(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in).mean, rtol=0, atol=0)


@pytest.mark.parametrize("options", [{}, {"clock": True, "readout": True, "wind_mode": "future"}])
def test_sampled_trajectories(options):
    x, mask, wind_in, wind_out = batch()
    graph = ring_graph()
    net = model("diff_adv", **options).eval()
    data = dict(graph=graph, hour=HOUR, wind_in=wind_in, wind_out=wind_out)
    if options:
        with torch.no_grad():
            net.readout.bias.copy_(torch.arange(1.0, T_OUT + 1))
    point = net(x, mask, **data)
    assert point.samples is None
    out = net(x, mask, samples=5, generator=torch.Generator().manual_seed(0), **data)
    assert out.samples.shape == (5, B, T_OUT, N) and bool(torch.isfinite(out.samples).all())
    torch.testing.assert_close(out.mean, point.mean, rtol=0, atol=0)     # the point forecast is unchanged
    assert out.nfe == 2 * 4 * T_OUT                                       # one more rk4 integration, batched
    again = net(x, mask, samples=5, generator=torch.Generator().manual_seed(0), **data)
    torch.testing.assert_close(again.samples, out.samples, rtol=0, atol=0)            # reproducible under a seed
    other = net(x, mask, samples=5, generator=torch.Generator().manual_seed(1), **data)
    assert not torch.allclose(other.samples, out.samples)
    spread = (out.samples - out.samples.mean(0)).abs().amax(dim=(1, 2, 3))
    assert bool((spread > 1e-4).all())                                    # the K trajectories differ
    # sample k of window b is the trajectory from mu + sigma * eps_k: with sigma -> 0 they all collapse onto the mean
    with torch.no_grad():
        net.to_latent.bias[net.to_latent.out_features // 2:] = -60.0
        net.to_latent.weight[net.to_latent.out_features // 2:] = 0.0
    collapsed = net(x, mask, samples=3, generator=torch.Generator().manual_seed(0), **data)
    torch.testing.assert_close(collapsed.samples, collapsed.mean.expand(3, -1, -1, -1), rtol=1e-5, atol=1e-5)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="samples must be a non-negative int"):
            net(x, mask, samples=bad, **data)


def test_missing_inputs_are_masked_not_propagated():
    x, mask, wind_in, _ = batch()
    net = model("diff_adv").eval()
    out = net(x, mask, graph=ring_graph(), hour=HOUR, wind_in=torch.where(wind_in > 6, float("nan"), wind_in))
    assert bool(torch.isfinite(out.mean).all())
    changed = torch.where(mask, x, 1e6)                   # values behind the mask must not matter
    torch.testing.assert_close(net(changed, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in).mean,
                               net(x, mask, graph=ring_graph(), hour=HOUR, wind_in=wind_in).mean)


def test_registry_and_docs_in_step():
    for name in VARIANTS:
        assert f"``{name}``" in airphynet_module.__doc__
    with pytest.raises(ValueError, match="unknown AirPhyNet variant 'physics'; valid names: diff, adv, "
                                         "diff_adv, nophy"):
        AirPhyNet(C, variant="physics")
    with pytest.raises(ValueError, match="unknown wind mode 'storm'"):
        AirPhyNet(C, wind_mode="storm")


def test_bad_inputs_give_clear_errors():
    x, mask, wind_in, wind_out = batch()
    net, graph = model(), ring_graph()
    with pytest.raises(ValueError, match=r"x must have shape \(B, T_in, \|V\|, C\), got \(3, 5, 6\)"):
        net(x[..., 0], mask[..., 0], graph=graph, hour=HOUR, wind_in=wind_in)
    with pytest.raises(ValueError, match="x has 3 channels but the model was built for in_channels=4"):
        net(x[..., :3], mask[..., :3], graph=graph, hour=HOUR, wind_in=wind_in)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        net(x, mask.float(), graph=graph, hour=HOUR, wind_in=wind_in)
    with pytest.raises(TypeError, match="x must be a floating torch.Tensor"):
        net(x.long(), mask, graph=graph, hour=HOUR, wind_in=wind_in)
    with pytest.raises(ValueError, match="x has 5 stations but the graph has 6 nodes"):
        net(x[:, :, :5], mask[:, :, :5], graph=graph, hour=HOUR, wind_in=wind_in[:, :, :5])
    with pytest.raises(TypeError, match="needs graph=PhysicsGraph"):
        net(x, mask, wind_in=wind_in)
    with pytest.raises(ValueError, match="needs wind_in"):
        net(x, mask, graph=graph, hour=HOUR)
    with pytest.raises(ValueError, match=r"wind_in \(3, 4, 6, 2\) does not match x"):
        net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in[:, 1:])
    with pytest.raises(ValueError, match="needs the observed output winds"):
        model(wind_mode="future")(x, mask, graph=graph, hour=HOUR, wind_in=wind_in)
    # no advection term: the wind is not needed
    assert model("diff").eval()(x, mask, graph=graph, hour=HOUR).mean.shape == (B, T_OUT, N)


def test_baselines():
    x, mask, _, _ = batch(missing=False)
    mask[0, -2:, 1, 0] = False                       # station 1 of sample 0: last two targets missing
    mask[1, :, 2, 0] = False                         # station 2 of sample 1: never observed
    x = torch.where(mask, x, float("nan"))
    p = Persistence(T_OUT)(x, mask).mean
    assert p.shape == (B, T_OUT, N) and Persistence(T_OUT)(x, mask, samples=3).samples is None
    assert float(p[0, 2, 1]) == float(x[0, -3, 1, 0]) and float(p[2, 0, 4]) == float(x[2, -1, 4, 0])
    assert float(p[1, 0, 2]) == 0.0

    gru = GRUForecaster(C, T_OUT, hidden_dim=8)(x, mask).mean
    assert gru.shape == (B, T_OUT, N) and bool(torch.isfinite(gru).all())
    _, _, wind_in, wind_out = batch()
    informed = GRUForecaster(C, T_OUT, hidden_dim=8, future_wind=True)
    a = informed(x, mask, wind_in=wind_in, wind_out=wind_out).mean
    b = informed(x, mask, wind_in=wind_in, wind_out=wind_out.flip(1)).mean
    assert a.shape == (B, T_OUT, N) and not torch.allclose(a, b)          # the future wind is read
    with pytest.raises(ValueError, match="needs wind_in and wind_out"):
        informed(x, mask, wind_in=wind_in)
    with pytest.raises(ValueError, match="wind_out has 3 steps, the model forecasts 4"):
        informed(x, mask, wind_in=wind_in, wind_out=wind_out[:, :3])

    # historical average: 48 hourly steps, hour-of-day mean over the first 24 training steps
    target = torch.arange(48.0).view(48, 1).repeat(1, N)
    obs = torch.ones(48, N, dtype=torch.bool)
    obs[5, 0] = False                                 # hour 5 at station 0 unobserved in training
    hour = torch.arange(48) % 24
    ha = HistoricalAverage(target, obs, hour, slice(0, 24), output_steps=T_OUT)
    out = ha(x[:1], mask[:1], start=torch.tensor([10])).mean                # forecast steps 15..18
    torch.testing.assert_close(out[0, :, 1], torch.tensor([15.0, 16.0, 17.0, 18.0]))
    ha2 = HistoricalAverage(target, obs, hour, slice(0, 24), output_steps=1)
    station_mean = float(torch.cat([torch.arange(5.0), torch.arange(6.0, 24.0)]).mean())
    assert float(ha2(x[:1, :1], mask[:1, :1], start=torch.tensor([28])).mean[0, 0, 0]) == pytest.approx(station_mean)
    with pytest.raises(ValueError, match="needs start"):
        ha(x, mask)
    with pytest.raises(ValueError, match="outside the series of 48 steps"):
        ha(x[:1], mask[:1], start=torch.tensor([45]))


def test_graph_network_time_scale():
    graph = ring_graph()
    z = torch.randn(2, N, 8, generator=torch.Generator().manual_seed(3))
    fast = AdvectionDiffusionODE(8, 8, diffusion=False, advection=False, time_scale=1.0)
    slow = AdvectionDiffusionODE(8, 8, diffusion=False, advection=False, time_scale=24.0)
    slow.load_state_dict(fast.state_dict())
    bound_fast, bound_slow = (f.bind(station_laplacian(graph)) for f in (fast, slow))
    torch.testing.assert_close(bound_fast(torch.tensor(0.0), z), 24.0 * bound_slow(torch.tensor(0.0), z))
    assert bound_fast.nfe == 1 and bound_slow.nfe == 1
    with pytest.raises(ValueError, match=r"time_scale must be a finite number in \(0.0, inf\], got 0"):
        AdvectionDiffusionODE(8, time_scale=0)
    with pytest.raises(ValueError, match="advection term: pass at least one advection operator"):
        AdvectionDiffusionODE(8).bind(station_laplacian(graph))
    with pytest.raises(TypeError, match="operators"):
        AdvectionDiffusionODE(8)(torch.tensor(0.0), z)                # the operators come with every call


def every_forecaster():
    """One of each forecaster, with what its call needs."""
    target, obs, hour = torch.zeros(48, N), torch.ones(48, N, dtype=torch.bool), torch.arange(48) % 24
    return [model("diff_adv", clock=True), GRUForecaster(C, T_OUT, hidden_dim=8), Persistence(T_OUT),
            HistoricalAverage(target, obs, hour, slice(0, 24), output_steps=T_OUT)]


def test_one_explicit_call_for_every_forecaster_and_unknown_keywords_are_errors():
    x, mask, wind_in, wind_out = batch()
    data = dict(graph=ring_graph(), wind_in=wind_in, wind_out=wind_out, start=torch.tensor([0, 1, 2]), hour=HOUR,
                samples=0, generator=torch.Generator().manual_seed(0))
    for net in every_forecaster():
        assert isinstance(net, Forecaster)
        assert net.eval()(x, mask, **data).mean.shape == (B, T_OUT, N)        # the same call serves every model
        with pytest.raises(TypeError, match="unexpected keyword argument 'wnd_in'"):
            net(x, mask, **{**data, "wnd_in": wind_in})                       # a misspelling is not dropped
        with pytest.raises(ValueError, match="samples must be a non-negative int, got -1"):
            net(x, mask, **{**data, "samples": -1})


def test_nan_observed_input_is_refused_and_masked_nan_is_missing():
    x, mask, wind_in, wind_out = batch()
    data = dict(graph=ring_graph(), wind_in=wind_in, wind_out=wind_out, start=torch.tensor([0, 1, 2]), hour=HOUR)
    bad = x.clone()
    position = mask.nonzero()[5]
    bad[tuple(position)] = float("nan")                                          # NaN where the mask says observed
    for net in every_forecaster():
        with pytest.raises(ValueError) as err:
            net.eval()(bad, mask, **data)
        assert str(err.value) == (f"x has 1 NaN or infinite value(s) where mask marks them observed (the first at "
                                  f"(b, t, station, channel) = {tuple(position.tolist())}); set mask False where a "
                                  "value is missing")
        hidden = mask.clone()
        hidden[tuple(position)] = False                                           # the same NaN, marked missing
        assert bool(torch.isfinite(net(bad, hidden, **data).mean).all())
    with pytest.raises(ValueError, match="x has 1 NaN or infinite"):
        model("diff").eval()(torch.where(mask, x, 0.0).index_put_(tuple(position), torch.tensor(float("inf"))),
                             mask, graph=ring_graph())


def test_vector_field_is_pure_per_call():
    """The field keeps no batch state: fields bound to different batches interleave without disturbing each other,
    and the model's forward leaves nothing on it."""
    x, mask, wind_in, wind_out = batch()
    graph, other = ring_graph(), ring_graph(dtype=torch.float32)._replace(edge_weight=torch.full((2 * N,), 0.1))
    net = model("diff_adv").eval()
    before = set(vars(net.func))
    point = net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in).mean
    assert set(vars(net.func)) == before                                         # forward stored nothing on it
    z = torch.randn(B, N, 8, generator=torch.Generator().manual_seed(1))
    velocity = 3.6 * wind_out
    first = net.func.bind(station_laplacian(graph), advection_operators(graph, velocity), 3.0)
    second = net.func.bind(station_laplacian(other), advection_operators(other, -velocity), 3.0)
    t = torch.tensor(4.5)
    with torch.no_grad():
        a = first(t, z)
        second(t, z)
        torch.testing.assert_close(first(t, z), a, rtol=0, atol=0)
    assert isinstance(first, BoundField) and first.nfe == 2 and second.nfe == 1 and first.field is net.func
    torch.testing.assert_close(net(x, mask, graph=graph, hour=HOUR, wind_in=wind_in).mean, point, rtol=0, atol=0)
