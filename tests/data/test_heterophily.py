"""Node-classification loaders on the real files: shipped WebKB sets from datasets/, the rest from ../shared/data."""
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sheafgraph.data import heterophily
from sheafgraph.data.heterophily import load_node_dataset, node_dataset_names
from sheafgraph.data.paths import DATASETS_DIR
from sheafgraph.metrics import edge_homophily

SHIPPED = DATASETS_DIR / "heterophily"

# Raw edge file of each Geom-GCN graph, to count the self-loops the loader drops.
RAW_EDGES = {
    "texas": "new_data/texas", "wisconsin": "new_data/wisconsin", "cornell": "new_data/cornell",
    "cornell_2022": "new_data_cornell_2022-07-17/cornell", "film": "new_data/film",
    "chameleon": "new_data/chameleon", "squirrel": "new_data/squirrel",
}

# name: nodes, unique undirected pairs including raw self-loops, classes, edge homophily on those pairs (2 decimals).
# Nodes/pairs/h from shared/data/heterophily/SOURCES.md (NSD's table) unless marked "measured" (Platonov et al.'s
# paper gives the same node and edge counts for the filtered sets, minesweeper and tolokers).
EXPECTED = {
    "texas": (183, 295, 5, 0.11),
    "wisconsin": (251, 466, 5, 0.21),
    "cornell": (183, 280, 5, 0.30),
    "film": (7600, 26752, 5, 0.22),
    "chameleon": (2277, 31421, 5, 0.23),
    "squirrel": (5201, 198493, 5, 0.22),
    "cora": (2708, 5278, 7, 0.81),
    "citeseer": (3327, 4676, 6, 0.74),
    "minesweeper": (10000, 39402, 2, 0.68),  # pairs and h measured
    "tolokers": (11758, 519000, 2, 0.59),  # h measured
    "actor": (7600, 26659, 5, 0.22),  # the Film graph without its 93 self-loops
    "chameleon_filtered": (890, 8854, 5, 0.24),  # measured
    "squirrel_filtered": (2223, 46998, 5, 0.21),  # measured
}


def raw_self_loops(root: Path, name: str) -> torch.Tensor:
    """Nodes with a self-loop in the raw files (read here independently of the loader)."""
    if name in RAW_EDGES:
        path = root / "heterophily" / "geom-gcn" / RAW_EDGES[name] / "out1_graph_edges.txt"
        e = np.loadtxt(path, dtype=np.int64, skiprows=1)
        nodes = np.unique(e[e[:, 0] == e[:, 1], 0])
    elif name in ("cora", "citeseer"):
        with open(root / "heterophily" / "planetoid" / "data" / f"ind.{name}.graph", "rb") as f:
            graph = pickle.load(f, encoding="latin1")
        nodes = np.array(sorted(i for i, nbrs in graph.items() if i in nbrs), dtype=np.int64)
    else:  # Platonov .npz: no self-loops
        nodes = np.zeros(0, dtype=np.int64)
    return torch.from_numpy(nodes)


def check_dataset(data, name: str, root: Path) -> None:
    nodes, pairs, classes, h = EXPECTED[name]
    n = data.num_nodes
    ei = data.edge_index
    assert n == nodes and data.x.shape[0] == n and data.y.shape == (n,)
    assert data.x.dtype == torch.float32 and data.y.dtype == torch.long
    assert data.num_classes == classes == int(data.y.max()) + 1
    for mask in (data.train_mask, data.val_mask, data.test_mask):
        assert mask.shape == (n, 10) and mask.dtype == torch.bool
    assert not (data.train_mask & data.test_mask).any() and not (data.train_mask & data.val_mask).any()
    # undirected, coalesced, no self-loops
    assert (ei[0] != ei[1]).all()
    key, reverse_key = ei[0] * n + ei[1], ei[1] * n + ei[0]
    assert (key[1:] > key[:-1]).all()  # sorted, no duplicates
    assert torch.equal(reverse_key.sort().values, key)  # every edge has its reverse
    # SOURCES conventions: unique undirected pairs plus the raw self-loops
    loops = raw_self_loops(root, name)
    undirected = torch.cat([ei[:, ei[0] < ei[1]], torch.stack([loops, loops])], dim=1)
    assert undirected.size(1) == pairs
    assert round(edge_homophily(undirected, data.y), 2) == h
    # row-normalised features (NSD preprocessing)
    sums = data.x.sum(1)
    assert torch.allclose(sums[sums > 0], torch.ones(()), atol=1e-5)
    assert data.metric == ("roc_auc" if name in ("minesweeper", "tolokers") else "accuracy")
    assert data.name == name


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("SHEAFGRAPH_DATA", raising=False)


