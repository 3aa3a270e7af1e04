"""cSBM generator: determinism, graph structure, homophily and feature signal against the model's formulas, splits,
spec strings, and a short nodecls run."""
import json
import math

import pytest
import torch

from sheafgraph.cli import main
from sheafgraph.data import csbm, load_node_dataset
from sheafgraph.data.csbm import parse_csbm_spec
from sheafgraph.metrics import edge_homophily


def model_rates(n, f, d, phi, eps):
    """(mu, c_in, c_out) written from the formulas of GPR-GNN (Chien et al., ICLR 2021), independently."""
    lam = math.sqrt(1 + eps) * math.sin(math.pi * phi / 2)
    mu = math.sqrt((n / f) * (1 + eps)) * math.cos(math.pi * phi / 2)
    return mu, d + lam * math.sqrt(d), d - lam * math.sqrt(d)


def test_deterministic_under_seed_and_global_rng_untouched():
    state = torch.get_rng_state()
    a, b = csbm(300, 8, 4.0, 0.3, seed=7, num_splits=3), csbm(300, 8, 4.0, 0.3, seed=7, num_splits=3)
    assert torch.equal(torch.get_rng_state(), state)
    for key in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(a[key], b[key]), key
    c = csbm(300, 8, 4.0, 0.3, seed=8, num_splits=3)
    assert not torch.equal(a.x, c.x) and not torch.equal(a.y, c.y)
    assert a.edge_index.shape != c.edge_index.shape or not torch.equal(a.edge_index, c.edge_index)
    assert not torch.equal(a.train_mask, c.train_mask)


def test_structure_and_dtypes():
    n = 501
    data = csbm(n, 16, 6.0, -0.5, num_splits=2)
    ei = data.edge_index
    assert data.x.shape == (n, 16) and data.x.dtype == torch.float32
    assert data.y.shape == (n,) and data.y.dtype == torch.long and int(data.y.sum()) == n - n // 2
    assert ei.dtype == torch.long and ei.shape[0] == 2 and ei.min() >= 0 and ei.max() < n
    assert (ei[0] != ei[1]).all()
    key, reverse_key = ei[0] * n + ei[1], ei[1] * n + ei[0]
    assert (key[1:] > key[:-1]).all()  # sorted by (row, column), no duplicates
    assert torch.equal(reverse_key.sort().values, key)  # every edge has its reverse
    assert data.num_classes == 2 and data.metric == "accuracy" and data.num_nodes == n
    assert data.name == "csbm(n=501,f=16,d=6,phi=-0.5,eps=3.25,seed=0)"
    assert data.x.min() < 0  # Gaussian features, not row-normalised


