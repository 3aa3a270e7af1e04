import pytest
import torch

from sheafgraph.ops import GraphStructure, graph_laplacian, sheaf_laplacian
from sheafgraph.sheaf import NSD, NSD_MODELS, ContinuousNSD, build_nsd, dirichlet_energy
from sheafgraph.utils import load_checkpoint, save_checkpoint, seed_everything
from tests.conftest import random_undirected_graph

OPTIONS = dict(hidden_channels=4, d=2, extra_stalks=("signless",))


def small_model(name, **kw):
    extra = {} if name.endswith("_ode") else {"num_layers": 2}
    if name.endswith("_ode"):
        extra.update(method="rk4", step_size=0.5)
    return build_nsd(name, 6, 3, **OPTIONS, **extra, **kw)


def test_registry_names_and_errors():
    assert NSD_MODELS == ("diag", "bundle", "general", "diag_ode", "bundle_ode", "general_ode")
    assert isinstance(build_nsd("bundle", 6, 3), NSD) and isinstance(build_nsd("diag_ode", 6, 3), ContinuousNSD)
    assert build_nsd("bundle", 6, 3).convs[0].term.weight_learner is not None          # NSD's default
    assert build_nsd("bundle", 6, 3, edge_weights=False).convs[0].term.weight_learner is None
    with pytest.raises(ValueError, match="diag, bundle, general, diag_ode, bundle_ode, general_ode"):
        build_nsd("sheafnet", 6, 3)
    with pytest.raises(ValueError, match="fixes"):
        build_nsd("diag", 6, 3, maps="general")
    with pytest.raises(ValueError, match="num_layers"):
        build_nsd("diag", 6, 3, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        build_nsd("diag", 6, 3, dropout=1.5)


@pytest.mark.parametrize("name", NSD_MODELS)
def test_permutation_equivariance_and_shapes(name):
    seed_everything(0)
    n = 12
    ei = random_undirected_graph(n, 20, seed=1)
    model = small_model(name).eval()
    x = torch.randn(n, 6)
    perm = torch.randperm(n)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = model(x, ei)
    assert out.shape == (n, 3)
    torch.testing.assert_close(model(x[perm], inv[ei]), out[perm], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NSD_MODELS)
def test_streamed_sheaf_equals_the_whole_graph_sheaf(name):
    seed_everything(3)
    n = 15
    ei = random_undirected_graph(n, 30, isolated=2, seed=3)
    model = small_model(name).double().eval()
    x = torch.randn(n, 6, dtype=torch.float64)
    with torch.no_grad():
        whole = model(x, ei)
        for chunk in (1, 7, 10_000):                                  # 7 does not divide the 60 directed edges
            torch.testing.assert_close(model(x, ei, edge_chunk=chunk), whole)


@pytest.mark.parametrize("name", ["diag", "bundle", "general", "bundle_ode"])
def test_gradcheck_whole_model(name):
    seed_everything(1)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    model = small_model(name).double().eval()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x, ei), (x,))


def test_determinism_under_seed_and_save_load_round_trip(tmp_path):
    ei = random_undirected_graph(10, 16, seed=2)
    x = torch.randn(10, 6)
    outs = []
    for _ in range(2):
        seed_everything(7)
        model = small_model("bundle", dropout=0.3).train()
        outs.append(model(x, ei))                  # dropout draws come from the seeded generator too
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)

    model.eval()
    path = save_checkpoint({"state_dict": model.state_dict()}, tmp_path / "nsd.pt")
    seed_everything(8)
    fresh = small_model("bundle", dropout=0.3).eval()
    assert not torch.equal(fresh(x, ei), model(x, ei))
    fresh.load_state_dict(load_checkpoint(path)["state_dict"])
    torch.testing.assert_close(fresh(x, ei), model(x, ei), rtol=0, atol=0)


def test_parameter_groups_partition_the_parameters():
    model = small_model("bundle")
    sheaf = list(model.sheaf_parameters())
    other = list(model.other_parameters())
    assert len(sheaf) == 2 * 2                      # map learner + edge-weight learner per layer
    ids = [id(p) for p in sheaf + other]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_structure_built_once_and_cached():
    ei = random_undirected_graph(10, 16, seed=3)
    x = torch.randn(10, 6)
    model = small_model("diag", cached=True).eval()
    out = model(x, ei)
    s = model.structure(x, ei)
    assert model.structure(x, ei) is s
    torch.testing.assert_close(model(x, GraphStructure(ei, 10)), out)
    with pytest.raises(ValueError, match="12 rows"):
        model(torch.randn(12, 6), GraphStructure(ei, 10))
    with pytest.raises(ValueError, match=r"\(\|V\|, 6\)"):
        model(torch.randn(10, 5), ei)


