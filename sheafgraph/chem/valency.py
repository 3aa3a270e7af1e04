r"""Validity of decoded molecules, and GDSS's valency correction (Jo et al., ICML 2022, App. C.2; MoFlow's rule).

**Validity without correction** (GDSS's headline metric) of a graph: the molecule decoded *as is* by
:func:`sheafgraph.chem.graph_to_mol` -- every bond kept, formal charges only by GDSS's rule (N+ with bond-order
sum 4, O+ with 3; see :mod:`sheafgraph.chem.decode`) -- has at least one atom and passes ``Chem.SanitizeMol``,
i.e. every atom's bond-order sum is at most the largest valence RDKit allows for its element and charge (C 4; N 3;
N+ 4; O 2; O+ 3; F, Cl, Br 1; P 5; S 6; I 5), implicit hydrogens filling up to the next allowed valence.
Disconnected graphs count as valid when every fragment is (as in GDSS); an empty graph is not a molecule.

**Valency correction** (:func:`correct_valency`): while some atom exceeds its valence, take the first such atom
(RDKit's order), lower the order of its highest-order bond by one (the first in RDKit's bond order among equals;
a single bond is removed) and re-apply the charge rule to the two atoms of that bond; then keep the largest
connected fragment (most atoms, the first among equals; GDSS compares fragment SMILES lengths instead). Aromatic
bonds (the aromatic-aware encoding) are kekulised first; where they cannot be (e.g. an aromatic bond outside a ring),
every aromatic bond of the molecule becomes a single bond before the valences are corrected.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional

from rdkit import Chem
from rdkit.rdBase import BlockLogs

from sheafgraph.chem.decode import (BOND_TYPES, ArrayLike, formal_charge, graph_to_mol, graphs_to_mols,
                                    sanitized_copy)
from sheafgraph.chem.vocabulary import AtomVocabulary


def is_valid_mol(mol: Optional[Chem.Mol]) -> bool:
    """True if ``mol`` has at least one atom and a copy of it passes ``Chem.SanitizeMol`` (``None`` is invalid)."""
    return sanitized_copy(mol) is not None


def is_valid_without_correction(x: ArrayLike, adj: ArrayLike, vocab: AtomVocabulary) -> bool:
    """Validity of one graph decoded as is (module docstring).

    Shapes:
        x: ``(N, |V|)`` one-hot or ``(N,)`` type indices; adj: ``(N, N)`` bond orders.
    """
    return is_valid_mol(graph_to_mol(x, adj, vocab))


def _bond_order_sum(atom: Chem.Atom) -> int:
    return int(sum(b.GetBondTypeAsDouble() for b in atom.GetBonds()))


def correct_valency(mol: Chem.Mol) -> Optional[Chem.Mol]:
    """GDSS's valency correction (module docstring): a sanitised molecule, or None if it cannot be corrected.

    Aromatic input is kekulised first (every aromatic bond made single where that fails). Returns None for an empty
    molecule, for a problem other than an atom's valence, or if an over-valent atom has no bond left to lower.
    """
    if not isinstance(mol, Chem.Mol):
        raise TypeError(f"expected an rdkit Chem.Mol, got {type(mol).__name__}")
    if mol.GetNumAtoms() == 0:
        return None
    rw = Chem.RWMol(mol)
    with BlockLogs():
        if any(b.GetIsAromatic() for b in rw.GetBonds()):
            try:
                Chem.Kekulize(rw, clearAromaticFlags=True)
            except Chem.MolSanitizeException:
                rw = Chem.RWMol(mol)
                for bond in rw.GetBonds():
                    if bond.GetIsAromatic():
                        bond.SetBondType(Chem.BondType.SINGLE)
                        bond.SetIsAromatic(False)
                for atom in rw.GetAtoms():
                    atom.SetIsAromatic(False)
        while True:
            problems = Chem.DetectChemistryProblems(rw)
            if not problems:
                break
            valence = [p for p in problems if p.GetType() == "AtomValenceException"]
            if not valence:
                return None
            atom = rw.GetAtomWithIdx(valence[0].GetAtomIdx())
            bonds = list(atom.GetBonds())
            if not bonds:
                return None
            bond = max(bonds, key=lambda b: b.GetBondTypeAsDouble())  # first of the highest order
            i, j, order = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), int(bond.GetBondTypeAsDouble())
            if order == 1:
                rw.RemoveBond(i, j)
            else:
                bond.SetBondType(BOND_TYPES[order - 1])
            for k in (i, j):
                end = rw.GetAtomWithIdx(k)
                end.SetFormalCharge(formal_charge(end.GetSymbol(), _bond_order_sum(end)))
        if Chem.SanitizeMol(rw, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
            return None
    fragments = Chem.GetMolFrags(rw.GetMol(), asMols=True)
    return max(fragments, key=lambda f: f.GetNumAtoms())


class DecodedMolecules(NamedTuple):
    """GDSS's decoding of generated graphs: the molecules as decoded, whether each is valid as is, and each after
    :func:`correct_valency` (None where nothing valid is left)."""

    raw: List[Chem.Mol]
    valid_as_is: List[bool]
    corrected: List[Optional[Chem.Mol]]

    @property
    def validity_without_correction(self) -> float:
        return sum(self.valid_as_is) / len(self.raw)


def decode_and_correct(x: ArrayLike, adj: ArrayLike, vocab: AtomVocabulary) -> DecodedMolecules:
    """Decode graphs (:func:`sheafgraph.chem.graphs_to_mols`), test validity as is, then correct valencies.

    Shapes:
        x: ``(B, N, |V|)`` one-hot or ``(B, N)`` type indices (-1 = padding); adj: ``(B, N, N)`` bond orders.
    """
    raw = graphs_to_mols(x, adj, vocab)
    if not raw:
        raise ValueError("decode_and_correct needs at least one graph")
    return DecodedMolecules(raw, [is_valid_mol(m) for m in raw], [correct_valency(m) for m in raw])
