"""Molecule metrics on hand-made sets with known answers; NSPDK against a hand count and (if installed) EDeN."""
import sys

import networkx as nx
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import torch
from rdkit import Chem

from sheafgraph.chem import QM9_ATOMS, smiles_to_dense
from sheafgraph.metrics import molecules as mm
from sheafgraph.metrics.molecules import (canonical_set, canonical_smiles, evaluate_generated_molecules, fcd,
                                          novelty, nspdk_mmd, uniqueness, validity, validity_without_correction)
from sheafgraph.metrics.nspdk import nspdk_features

QM9_SAMPLE = ["CC(C)C#N", "OCC1CC1", "CC1=CNC=C1", "NC(=O)C=O", "CC(O)C(C)=O", "C1CC2OC2C1", "CC#CC(N)=O",
              "OC1=NC=CC1", "CN1C=CC=C1", "CCOCC=O", "FC1=CC=CO1", "CC1(O)CC1"]
DRUG_LIKE = ["CC(=O)Nc1ccc(O)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CN1CCC[C@H]1c1cccnc1", "O=C(O)c1ccccc1O",
             "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "CC(C)NCC(O)COc1cccc2ccccc12", "Clc1ccc(Cl)cc1",
             "CCN(CC)CCOC(=O)c1ccc(N)cc1",
             "c1ccc2[nH]ccc2c1", "COc1ccc2cc(C(C)C(=O)O)ccc2c1", "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O",
             "NS(=O)(=O)c1cc(C(=O)O)c(NCc2ccco2)cc1Cl"]


def test_validity_uniqueness_novelty_known_answers():
    assert uniqueness(["C", "C", "CC"]) == pytest.approx(2 / 3)
    assert uniqueness(["OCC", "CCO", "C1CC1", "X"]) == pytest.approx(2 / 3)   # same molecule, two SMILES
    assert validity(["C", "C1CC", None, "", Chem.MolFromSmiles("CO")]) == pytest.approx(2 / 5)
    assert novelty(["C", "CC", "CCC", "CCC"], ["CC", "OCC"]) == pytest.approx(2 / 3)
    assert novelty(["C[C@H](N)O"], ["CC(N)O"]) == 0.0  # compared without stereochemistry
    assert canonical_smiles("C1=CC=CC=C1") == canonical_smiles("c1ccccc1") == "c1ccccc1"
    assert canonical_set(["OCC", "CCO", None, "bad("]) == {"CCO"}
    assert uniqueness(["bad(", None]) == 0.0 and novelty([None], ["C"]) == 0.0
    with pytest.raises(ValueError, match="non-empty list"):
        validity([])
    with pytest.raises(TypeError, match="int"):
        validity([1])


def test_validity_without_correction_counts_graphs_valid_as_decoded():
    x, adj = smiles_to_dense(["CCO", "C[N+](C)(C)C", "C1=CC=CC=C1", "CC"], QM9_ATOMS, 6)
    adj[3, 0, 1] = adj[3, 1, 0] = 3
    adj[3, 0, 2] = adj[3, 2, 0] = 2  # a carbon with a triple and a double bond
    x[3, 2, 0] = 1.0
    assert validity_without_correction(x, adj, QM9_ATOMS) == pytest.approx(3 / 4)
    types = torch.where(x.sum(-1) > 0, x.argmax(-1), torch.tensor(-1))
    assert validity_without_correction(types, adj.long(), QM9_ATOMS) == pytest.approx(3 / 4)


def test_gdss_protocol_on_a_batch_of_graphs():
    x, adj = smiles_to_dense(QM9_SAMPLE, QM9_ATOMS, 9)
    bad_x, bad_adj = torch.zeros(1, 9, 4), torch.zeros(1, 9, 9)
    bad_x[0, 0, 1] = bad_x[0, 1:6, 0] = 1.0  # N bonded to five carbons: invalid as is, N+ after correction
    bad_adj[0, 0, 1:6] = bad_adj[0, 1:6, 0] = 1.0
    scores = evaluate_generated_molecules(torch.cat([x, bad_x]), torch.cat([adj, bad_adj]), QM9_ATOMS,
                                          train=QM9_SAMPLE[:6], test=QM9_SAMPLE, with_fcd=False)
    assert scores["validity_without_correction"] == pytest.approx(12 / 13) and scores["validity"] == 1.0
    assert scores["uniqueness"] == 1.0 and scores["novelty"] == pytest.approx(7 / 13)
    assert 0 < scores["nspdk"] < nspdk_mmd([Chem.MolFromSmiles(s) for s in QM9_SAMPLE],
                                           [Chem.MolFromSmiles(s) for s in DRUG_LIKE])
    assert "fcd" not in scores


