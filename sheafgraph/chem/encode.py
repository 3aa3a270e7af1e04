r"""Molecule -> dense graph: GDSS's encoding (Jo et al., ICML 2022, Sec. 4.3 and App. C.2).

A molecule with :math:`n \le N` heavy atoms becomes

* ``x (N, |V|)``: :math:`x_{ik} = 1` if atom :math:`i` is element ``vocab.symbols[k]``; rows :math:`i \ge n` are
  zero (padding), so the node mask is ``x.sum(-1) > 0``;
* ``adj (N, N)``: :math:`A_{ij} \in \{0, 1, 2, 3\}` the bond order between atoms :math:`i` and :math:`j` after
  kekulisation (aromatic rings become alternating single/double bonds), symmetric with zero diagonal.

With ``aromatic=True`` (the *aromatic-aware* encoding) RDKit's aromaticity perception is kept instead: an aromatic
bond has :math:`A_{ij} = 1.5`, so :math:`A_{ij} \in \{0, 1, 1.5, 2, 3\}`. A benzene ring is then six equal entries,
a local pattern, where the kekulised form asks a generator for a global alternation.

Atoms keep RDKit's order (the SMILES order). Hydrogens are implicit; formal charges, isotopes and stereochemistry
are not encoded (as in GDSS), so a zwitterion such as ``[NH3+]CC([O-])=O`` encodes like ``NCC(O)=O``.
"""
from __future__ import annotations

from typing import Callable, Sequence, Tuple

import numpy as np
import torch
from rdkit import Chem
from rdkit.rdBase import BlockLogs
from torch import Tensor

from sheafgraph.chem.vocabulary import AtomVocabulary
from sheafgraph.utils.checks import positive_int

# parse without full sanitisation, then run only the checks the encoding needs (RDKit's cleanup of e.g. nitro
# groups, the valence check and kekulisation); aromaticity perception is skipped since it is undone anyway
_PARSER = Chem.SmilesParserParams()
_PARSER.sanitize = False
_PARSER.removeHs = True
_CHECKS = Chem.SanitizeFlags.SANITIZE_CLEANUP | Chem.SanitizeFlags.SANITIZE_PROPERTIES \
    | Chem.SanitizeFlags.SANITIZE_KEKULIZE