@pytest.mark.parametrize("name", ["texas", "wisconsin", "cornell"])
def test_shipped_webkb(name, no_env):
    check_dataset(load_node_dataset(name), name, DATASETS_DIR)


def test_cornell_versions(no_env):
    old, alias, new = (load_node_dataset(n, normalize_features=False)
                       for n in ("cornell", "cornell_nsd", "cornell_2022"))
    texas = load_node_dataset("texas", normalize_features=False)
    assert alias.name == "cornell_nsd" and torch.equal(old.x, alias.x) and torch.equal(old.edge_index, alias.edge_index)
    # the 2021 Cornell carries Texas's features and labels (SOURCES caveat); the 2022 one does not
    assert torch.equal(old.x, texas.x) and torch.equal(old.y, texas.y)
    assert not torch.equal(new.y, texas.y)
    assert new.num_nodes == 183 and new.num_classes == 5 and new.train_mask.shape == (183, 10)
    assert torch.equal(new.train_mask, old.train_mask)  # same Cornell split files
    assert round(edge_homophily(new.edge_index, new.y), 2) == 0.12  # SOURCES: corrected Cornell, h 0.12
    assert torch.equal(torch.unique(new.x), torch.tensor([0.0, 1.0]))  # raw binary features without normalisation


@pytest.mark.parametrize("name", ["film", "chameleon", "squirrel", "cora", "citeseer", "minesweeper", "tolokers",
                                  "actor", "chameleon_filtered", "squirrel_filtered"])
def test_shared(name, shared_data):
    check_dataset(load_node_dataset(name, root=shared_data), name, shared_data)


def test_split_coverage(shared_data):
    cora = load_node_dataset("cora", root=shared_data)
    covered = (cora.train_mask | cora.val_mask | cora.test_mask).sum(0)
    assert covered.tolist() == [2485] * 10  # largest connected component only (SOURCES)
    citeseer = load_node_dataset("citeseer", root=shared_data)
    covered = (citeseer.train_mask | citeseer.val_mask | citeseer.test_mask).sum(0)
    assert covered[4] == covered[5] == 2120 and covered.max() == 3327
    chameleon = load_node_dataset("chameleon", root=shared_data)
    with np.load(shared_data / "heterophily" / "heterophilous" / "chameleon.npz") as f:  # "same 10 masks"
        assert torch.equal(chameleon.test_mask, torch.from_numpy(f["test_masks"].T))


def test_env_root(shared_data, monkeypatch):
    monkeypatch.setenv("SHEAFGRAPH_DATA", str(shared_data))
    assert load_node_dataset("minesweeper").num_nodes == 10000


def test_registry_and_docs():
    names = node_dataset_names()
    assert set(names) == set(EXPECTED) | {"cornell_nsd", "cornell_2022"}
    sources = (SHIPPED / "SOURCES.md").read_text()
    for name in names:
        assert f"`{name}`" in heterophily.__doc__ and f"`{name}`" in sources
    assert load_node_dataset.__module__ == "sheafgraph.data.heterophily"


def test_sha256_list_covers_shipped_files():
    shipped = {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*") if p.is_file()} - {"SOURCES.md", "SHA256SUMS"}
    known = heterophily.known_sha256()
    assert len(shipped) == 38 and shipped <= set(known)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in known.values())


