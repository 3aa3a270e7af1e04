"""Graph -> molecule decoding, GDSS's charge rule, validity without correction and valency correction."""
import numpy as np
import pytest
import torch
from rdkit import Chem

from sheafgraph.chem import (CHARGED_VALENCE, QM9_ATOMS, ZINC250K_ATOMS, correct_valency, graph_to_mol,
                             graphs_to_mols, is_valid_mol, is_valid_without_correction, smiles_to_graph)


def star(center: int, arms: int, n: int = 9):
    """Atom types (QM9 indices, -1 padding) and bond orders of ``center`` bonded singly to ``arms`` carbons."""
    types = torch.full((n,), -1)
    types[: arms + 1] = 0
    types[0] = center
    adj = torch.zeros(n, n, dtype=torch.long)
    adj[0, 1:arms + 1] = adj[1:arms + 1, 0] = 1
    return types, adj


def smiles(mol):
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def test_one_hot_and_index_inputs_decode_alike():
    x, adj = smiles_to_graph("OC1=NC=CC1", QM9_ATOMS, 9)
    types = torch.where(x.sum(1) > 0, x.argmax(1), torch.tensor(-1))
    a, b = graph_to_mol(x, adj, QM9_ATOMS), graph_to_mol(types, adj.long().numpy(), QM9_ATOMS)
    assert smiles(a) == smiles(b) == "OC1=NC=CC1"
    batch = graphs_to_mols(torch.stack([x, x]), torch.stack([adj, adj]), QM9_ATOMS)
    assert [smiles(m) for m in batch] == ["OC1=NC=CC1"] * 2