def parse_smiles(smiles: str, aromatic: bool = False) -> Chem.Mol:
    """Kekulised RDKit molecule of ``smiles`` (explicit hydrogens removed; aromatic bonds become single/double), or
    with ``aromatic=True`` fully sanitised with RDKit's aromaticity perception (aromatic bonds kept).

    Raises ValueError quoting ``smiles`` if RDKit cannot parse it, it has no atoms, or it fails RDKit's valence
    check or kekulisation (the sanitisation steps the encoding relies on).
    """
    if not isinstance(smiles, str):
        raise TypeError(f"a SMILES must be a str, got {type(smiles).__name__}")
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles, _PARSER)
        checks = Chem.SanitizeFlags.SANITIZE_ALL if aromatic else _CHECKS
        ok = mol is not None and mol.GetNumAtoms() > 0 \
            and Chem.SanitizeMol(mol, checks, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE
    if not ok:
        raise ValueError(f"malformed SMILES {smiles!r}: RDKit cannot parse, valence-check and kekulise it")
    return mol


def _check_max_atoms(max_atoms: int) -> None:
    positive_int(max_atoms, "max_atoms")


def mol_to_graph(mol: Chem.Mol, vocab: AtomVocabulary, max_atoms: int) -> Tuple[Tensor, Tensor]:
    """Dense graph of an RDKit molecule (kekulised on a copy); see the module docstring for the encoding.

    Shapes:
        returns x ``(max_atoms, |V|)`` and adj ``(max_atoms, max_atoms)``, float32.
    """
    _check_max_atoms(max_atoms)
    if not isinstance(mol, Chem.Mol):
        raise TypeError(f"mol must be an rdkit Chem.Mol, got {type(mol).__name__}")
    mol = Chem.Mol(mol)
    try:
        with BlockLogs():
            Chem.Kekulize(mol, clearAromaticFlags=True)
    except Chem.KekulizeException:
        raise ValueError(f"molecule {Chem.MolToSmiles(mol)!r} cannot be kekulised") from None
    x, adj = _dense([mol], vocab, max_atoms, lambda i: f"molecule {Chem.MolToSmiles(mol)!r}")
    return x[0], adj[0]


def smiles_to_graph(smiles: str, vocab: AtomVocabulary, max_atoms: int, *, aromatic: bool = False
                    ) -> Tuple[Tensor, Tensor]:
    """Dense graph of one SMILES (see the module docstring for the encoding; ``aromatic=True``: aromatic-aware).

    Raises ValueError for a malformed SMILES (quoting it), an element outside ``vocab`` (naming both) and more
    than ``max_atoms`` heavy atoms (giving the count).

    Shapes:
        returns x ``(max_atoms, |V|)`` and adj ``(max_atoms, max_atoms)``, float32.

    Example:
        >>> x, adj = smiles_to_graph("c1ccccc1", QM9_ATOMS, 9)   # benzene: alternating 1/2 bond orders
    """
    _check_max_atoms(max_atoms)
    x, adj = _dense([parse_smiles(smiles, aromatic)], vocab, max_atoms, lambda i: f"SMILES {smiles!r}", aromatic)
    return x[0], adj[0]


def smiles_to_dense(smiles: Sequence[str], vocab: AtomVocabulary, max_atoms: int, *, aromatic: bool = False
                    ) -> Tuple[Tensor, Tensor]:
    """Dense graphs of many SMILES, one row each, in order (errors as :func:`smiles_to_graph`, plus the position);
    ``aromatic=True``: the aromatic-aware encoding (module docstring).

    Shapes:
        returns x ``(M, max_atoms, |V|)`` and adj ``(M, max_atoms, max_atoms)``, float32, for ``M = len(smiles)``.
    """
    _check_max_atoms(max_atoms)
    mols = []
    for i, s in enumerate(smiles):
        try:
            mols.append(parse_smiles(s, aromatic))
        except (TypeError, ValueError) as e:
            raise type(e)(f"SMILES #{i}: {e}") from None
    return _dense(mols, vocab, max_atoms, lambda i: f"SMILES #{i} {smiles[i]!r}", aromatic)


def _dense(mols: Sequence[Chem.Mol], vocab: AtomVocabulary, max_atoms: int, describe: Callable[[int], str],
           aromatic: bool = False) -> Tuple[Tensor, Tensor]:
    """Stack kekulised (or, ``aromatic``, aromaticity-perceived) molecules into padded ``x (M, N, |V|)``,
    ``adj (M, N, N)``; ``describe(i)`` names mol i."""
    m = len(mols)
    sizes = np.fromiter((mol.GetNumAtoms() for mol in mols), dtype=np.int64, count=m)
    if m and sizes.max() > max_atoms:
        i = int(np.argmax(sizes > max_atoms))
        raise ValueError(f"{describe(i)} has {sizes[i]} heavy atoms, more than max_atoms={max_atoms}")
    numbers = np.fromiter((mol.GetAtomWithIdx(k).GetAtomicNum() for mol, n in zip(mols, sizes.tolist())
                           for k in range(n)), dtype=np.int64, count=int(sizes.sum()))
    types = vocab.lookup[numbers]
    mol_index = np.repeat(np.arange(m), sizes)
    atom_index = np.arange(types.shape[0]) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    if (types < 0).any():
        j = int(np.argmax(types < 0))
        symbol = mols[mol_index[j]].GetAtomWithIdx(int(atom_index[j])).GetSymbol()
        raise ValueError(f"{describe(int(mol_index[j]))} has atom {symbol!r}, which is not in the atom vocabulary "
                         f"({', '.join(vocab.symbols)})")
    x = np.zeros((m, max_atoms, len(vocab)), dtype=np.float32)
    x[mol_index, atom_index, types] = 1.0
    adj = np.zeros((m, max_atoms, max_atoms), dtype=np.float32)
    for i, (mol, n) in enumerate(zip(mols, sizes.tolist())):
        adj[i, :n, :n] = Chem.GetAdjacencyMatrix(mol, useBO=True)
    allowed = ("SINGLE", "DOUBLE", "TRIPLE") + (("AROMATIC",) if aromatic else ())
    unusual = ~np.isin(adj, (0, 1, 2, 3) + ((1.5,) if aromatic else ()))
    if unusual.any():
        i = int(np.argmax(unusual.any((1, 2))))
        kinds = sorted({str(b.GetBondType()) for b in mols[i].GetBonds()} - set(allowed))
        raise ValueError(f"{describe(i)} has bonds of type {', '.join(kinds)}; only {', '.join(allowed).lower()} "
                         "bonds can be encoded" + ("" if aromatic else " (after kekulisation)"))
    return torch.from_numpy(x), torch.from_numpy(adj)