def test_unknown_name():
    with pytest.raises(ValueError, match="valid names: actor, chameleon"):
        load_node_dataset("pubmed")
    with pytest.raises(TypeError, match="str"):
        load_node_dataset(3)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"out1_node_feature_label\.txt not found.*bingzhewei/geom-gcn"):
        load_node_dataset("texas", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"tolokers\.npz not found.*heterophilous-graphs"):
        load_node_dataset("tolokers", root=tmp_path)


def test_missing_from_default_root_says_how_to_fix(no_env):
    with pytest.raises(FileNotFoundError, match=r"--root /path/to/shared/data \(root= in Python\) or set SHEAFGRAPH_DATA"):
        load_node_dataset("film")


@pytest.fixture
def texas_copy(tmp_path):
    shutil.copytree(SHIPPED / "geom-gcn", tmp_path / "heterophily" / "geom-gcn")
    return tmp_path


def test_wrong_mask_length(texas_copy):
    split = texas_copy / "heterophily" / "geom-gcn" / "splits" / "texas_split_0.6_0.2_3.npz"
    np.savez(split, train_mask=np.ones(182, np.uint8), val_mask=np.zeros(182, np.uint8),
             test_mask=np.zeros(182, np.uint8))
    with pytest.raises(ValueError, match=r"sha256"):  # the checksum catches the change first
        load_node_dataset("texas", root=texas_copy)
    message = r"texas_split_0\.6_0\.2_3\.npz: train_mask has shape \(182,\), expected \(183,\)"
    with pytest.raises(ValueError, match=message):
        load_node_dataset("texas", root=texas_copy, verify=False)


def test_wrong_mask_length_npz(tmp_path):
    path = tmp_path / "heterophily" / "heterophilous" / "minesweeper.npz"
    path.parent.mkdir(parents=True)
    masks = np.zeros((10, 5), bool)
    np.savez(path, node_features=np.ones((4, 3), np.float32), node_labels=np.array([0, 1, 0, 1]),
             edges=np.array([[0, 1], [2, 3]]), train_masks=masks, val_masks=masks, test_masks=masks)
    with pytest.raises(ValueError, match=r"train_masks has shape \(10, 5\), expected \(num_splits, 4\)"):
        load_node_dataset("minesweeper", root=tmp_path, verify=False)


def test_damaged_files_are_named_not_misread(texas_copy):
    base = texas_copy / "heterophily" / "geom-gcn"
    split = base / "splits" / "texas_split_0.6_0.2_3.npz"
    masks = {k: np.zeros(183, np.uint8) for k in ("train_mask", "val_mask", "test_mask")}
    np.savez(split, **{**masks, "train_mask": np.full(183, 2, np.uint8)})
    with pytest.raises(ValueError, match=r"texas_split_0\.6_0\.2_3\.npz: train_mask must hold 0/1 .*found 2"):
        load_node_dataset("texas", root=texas_copy, verify=False)
    split.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"texas_split_0\.6_0\.2_3\.npz: not a readable split file .*not a zip"):
        load_node_dataset("texas", root=texas_copy, verify=False)
    np.savez(split, **masks)
    edges = base / "new_data" / "texas" / "out1_graph_edges.txt"
    text = edges.read_text()
    edges.write_text(text[: len(text) // 2].rsplit("\t", 1)[0] + "\t")             # cut inside a line
    with pytest.raises(ValueError, match=r"out1_graph_edges\.txt: not a readable Geom-GCN edge file"):
        load_node_dataset("texas", root=texas_copy, verify=False)


def test_a_planted_planetoid_pickle_cannot_run_code(tmp_path):
    from sheafgraph.data.planetoid import _unpickle

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    path = tmp_path / "ind.cora.allx"
    path.write_bytes(pickle.dumps(Exploit(), protocol=2))
    with pytest.raises(ValueError, match=r"ind\.cora\.allx: not a readable Planetoid pickle .*refusing to load"):
        _unpickle(path)
    assert not (tmp_path / "pwned").exists()
