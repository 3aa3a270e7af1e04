"""Chemistry for molecular graphs: atom vocabularies, SMILES/molecule <-> dense graph (GDSS's kekulised encoding),
validity as is and GDSS's valency correction."""
from sheafgraph.chem.decode import CHARGED_VALENCE, formal_charge, graph_to_mol, graphs_to_mols, sanitized_copy
from sheafgraph.chem.encode import mol_to_graph, parse_smiles, smiles_to_dense, smiles_to_graph
from sheafgraph.chem.valency import (DecodedMolecules, correct_valency, decode_and_correct, is_valid_mol,
                                     is_valid_without_correction)
from sheafgraph.chem.vocabulary import (QM9_ATOMS, VOCABULARIES, ZINC250K_ATOMS, AtomVocabulary,
                                        get_vocabulary)

__all__ = [
    "AtomVocabulary", "CHARGED_VALENCE", "DecodedMolecules", "QM9_ATOMS", "VOCABULARIES", "ZINC250K_ATOMS",
    "correct_valency", "decode_and_correct", "formal_charge", "get_vocabulary", "graph_to_mol", "graphs_to_mols",
    "is_valid_mol", "is_valid_without_correction", "mol_to_graph", "parse_smiles", "sanitized_copy", "smiles_to_dense",
    "smiles_to_graph",
]