def test_nspdk_hand_counted_example():
    # Ethane and ethylene share every radius-0 feature (both nodes are carbons of degree 1) and no radius-1 one
    # (the bond label differs): 4 non-empty (r, d) blocks of equal weight, 2 shared -> k = 1/2, MMD^2 = 1 + 1 - 1.
    ethane, ethylene = Chem.MolFromSmiles("CC"), Chem.MolFromSmiles("C=C")
    assert nspdk_mmd([ethane], [ethylene]) == pytest.approx(1.0)
    assert nspdk_mmd([Chem.MolFromSmiles("C")], [Chem.MolFromSmiles("O")]) == pytest.approx(2.0)
    assert nspdk_mmd([Chem.MolFromSmiles("C")], [Chem.MolFromSmiles("C")]) == 0.0


def test_nspdk_properties_on_real_molecules():
    a = [Chem.MolFromSmiles(s) for s in QM9_SAMPLE]
    b = [Chem.MolFromSmiles(s) for s in DRUG_LIKE]
    assert nspdk_mmd(a, a) == pytest.approx(0.0, abs=1e-12)
    between = nspdk_mmd(a, b)
    assert between > 0.15 and between == pytest.approx(nspdk_mmd(b, a), rel=1e-12)
    features = nspdk_features(a + b)
    kernel = (features @ features.T).toarray()
    assert np.allclose(np.diag(kernel), 1.0) and (kernel >= 0).all() and (kernel <= 1 + 1e-12).all()
    n = len(a)  # the MMD is the mean-kernel identity of the linear kernel
    assert between == pytest.approx(kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean())
    shuffled = Chem.RenumberAtoms(b[1], list(range(b[1].GetNumAtoms()))[::-1])  # atom order does not matter
    assert nspdk_mmd([b[1]], [shuffled]) == pytest.approx(0.0, abs=1e-12)
    graphs = [nx.path_graph(4), nx.cycle_graph(5)]  # unlabelled networkx graphs work too
    assert nspdk_mmd(graphs, graphs) == 0.0 and nspdk_mmd(graphs[:1], graphs[1:]) > 0.5
    with pytest.raises(ValueError, match="without nodes"):
        nspdk_mmd([Chem.Mol()], a)
    with pytest.raises(ValueError, match="radius"):
        nspdk_mmd(a, b, radius=-1)


def test_nspdk_equals_eden_without_hash_collisions():
    eden = pytest.importorskip("eden.graph")
    mols = [Chem.MolFromSmiles(s) for s in QM9_SAMPLE + DRUG_LIKE]
    graphs = []
    for mol in mols:  # GDSS's mols_to_nx
        g = nx.Graph()
        g.add_nodes_from((a.GetIdx(), {"label": a.GetSymbol()}) for a in mol.GetAtoms())
        g.add_edges_from((b.GetBeginAtomIdx(), b.GetEndAtomIdx(), {"label": int(b.GetBondTypeAsDouble())})
                         for b in mol.GetBonds())
        graphs.append(g)
    x = eden.vectorize(graphs, complexity=4, discrete=True, nbits=50).tocoo()  # 2^50 buckets: no collisions
    _, column = np.unique(x.col, return_inverse=True)
    x = sp.csr_matrix((x.data, (x.row, column.ravel())))
    ours = nspdk_features(mols)
    assert np.allclose((x @ x.T).toarray(), (ours @ ours.T).toarray(), atol=1e-12)


