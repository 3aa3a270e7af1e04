"""A small slice of real QM9 as dense tensors for tests (GDSS encoding: C N O F one-hot, kekulised bond orders)."""
import pandas as pd
import torch
from rdkit import Chem

from sheafgraph.generative.noise import Graphs

ATOMS = {6: 0, 7: 1, 8: 2, 9: 3}


def qm9_slice(shared_data, num: int, start: int = 5000) -> Graphs:
    smiles = pd.read_csv(shared_data / "molecules" / "qm9" / "qm9.csv", nrows=start + num).iloc[start:]
    x, adj = torch.zeros(num, 9, 4), torch.zeros(num, 9, 9)
    for k, smi in enumerate(smiles["SMILES1"]):
        mol = Chem.MolFromSmiles(smi)
        Chem.Kekulize(mol, clearAromaticFlags=True)
        for atom in mol.GetAtoms():
            x[k, atom.GetIdx(), ATOMS[atom.GetAtomicNum()]] = 1
        for bond in mol.GetBonds():
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            adj[k, i, j] = adj[k, j, i] = bond.GetBondTypeAsDouble()
    return Graphs(x, adj, (x.sum(-1) > 0).float())