def test_continuous_adjoint_matches_direct_backprop():
    seed_everything(3)
    ei = random_undirected_graph(8, 12, seed=4)
    x = torch.randn(8, 6, dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        seed_everything(4)
        model = build_nsd("diag_ode", 6, 3, **OPTIONS, method="rk4", step_size=0.1, adjoint=adjoint).double()
        model(x, ei).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        assert model.last_nfe > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-6)   # adjoint ODE: O(h⁴) apart


def test_continuous_time_must_be_positive():
    with pytest.raises(ValueError, match="time"):
        build_nsd("diag_ode", 6, 3, time=0.0)


def test_dirichlet_energy_matches_edge_sum_and_normalisation():
    torch.manual_seed(5)
    n, d = 9, 2
    ei = random_undirected_graph(n, 14, seed=6)
    maps = torch.randn(ei.size(1), d, d, dtype=torch.float64)
    x = torch.randn(n, d, 3, dtype=torch.float64)
    rev = {(i, j): e for e, (i, j) in enumerate(ei.t().tolist())}
    # each undirected edge once: ||F_i x_i - F_j x_j||² over channels
    expected = sum(((maps[e] @ x[i]) - (maps[rev[(j, i)]] @ x[j])).square().sum()
                   for e, (i, j) in enumerate(ei.t().tolist()) if i < j)
    L = sheaf_laplacian(ei, maps, n)
    torch.testing.assert_close(dirichlet_energy(x, L), expected)
    torch.testing.assert_close(dirichlet_energy(x.reshape(n * d, 3), L.to_dense()), expected)
    q = dirichlet_energy(x, sheaf_laplacian(ei, maps, n, normalization="sym"), normalized=True)
    assert 0 <= float(q) <= 2
    ones = torch.ones(n, 1)
    assert float(dirichlet_energy(ones, graph_laplacian(ei, num_nodes=n))) == pytest.approx(0.0, abs=1e-6)
    assert float(dirichlet_energy(torch.zeros(n, 1), graph_laplacian(ei, num_nodes=n), normalized=True)) == 0.0
    with pytest.raises(ValueError, match="does not match"):
        dirichlet_energy(torch.randn(n + 1, 1), graph_laplacian(ei, num_nodes=n))


def test_docs_list_every_registered_name():
    import sheafgraph.sheaf.orthogonal as orthogonal
    import sheafgraph.sheaf.stalks as stalks
    from sheafgraph.sheaf import FIXED_STALKS, ORTHOGONAL_MAPS
    for name in NSD_MODELS:
        assert f'"{name.removesuffix("_ode")}"' in build_nsd.__doc__
        assert not name.endswith("_ode") or '"*_ode"' in build_nsd.__doc__
    for name in ORTHOGONAL_MAPS:
        assert f'``"{name}"``' in orthogonal.__doc__
    for name in FIXED_STALKS:
        assert f'``"{name}"``' in stalks.__doc__


@pytest.mark.slow
def test_general_nsd_on_200k_nodes_runs_the_chunked_sym_normalisation(monkeypatch):
    # 200k diagonal blocks are beyond one batched cuSOLVER eigh (fails above ~32k on a GPU); on CPU the same path
    # runs in chunks of EIGH_CHUNK = 32768, forward and backward, and every gradient stays finite
    calls = []
    eigh = torch.linalg.eigh
    monkeypatch.setattr(torch.linalg, "eigh", lambda m: calls.append(m.size(0)) or eigh(m))
    seed_everything(0)
    n = 200_000
    ei = random_undirected_graph(n, 2 * n, isolated=10, seed=3)
    model = build_nsd("general", 4, 3, hidden_channels=2, d=2, num_layers=1)
    out = model(torch.randn(n, 4), ei)
    out.logsumexp(1).mean().backward()
    assert out.shape == (n, 3) and torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert len(calls) == 7 and max(calls) == 32768 and sum(calls) == n