def test_gdss_charge_rule():
    assert CHARGED_VALENCE == {"N": 4, "O": 3}
    ammonium = graph_to_mol(*star(1, 4), QM9_ATOMS)          # N with 4 single bonds -> N+
    assert ammonium.GetAtomWithIdx(0).GetFormalCharge() == 1 and is_valid_mol(ammonium)
    oxonium = graph_to_mol(*star(2, 3), QM9_ATOMS)            # O with 3 single bonds -> O+
    assert smiles(Chem.Mol(oxonium)) == "C[O+](C)C" and is_valid_without_correction(*star(2, 3), QM9_ATOMS)
    assert not is_valid_without_correction(*star(1, 5), QM9_ATOMS)  # N with 5: no charge, invalid
    assert not is_valid_without_correction(*star(0, 5), QM9_ATOMS)  # C with 5
    assert not is_valid_without_correction(*star(3, 2), QM9_ATOMS)  # F with 2
    # S with 3 bonds stays neutral ([SH], valid in RDKit), as in GDSS
    types = torch.tensor([5, 0, 0, 0])
    adj = torch.tensor([[0, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
    sulfur = graph_to_mol(types, adj, ZINC250K_ATOMS)
    assert sulfur.GetAtomWithIdx(0).GetFormalCharge() == 0 and is_valid_mol(sulfur)


def test_validity_without_correction_edge_cases():
    empty = torch.full((4,), -1), torch.zeros(4, 4, dtype=torch.long)
    assert not is_valid_without_correction(*empty, QM9_ATOMS)
    types = torch.tensor([0, 0, 0, 2])                       # propane + a separate water: valid fragments
    adj = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    assert is_valid_without_correction(types, adj, QM9_ATOMS)


def test_decoder_rejects_malformed_graphs():
    x, adj = smiles_to_graph("CCO", QM9_ATOMS, 4)
    with pytest.raises(ValueError, match="one-hot"):
        graph_to_mol(x * 0.9, adj, QM9_ATOMS)
    with pytest.raises(ValueError, match="bond codes 0, 1, 2, 3 or 4"):
        graph_to_mol(x, adj * 1.2, QM9_ATOMS)
    with pytest.raises(ValueError, match="symmetric"):
        graph_to_mol(x, torch.triu(adj), QM9_ATOMS)
    bad = adj.clone()
    bad[0, 3] = bad[3, 0] = 1
    with pytest.raises(ValueError, match="node 3 is padding"):
        graph_to_mol(x, bad, QM9_ATOMS)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        graph_to_mol(x[:, :3], adj, QM9_ATOMS)
    with pytest.raises(ValueError, match="N = 4"):
        graph_to_mol(x, adj[:3, :3], QM9_ATOMS)
    with pytest.raises(ValueError, match="NaN"):
        graph_to_mol(x * float("nan"), adj, QM9_ATOMS)
    with pytest.raises(ValueError, match=r"\[-1, 3\]"):
        graph_to_mol(np.array([0, 4, -1, -1]), adj, QM9_ATOMS)


def test_correct_valency_lowers_the_highest_order_bond():
    # N bonded to five carbons: lower one bond -> N+ with four (GDSS's result)
    fixed = correct_valency(graph_to_mol(*star(1, 5), QM9_ATOMS))
    assert smiles(fixed) == "C[N+](C)(C)C"  # the freed carbon is dropped with the smaller fragment
    # C(=C)(=O)C with a 5-valent carbon: its first highest-order bond (to atom 1) becomes single
    types = torch.tensor([0, 0, 2, 0, 0])
    adj = torch.tensor([[0, 2, 2, 1, 0], [2, 0, 0, 0, 0], [2, 0, 0, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 1, 0]])
    mol = graph_to_mol(types, adj, QM9_ATOMS)
    assert not is_valid_mol(mol)
    assert smiles(correct_valency(mol)) == "CCC(C)=O"
    # O with a triple bond: lowered to a double bond, the O+ rule then applies to the 3-valent O
    types, adj = torch.tensor([2, 0, 0]), torch.tensor([[0, 3, 1], [3, 0, 0], [1, 0, 0]])
    assert smiles(correct_valency(graph_to_mol(types, adj, QM9_ATOMS))) == "C=[O+]C"


def test_correct_valency_keeps_valid_molecules_and_the_largest_fragment():
    assert smiles(correct_valency(Chem.MolFromSmiles("c1ccccc1O"))) == "Oc1ccccc1"
    assert smiles(correct_valency(Chem.MolFromSmiles("CCC.O"))) == "CCC"
    assert correct_valency(Chem.Mol()) is None
    with pytest.raises(TypeError):
        correct_valency("CCO")


def test_correct_valency_makes_random_graphs_valid():
    g = torch.Generator().manual_seed(0)
    types = torch.randint(0, 4, (64, 9), generator=g)
    upper = torch.randint(0, 4, (64, 9, 9), generator=g).triu(1) * (torch.rand(64, 9, 9, generator=g) < 0.4)
    adj = upper + upper.transpose(1, 2)
    mols = graphs_to_mols(types, adj, QM9_ATOMS)
    as_is = sum(map(is_valid_mol, mols))
    fixed = [correct_valency(m) for m in mols]
    assert as_is < 32 and all(m is not None and is_valid_mol(m) for m in fixed)
    assert all(len(Chem.GetMolFrags(m)) == 1 for m in fixed)


def test_decode_and_correct_reports_validity_as_is_and_after_correction():
    from sheafgraph.chem import decode_and_correct
    types = torch.tensor([[0, 0, 0, 0, 0, 0], [0, 2, -1, -1, -1, -1]])          # C6 star; C=O
    adj = torch.zeros(2, 6, 6, dtype=torch.long)
    adj[0, 0, 1:] = adj[0, 1:, 0] = 1                                            # a carbon with five bonds
    adj[1, 0, 1] = adj[1, 1, 0] = 2
    out = decode_and_correct(types, adj, QM9_ATOMS)
    assert out.valid_as_is == [False, True] and out.validity_without_correction == 0.5
    assert [m.GetNumAtoms() for m in out.corrected] == [5, 2]                    # one bond dropped, largest fragment
    with pytest.raises(ValueError, match="at least one graph"):
        decode_and_correct(types[:0], adj[:0], QM9_ATOMS)
