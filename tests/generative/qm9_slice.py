"""A small slice of the real QM9 training split as dense tensors for tests (via the chem and data helpers)."""
from sheafgraph.chem import QM9_ATOMS, smiles_to_dense
from sheafgraph.data.molecules import QM9_MAX_ATOMS, load_qm9
from sheafgraph.generative.noise import Graphs


def qm9_slice(shared_data, num: int, start: int = 5000) -> Graphs:
    smiles = load_qm9(shared_data, check_smiles=False).train[start:start + num]
    x, adj = smiles_to_dense(smiles, QM9_ATOMS, QM9_MAX_ATOMS)
    return Graphs(x, adj, (x.sum(-1) > 0).to(x.dtype))
