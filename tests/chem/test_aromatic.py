"""The aromatic-aware encoding: aromatic bonds at order 1.5, bond code 4 when decoding, the pyrrole-type hydrogen
rule, and the round trip on real QM9 molecules."""
import pytest
import torch
from rdkit import Chem

from sheafgraph.chem import (QM9_ATOMS, decode_and_correct, graph_to_mol, graphs_to_mols, is_valid_mol, sanitized_copy,
                             smiles_to_dense, smiles_to_graph)
from sheafgraph.chem.decode import AROMATIC_BOND
from sheafgraph.generative import Graphs, quantize_bonds, quantize_graphs
from sheafgraph.generative.noise import node_mask


def canonical(mol):
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def codes(adj):
    """Bond codes of an encoded graph: 1.5 -> 4, orders kept."""
    return torch.where(adj == 1.5, torch.full_like(adj, AROMATIC_BOND), adj).long()


def test_benzene_is_six_equal_aromatic_bonds():
    x, adj = smiles_to_graph("c1ccccc1", QM9_ATOMS, 9, aromatic=True)
    assert sorted(adj[adj > 0].tolist()) == [1.5] * 12
    assert adj[:6].sum(1).tolist() == [3.0] * 6
    kekule = smiles_to_graph("c1ccccc1", QM9_ATOMS, 9)[1]
    assert sorted(kekule[kekule > 0].tolist()) == [1.0] * 6 + [2.0] * 6
    mol = graph_to_mol(x, codes(adj), QM9_ATOMS)
    assert all(b.GetIsAromatic() for b in mol.GetBonds()) and canonical(sanitized_copy(mol)) == "c1ccccc1"


def test_aromatic_atoms_stay_neutral_under_the_charge_rule():
    # furan O (bond-order sum 3) and an N-methylpyrrole N (sum 4) would be O+ / N+ by GDSS's rule
    for smiles in ("c1ccoc1", "Cn1cccc1"):
        x, adj = smiles_to_graph(smiles, QM9_ATOMS, 9, aromatic=True)
        mol = graph_to_mol(x, codes(adj), QM9_ATOMS)
        assert not any(a.GetFormalCharge() for a in mol.GetAtoms()), smiles
        assert canonical(sanitized_copy(mol)) == canonical(Chem.MolFromSmiles(smiles))
    # outside aromatic rings the rule still applies: a nitro-like N with bond-order sum 4
    x, adj = smiles_to_graph("CN(=O)=O", QM9_ATOMS, 9, aromatic=True)
    assert [a.GetFormalCharge() for a in graph_to_mol(x, codes(adj), QM9_ATOMS).GetAtoms()] == [0, 1, 0, 0]


def test_pyrrole_hydrogen_rule():
    x, adj = smiles_to_graph("c1cc[nH]c1", QM9_ATOMS, 9, aromatic=True)   # the H is not encoded
    x, a = x[None], codes(adj)[None]
    with_rule = graphs_to_mols(x, a, QM9_ATOMS)[0]
    without = graphs_to_mols(x, a, QM9_ATOMS, aromatic_hydrogens=False)[0]
    assert is_valid_mol(with_rule) and canonical(sanitized_copy(with_rule)) == "c1cc[nH]c1"
    assert not is_valid_mol(without)
    # imidazole: one of the two N gets the H (the first that works), pyridine needs none
    x, adj = smiles_to_graph("c1c[nH]cn1", QM9_ATOMS, 9, aromatic=True)
    assert canonical(sanitized_copy(graph_to_mol(x, codes(adj), QM9_ATOMS))) == "c1c[nH]cn1"
    x, adj = smiles_to_graph("c1ccncc1", QM9_ATOMS, 9, aromatic=True)
    assert sum(a.GetTotalNumHs() for a in sanitized_copy(graph_to_mol(x, codes(adj), QM9_ATOMS)).GetAtoms()) == 5


def test_aromatic_quantisation_thresholds():
    mask = node_mask(torch.tensor([2]), 2)
    values = torch.tensor([0.49, 0.51, 1.24, 1.26, 1.74, 1.76, 2.49, 2.51, 9.0, -3.0])
    expected = [0, 1, 1, AROMATIC_BOND, AROMATIC_BOND, 2, 2, 3, 3, 0]
    for v, e in zip(values.tolist(), expected):
        adj = torch.tensor([[[0.0, v], [v, 0.0]]])
        assert quantize_bonds(adj, mask, aromatic=True)[0, 0, 1] == e, v
    assert quantize_bonds(torch.tensor([[[0.0, 1.5], [1.5, 0.0]]]), mask)[0, 0, 1] == 2  # kekule rounding: 1.5 -> 2


def test_round_trip_on_qm9_molecules(qm9_smiles):
    """Encode, perturb within the rounding margins, quantise and decode 2000 QM9 molecules: with the hydrogen rule
    all but a few sanitise, and the uncharged ones come back as they were (up to which N carries a pyrrole H)."""
    smiles = qm9_smiles[::65][:2000]
    x, adj = smiles_to_dense(smiles, QM9_ATOMS, 9, aromatic=True)
    assert set(adj.unique().tolist()) == {0.0, 1.0, 1.5, 2.0, 3.0}
    mask = (x.sum(-1) > 0).float()
    noisy = adj + 0.4 * (torch.rand(adj.shape, generator=torch.Generator().manual_seed(0)) - 0.5) * (adj > 0)
    noisy = torch.triu(noisy, 1) + torch.triu(noisy, 1).transpose(1, 2)
    atoms, bonds = quantize_graphs(Graphs(x, noisy, mask), aromatic=True)
    assert torch.equal(bonds, codes(adj))
    with_rule = [sanitized_copy(m) for m in graphs_to_mols(atoms, bonds, QM9_ATOMS)]
    without = [sanitized_copy(m) for m in graphs_to_mols(atoms, bonds, QM9_ATOMS, aromatic_hydrogens=False)]
    aromatic = sum(bool((a == 1.5).any()) for a in adj)
    valid, valid_without = sum(m is not None for m in with_rule), sum(m is not None for m in without)
    same = sum(m is not None and canonical(m) == canonical(Chem.MolFromSmiles(s)) for m, s in zip(with_rule, smiles))
    assert aromatic > 250                              # about 17% of QM9 has an aromatic ring
    assert valid >= 0.995 * len(smiles) and valid_without <= len(smiles) - 0.3 * aromatic
    assert same >= 0.97 * len(smiles)


def test_an_aromatic_code_needs_aromatic_bonds_to_be_valid():
    # a lone aromatic bond outside a ring cannot be kekulised: decoded as is, it is invalid, not silently changed
    x = torch.zeros(1, 3, 4)
    x[0, :, 0] = 1
    adj = torch.zeros(1, 3, 3, dtype=torch.long)
    adj[0, 0, 1] = adj[0, 1, 0] = AROMATIC_BOND
    mol = graphs_to_mols(x, adj, QM9_ATOMS)[0]
    assert mol.GetBondWithIdx(0).GetBondType() == Chem.BondType.AROMATIC and not is_valid_mol(mol)
    # the valency correction makes it valid by turning the aromatic bonds single
    decoded = decode_and_correct(x, adj, QM9_ATOMS)
    assert decoded.valid_as_is == [False] and canonical(decoded.corrected[0]) == "CC"


def test_aromatic_encoding_errors_name_the_molecule():
    with pytest.raises(ValueError, match="malformed SMILES 'c1cccc1'"):
        smiles_to_graph("c1cccc1", QM9_ATOMS, 9, aromatic=True)