@pytest.mark.parametrize("phi", [-1.0, -0.5, 0.0, 0.5, 1.0])
def test_edge_homophily_and_degree_match_the_model(phi):
    n, d = 4000, 5.0
    data = csbm(n, 4, d, phi, seed=1, num_splits=1)
    _, c_in, c_out = model_rates(n, 4, d, phi, 3.25)
    within, across = 2 * math.comb(n // 2, 2), (n // 2) ** 2
    expected_edges = within * c_in / n + across * c_out / n
    expected_h = within * c_in / (within * c_in + across * c_out)
    pairs = data.edge_index.size(1) / 2
    assert abs(pairs - expected_edges) < 4 * math.sqrt(expected_edges)  # Poisson-binomial s.e. ~ sqrt(mean)
    se = math.sqrt(expected_h * (1 - expected_h) / pairs)
    assert abs(edge_homophily(data.edge_index, data.y) - expected_h) < 4 * se + 1e-3, (phi, expected_h)


@pytest.mark.parametrize("phi", [0.0, 1.0])
def test_class_means_point_along_plus_and_minus_u(phi):
    # E[x_i | v_i] = sqrt(mu/n) v_i u, |u|^2 ~ 1 +- sqrt(2/F); class means carry noise of squared norm ~ 1/n_k
    n, f = 2000, 500
    data = csbm(n, f, 5.0, phi, seed=2, num_splits=1)
    mu, _, _ = model_rates(n, f, 5.0, phi, 3.25)
    m1, m0 = data.x[data.y == 1].mean(0).double(), data.x[data.y == 0].mean(0).double()
    signal = n / 4 * float((m1 - m0).square().sum()) - 1  # estimates mu |u|^2
    noise = n / 4 * float((m1 + m0).square().sum())  # the means cancel: pure noise, ~ 1
    assert abs(noise - 1) < 0.4
    assert abs(signal - mu) < 0.25 * mu + 0.4, (signal, mu)
    if phi == 0.0:  # mu = sqrt(n/F (1 + eps)) ~ 4.1: opposite directions, cos ~ -mu / (mu + 2)
        cos = float(m1 @ m0 / (m1.norm() * m0.norm()))
        assert cos < -0.5 and abs(cos + mu / (mu + 2)) < 0.15
    centred = data.x - torch.where(data.y[:, None] == 1, m1.float(), m0.float())
    assert abs(float(centred.var()) * f - 1) < 0.02  # Z_i / sqrt(F)


def test_masks_disjoint_with_the_requested_fractions():
    n = 1000
    data = csbm(n, 4, 4.0, 0.0, num_splits=4, train=0.5, val=0.3)
    train, val, test = data.train_mask, data.val_mask, data.test_mask
    for mask in (train, val, test):
        assert mask.shape == (n, 4) and mask.dtype == torch.bool
    assert train.sum(0).tolist() == [500] * 4 and val.sum(0).tolist() == [300] * 4 and test.sum(0).tolist() == [200] * 4
    assert (train.int() + val.int() + test.int() == 1).all()  # disjoint, covering
    assert not torch.equal(train[:, 0], train[:, 1])  # a new permutation per split
    default = csbm(400, 4, 4.0, 0.0, num_splits=1)
    assert [int(m.sum()) for m in (default.train_mask, default.val_mask, default.test_mask)] == [240, 80, 80]


def test_spec_strings():
    spec = "csbm:n=300,f=8,d=4,phi=0.25,eps=1,seed=3,splits=2"
    assert parse_csbm_spec(spec) == dict(num_nodes=300, num_features=8, avg_degree=4.0, phi=0.25, epsilon=1.0, seed=3,
                                         num_splits=2)
    assert parse_csbm_spec("csbm") == {} and parse_csbm_spec(" CSBM:N=10, Epsilon=0 ") == dict(num_nodes=10,
                                                                                             epsilon=0.0)
    data, direct = load_node_dataset(spec, root="/nowhere"), csbm(300, 8, 4.0, 0.25, 1.0, 3, 2)
    assert torch.equal(data.x, direct.x) and torch.equal(data.edge_index, direct.edge_index)
    assert data.train_mask.shape == (300, 2) and data.name == direct.name
    keys = "valid keys: n, f, d, phi, eps, epsilon, seed, splits"
    for bad, message in (("csbm:n=10,k=3", "unknown key 'k'; " + keys), ("csbm:n=ten", "n='ten' is not an int; "),
                         ("csbm:d=x", "d='x' is not a number"), ("csbm:n", "item 'n' is not key=value"),
                         ("csbm:phi=1.5", r"phi must be a finite number in \[-1.0, 1.0\], got 1.5; " + keys),
                         ("csbm:n=1", "n must be an int >= 2, got 1"), ("csbm:eps=1,epsilon=2", "epsilon given twice"),
                         ("csbm:", "not a cSBM name")):
        with pytest.raises(ValueError, match=message):
            load_node_dataset(bad)
    with pytest.raises(ValueError, match=r"valid names: actor, .*, or a generated graph csbm:key=value"):
        load_node_dataset("pubmed")


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"phi must be a finite number in \[-1.0, 1.0\]"):
        csbm(100, 4, phi=-1.5)
    with pytest.raises(ValueError, match=r"c_out = -1.06, .* raise avg_degree or lower \|phi\| or epsilon"):
        csbm(100, 4, avg_degree=1.0, phi=1.0)
    with pytest.raises(ValueError, match=r"max\(c_in, c_out\) / n = .* exceeds 1"):
        csbm(4, 4, avg_degree=5.0, phi=0.0)
    with pytest.raises(ValueError, match="each split needs at least one of both"):
        csbm(100, 4, train=0.6, val=0.4)
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        csbm(100, 0)


def test_nodecls_cli_on_a_small_csbm_graph(tmp_path, capsys):
    path = tmp_path / "csbm.json"
    code = main(["nodecls", "--dataset", "csbm:n=400,f=16,d=10,phi=0.5,splits=1", "--model", "diag", "--folds", "1",
                 "--epochs", "20", "--no-progress", "--json", str(path)])
    assert code == 0
    assert "csbm(n=400,f=16,d=10,phi=0.5,eps=3.25,seed=0): 400 nodes" in capsys.readouterr().out
    result = json.loads(path.read_text())
    assert len(result["folds"]) == 1 and result["summary"]["mean"] > 0.7  # 0.89 measured; chance is 0.5