@pytest.fixture
def one_torch_thread():
    """ChemNet on a busy 2-core machine is far faster on one thread; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    rng = np.random.default_rng(0)
    for n_a, n_b in ((40, 60), (5, 7)):  # full-rank and singular covariances (d = 8)
        a, b = rng.normal(size=(n_a, 8)), rng.normal(size=(n_b, 8)) @ rng.normal(size=(8, 8)) + 0.5
        ca, cb = np.cov(a.T), np.cov(b.T)
        root = scipy.linalg.sqrtm(ca @ cb).real
        expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * root)
        assert mm.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert mm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="same d"):
        mm.frechet_distance(a, b[:, :3])


def test_fcd_of_a_set_with_itself_is_zero(one_torch_thread):
    pytest.importorskip("fcd_torch")
    same = fcd(QM9_SAMPLE, QM9_SAMPLE)
    different = fcd(QM9_SAMPLE, DRUG_LIKE)
    assert abs(same) < 1e-6 and different > 10.0
    with pytest.raises(ValueError, match="item 1 of molecules is not a valid"):
        fcd(["C", "C1CC", "CC"], QM9_SAMPLE)


def test_fcd_reference_statistics_are_cached(tmp_path, monkeypatch, one_torch_thread):
    pytest.importorskip("fcd_torch")
    plain = fcd(QM9_SAMPLE, DRUG_LIKE)
    assert fcd(QM9_SAMPLE, DRUG_LIKE, cache_dir=tmp_path) == pytest.approx(plain, rel=1e-9)
    (stored,) = tmp_path.glob("chemnet_stats_*.npz")
    calls = []
    compute = mm._chemnet_stats
    monkeypatch.setattr(mm, "_chemnet_stats", lambda smiles, *a: calls.append(len(smiles)) or compute(smiles, *a))
    # the same reference in another order hits the cache: ChemNet runs on the generated set only
    assert fcd(QM9_SAMPLE, DRUG_LIKE[::-1], cache_dir=tmp_path) == pytest.approx(plain, rel=1e-9)
    assert calls == [len(QM9_SAMPLE)] and list(tmp_path.glob("chemnet_stats_*.npz")) == [stored]
    fcd(QM9_SAMPLE, DRUG_LIKE[:-1], cache_dir=tmp_path)                  # another reference: computed and stored
    assert calls[1:] == [len(DRUG_LIKE) - 1, len(QM9_SAMPLE)] and len(list(tmp_path.glob("*.npz"))) == 2


def test_fcd_without_the_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fcd_torch", None)
    mm._chemnet.cache_clear()
    with pytest.raises(ImportError, match=r"pip install -e \.\[metrics\]"):
        fcd(QM9_SAMPLE, QM9_SAMPLE)
    def not_installed(name):
        raise mm.importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(mm.importlib.metadata, "version", not_installed)   # the cached path names the extra too
    with pytest.raises(ImportError, match=r"pip install -e \.\[metrics\]"):
        fcd(QM9_SAMPLE, QM9_SAMPLE, cache_dir=tmp_path)
    mm._chemnet.cache_clear()


def test_vun_and_molecule_properties():
    from sheafgraph.metrics.molecules import molecule_properties, vun
    samples = ["CCO", "OCC", "c1ccccc1", "C(", "CC#N", "[NH4+]"]
    assert vun(samples, ["CCO"]) == pytest.approx(3 / 6)            # benzene, acetonitrile, ammonium; ethanol known
    props = molecule_properties(["c1ccccc1", "CC#N", "FC(F)F", "[NH4+]", "CCCCCCCCC"])
    assert props["aromatic_ring"] == pytest.approx(1 / 5) and props["charged_atom"] == pytest.approx(1 / 5)
    assert props["at_most_7_atoms"] == pytest.approx(4 / 5)
    assert props["fluorine_atoms"] == pytest.approx(3 / (6 + 3 + 4 + 1 + 9))
    # Kekulé benzene: 3 double of 6 bonds; CC#N: 1 single, 1 triple; CHF3: 3; NH4+: none; nonane: 8 (19 bonds)
    assert props["double_bonds"] == pytest.approx(3 / 19) and props["triple_bonds"] == pytest.approx(1 / 19)
    with pytest.raises(ValueError, match="at least one valid molecule"):
        molecule_properties(["C("])


def test_validity_with_and_without_the_charge_rule():
    from sheafgraph.chem import QM9_ATOMS
    from sheafgraph.metrics.molecules import validity_without_correction
    types = torch.tensor([[1, 0, 0, 0, 0]])                              # N bonded to four carbons: N+ under GDSS
    adj = torch.zeros(1, 5, 5, dtype=torch.long)
    adj[0, 0, 1:] = adj[0, 1:, 0] = 1
    assert validity_without_correction(types, adj, QM9_ATOMS) == 1.0
    assert validity_without_correction(types, adj, QM9_ATOMS, charge_rule=False) == 0.0
