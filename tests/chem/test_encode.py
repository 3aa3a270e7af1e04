"""SMILES -> dense graph: GDSS's kekulised encoding, errors, and the round trip on real QM9 molecules."""
import pytest
import torch
from rdkit import Chem

from sheafgraph.chem import (QM9_ATOMS, ZINC250K_ATOMS, AtomVocabulary, get_vocabulary, graph_to_mol, mol_to_graph,
                             parse_smiles, sanitized_copy, smiles_to_dense, smiles_to_graph)


def canonical(mol):
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def test_vocabulary_lookup_and_errors():
    assert QM9_ATOMS.symbols == ("C", "N", "O", "F") and QM9_ATOMS.index("O") == 2
    assert ZINC250K_ATOMS.atomic_numbers == (6, 7, 8, 9, 15, 16, 17, 35, 53)
    assert get_vocabulary("moses") == ZINC250K_ATOMS
    with pytest.raises(ValueError, match="valid names: qm9, zinc250k, moses"):
        get_vocabulary("zinc")
    with pytest.raises(ValueError, match="'CL' is not an element"):
        AtomVocabulary(["C", "CL"])
    with pytest.raises(ValueError, match="repeated"):
        AtomVocabulary(["C", "C"])
    with pytest.raises(ValueError, match=r"'S' is not in the atom vocabulary \(C, N, O, F\)"):
        QM9_ATOMS.index("S")


def test_benzene_is_kekulised_and_padded():
    x, adj = smiles_to_graph("c1ccccc1", QM9_ATOMS, 9)
    assert x.shape == (9, 4) and adj.shape == (9, 9) and x.dtype == adj.dtype == torch.float32
    assert torch.equal(x[:6], torch.tensor([[1.0, 0, 0, 0]] * 6)) and not x[6:].any()
    assert torch.equal(adj, adj.T) and not adj.diagonal().any() and not adj[6:].any()
    assert sorted(adj[adj > 0].tolist()) == [1.0] * 6 + [2.0] * 6  # three single, three double bonds
    assert adj[:6].sum(1).tolist() == [3.0] * 6


def test_encoding_drops_hydrogens_and_charges():
    x, adj = smiles_to_graph("C([H])([H])C", QM9_ATOMS, 4)
    assert int(x.sum()) == 2 and adj[0, 1] == 1
    zwitterion = smiles_to_graph("[NH3+]CC([O-])=O", QM9_ATOMS, 9)
    neutral = smiles_to_graph("NCC(O)=O", QM9_ATOMS, 9)
    assert all(torch.equal(a, b) for a, b in zip(zwitterion, neutral))


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"malformed SMILES 'C1CC'"):
        smiles_to_graph("C1CC", QM9_ATOMS, 9)
    with pytest.raises(ValueError, match=r"malformed SMILES 'CN\(C\)\(C\)\(C\)C'"):  # 5-valent neutral N
        smiles_to_graph("CN(C)(C)(C)C", QM9_ATOMS, 9)
    with pytest.raises(ValueError, match=r"atom 'S', which is not in the atom vocabulary \(C, N, O, F\)"):
        smiles_to_graph("CSC", QM9_ATOMS, 9)
    with pytest.raises(ValueError, match="has 10 heavy atoms, more than max_atoms=9"):
        smiles_to_graph("C" * 10, QM9_ATOMS, 9)
    with pytest.raises(ValueError, match=r"SMILES #1 'CCl' has atom 'Cl'"):
        smiles_to_dense(["CC", "CCl"], QM9_ATOMS, 9)
    with pytest.raises(ValueError, match=r"SMILES #2: malformed SMILES ''"):
        smiles_to_dense(["CC", "O", ""], QM9_ATOMS, 9)
    with pytest.raises(ValueError, match="'c1cccc1' cannot be kekulised"):
        mol_to_graph(Chem.MolFromSmiles("c1cccc1", sanitize=False), QM9_ATOMS, 9)
    with pytest.raises(TypeError):
        smiles_to_graph(None, QM9_ATOMS, 9)
    with pytest.raises(ValueError, match="max_atoms"):
        smiles_to_graph("C", QM9_ATOMS, 0)


def test_mol_to_graph_matches_smiles_to_graph():
    mol = Chem.MolFromSmiles("c1ccncc1O")  # aromatic, sanitised: kekulised on a copy
    x, adj = mol_to_graph(mol, QM9_ATOMS, 9)
    x2, adj2 = smiles_to_graph("c1ccncc1O", QM9_ATOMS, 9)
    assert torch.equal(x, x2) and torch.equal(adj.sum(1), adj2.sum(1))  # the Kekule structure may differ
    assert canonical(sanitized_copy(graph_to_mol(x, adj, QM9_ATOMS))) == "Oc1cccnc1"
    assert mol.GetBondWithIdx(0).GetIsAromatic()  # the caller's molecule is untouched


def test_dense_batch_is_symmetric_masked_and_counts_atoms(qm9_smiles):
    smiles = qm9_smiles[:200]
    x, adj = smiles_to_dense(smiles, QM9_ATOMS, 9)
    assert x.shape == (200, 9, 4) and adj.shape == (200, 9, 9)
    mask = x.sum(-1) > 0
    assert mask.sum(1).tolist() == [parse_smiles(s).GetNumAtoms() for s in smiles]
    assert mask.sum(1)[:3].tolist() == [1, 1, 1]  # methane, ammonia, water: real 1-node graphs
    assert torch.equal(adj, adj.transpose(1, 2)) and not adj.diagonal(dim1=1, dim2=2).any()
    assert not (adj * ~(mask[:, :, None] & mask[:, None, :])).any()
    assert set(adj.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}


def test_round_trip_on_500_qm9_molecules(qm9_smiles):
    """Canonical SMILES survive SMILES -> graph -> molecule; charged ones (zwitterions, nitro) keep their graph."""
    rows = list(range(300)) + list(range(300, len(qm9_smiles), 727))[:180]
    rows += [i for i in range(300, 8000) if i not in rows and ("+" in qm9_smiles[i] or "N(=O)=O" in qm9_smiles[i])][:20]
    smiles = [qm9_smiles[i] for i in rows]
    x, adj = smiles_to_dense(smiles, QM9_ATOMS, 9)
    exact = charged = 0
    for s, xi, ai in zip(smiles, x, adj):
        decoded = graph_to_mol(xi, ai, QM9_ATOMS)
        if any(a.GetFormalCharge() for a in parse_smiles(s).GetAtoms()):
            # charges are not encoded: the decoded molecule has the same graph (GDSS's encoding is lossy here)
            again = mol_to_graph(decoded, QM9_ATOMS, 9)
            assert torch.equal(again[0], xi) and torch.equal(again[1], ai), s
            charged += 1
        else:
            assert canonical(sanitized_copy(decoded)) == canonical(Chem.MolFromSmiles(s)), s
            exact += 1
    assert len(rows) == 500 and charged == 23 and exact == 477
