r"""Molecule generation metrics of GDSS (Jo et al., ICML 2022, Tab. 2) and MOSES (Polykovskiy et al., 2020).

A *molecule* argument is a list whose items are SMILES strings, RDKit molecules or ``None`` (a failed sample).
An item is **valid** if it is not None, has at least one atom and RDKit sanitises it (a SMILES: parses and
sanitises). Molecules are compared by canonical SMILES *without stereochemistry* (``isomericSmiles=False``): the
generated graphs carry none, so stereo-isomers of the reference sets count as the same molecule.

* validity = #valid / #items;
* validity without correction = fraction of decoded graphs valid as is (:mod:`sheafgraph.chem.valency`);
* uniqueness = #distinct canonical SMILES among valid / #valid;
* novelty = #distinct valid not in the reference (training) set / #distinct valid;
* FCD: Fréchet ChemNet distance (Preuer et al., 2018) via the optional ``fcd_torch`` package;
* NSPDK MMD: :func:`sheafgraph.metrics.nspdk.nspdk_mmd`.

Uniqueness and novelty are 0 when nothing is valid. GDSS computes uniqueness, novelty, FCD and NSPDK on the
molecules after valency correction, FCD and NSPDK against the test set: :func:`evaluate_generated_molecules`
runs that whole protocol on a batch of generated graphs.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Set, Union

import numpy as np
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from sheafgraph.chem.decode import ArrayLike, graphs_to_mols, sanitized_copy
from sheafgraph.chem.valency import decode_and_correct, is_valid_mol
from sheafgraph.chem.vocabulary import AtomVocabulary
from sheafgraph.metrics.nspdk import nspdk_mmd

MoleculeLike = Union[str, Chem.Mol, None]

FCD_INSTALL_HINT = "FCD needs the optional package fcd_torch: pip install -e .[metrics] (or pip install fcd-torch)"


def sanitized_mol(item: MoleculeLike) -> Optional[Chem.Mol]:
    """A sanitised molecule from a SMILES or molecule, or None if the item is not valid (module docstring)."""
    if isinstance(item, str):
        with BlockLogs():
            mol = Chem.MolFromSmiles(item)
        return mol if mol is not None and mol.GetNumAtoms() > 0 else None
    if item is None or isinstance(item, Chem.Mol):
        return sanitized_copy(item)
    raise TypeError(f"molecules must be SMILES strings, rdkit Chem.Mol or None, got {type(item).__name__}")


def canonical_smiles(item: MoleculeLike) -> Optional[str]:
    """Canonical SMILES without stereochemistry, or None if the item is not valid."""
    mol = sanitized_mol(item)
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)


def _canonical(molecules: Sequence[MoleculeLike]) -> List[Optional[str]]:
    if isinstance(molecules, (str, Chem.Mol)) or len(molecules) == 0:
        raise ValueError("expected a non-empty list of molecules (SMILES, rdkit Chem.Mol or None)")
    return [canonical_smiles(m) for m in molecules]


def canonical_set(molecules: Iterable[MoleculeLike]) -> Set[str]:
    """Canonical SMILES of the valid items (e.g. of a training set, for :func:`novelty`)."""
    return {s for s in map(canonical_smiles, molecules) if s is not None}


def validity(molecules: Sequence[MoleculeLike]) -> float:
    """Fraction of items that are valid."""
    smiles = _canonical(molecules)
    return sum(s is not None for s in smiles) / len(smiles)


def validity_without_correction(x: ArrayLike, adj: ArrayLike, vocab: AtomVocabulary, *,
                                charge_rule: bool = True, aromatic_hydrogens: bool = True) -> float:
    """Fraction of graphs valid as decoded, without valency correction (GDSS's "Val. w/o corr."); with
    ``charge_rule=False`` without GDSS's N+/O+ charges either (every atom neutral), with
    ``aromatic_hydrogens=False`` without the pyrrole-type hydrogen rule for aromatic bonds
    (:mod:`sheafgraph.chem.decode`).

    Shapes:
        x: ``(B, N, |V|)`` one-hot or ``(B, N)`` type indices (-1 = padding); adj: ``(B, N, N)`` bond orders.
    """
    mols = graphs_to_mols(x, adj, vocab, charge_rule=charge_rule, aromatic_hydrogens=aromatic_hydrogens)
    if not mols:
        raise ValueError("validity_without_correction needs at least one graph")
    return sum(map(is_valid_mol, mols)) / len(mols)


def uniqueness(molecules: Sequence[MoleculeLike]) -> float:
    """Distinct canonical SMILES among the valid items over the number of valid items (0 if none is valid)."""
    valid = [s for s in _canonical(molecules) if s is not None]
    return len(set(valid)) / len(valid) if valid else 0.0


def vun(molecules: Sequence[MoleculeLike], reference: Iterable[MoleculeLike]) -> float:
    """V.U.N.: the fraction of all samples that are valid, unique (the first of each canonical SMILES counts) and
    novel (not in ``reference``, the training molecules)."""
    if not molecules:
        raise ValueError("vun needs at least one molecule")
    known, seen = canonical_set(reference), set()
    for smiles in _canonical(molecules):
        if smiles is not None and smiles not in known:
            seen.add(smiles)
    return len(seen) / len(molecules)


def molecule_properties(molecules: Sequence[MoleculeLike]) -> Dict[str, float]:
    """Chemistry of a set of valid molecules, to compare samples with data (issue-17 table): the share of molecules
    with an aromatic ring, with a charged atom, with at most 7 heavy atoms, the share of fluorine among heavy atoms,
    and the shares of double and triple bonds among all bonds (Kekulé form)."""
    mols = [m for m in map(sanitized_mol, molecules) if m is not None]
    if not mols:
        raise ValueError("molecule_properties needs at least one valid molecule")
    atoms = [a for m in mols for a in m.GetAtoms()]
    orders = []
    for m in mols:
        kekule = Chem.Mol(m)
        Chem.Kekulize(kekule, clearAromaticFlags=True)
        orders += [b.GetBondTypeAsDouble() for b in kekule.GetBonds()]
    n = len(mols)
    return {"aromatic_ring": sum(any(a.GetIsAromatic() for a in m.GetAtoms()) for m in mols) / n,
            "charged_atom": sum(any(a.GetFormalCharge() != 0 for a in m.GetAtoms()) for m in mols) / n,
            "at_most_7_atoms": sum(m.GetNumAtoms() <= 7 for m in mols) / n,
            "fluorine_atoms": sum(a.GetSymbol() == "F" for a in atoms) / len(atoms),
            "double_bonds": orders.count(2.0) / max(len(orders), 1),
            "triple_bonds": orders.count(3.0) / max(len(orders), 1)}


def novelty(molecules: Sequence[MoleculeLike], reference: Iterable[MoleculeLike]) -> float:
    """Fraction of the distinct valid items whose canonical SMILES is not in ``reference`` (0 if none is valid).

    Args:
        molecules: generated molecules.
        reference: the training molecules (canonicalised here, so the output of :func:`canonical_set` works too).
    """
    generated = {s for s in _canonical(molecules) if s is not None}
    if not generated:
        return 0.0
    known = canonical_set(reference)
    return len(generated - known) / len(generated)


@lru_cache(maxsize=2)
def _chemnet(device: str, batch_size: int):
    try:
        from fcd_torch import FCD
    except ImportError as e:
        raise ImportError(FCD_INSTALL_HINT) from e
    return FCD(device=device, n_jobs=1, batch_size=batch_size)


def _covariance_factor(a: np.ndarray) -> np.ndarray:
    """A matrix F with F F^T = cov(a) (rows = samples, unbiased), of shape (d, min(n, d))."""
    n, d = a.shape
    centred = (a - a.mean(0)) / np.sqrt(n - 1)
    if n <= d:
        return centred.T
    w, v = np.linalg.eigh(centred.T @ centred)
    return v * np.sqrt(np.clip(w, 0.0, None))


class GaussianStats(NamedTuple):
    """What the Fréchet distance needs of a set of activations: the mean and a factor F with F F^T = cov."""
    mean: np.ndarray
    factor: np.ndarray

    @classmethod
    def of(cls, activations: np.ndarray) -> "GaussianStats":
        """Statistics of ``(n, d)`` activations, n >= 2."""
        a = np.asarray(activations, dtype=np.float64)
        if a.ndim != 2 or len(a) < 2:
            raise ValueError(f"activations must be an (n, d) array with n >= 2, got shape {a.shape}")
        return cls(a.mean(0), _covariance_factor(a))


def frechet_distance(a: Union[np.ndarray, GaussianStats], b: Union[np.ndarray, GaussianStats]) -> float:
    r"""Fréchet distance between Gaussians fitted to two sets of activations (the FCD formula).

    :math:`d^2 = \lVert\mu_a-\mu_b\rVert^2 + \mathrm{Tr}\,\Sigma_a + \mathrm{Tr}\,\Sigma_b
    - 2\,\mathrm{Tr}(\Sigma_a\Sigma_b)^{1/2}`, with unbiased covariances. For :math:`\Sigma = F F^\top`,
    :math:`\mathrm{Tr}(\Sigma_a\Sigma_b)^{1/2} = \lVert F_a^\top F_b\rVert_*` (the eigenvalues of
    :math:`\Sigma_a\Sigma_b` are the squared singular values of :math:`F_a^\top F_b`), which is exact also for
    singular covariances and avoids the matrix square root ``fcd_torch`` takes with ``scipy.linalg.sqrtm``.

    Shapes:
        a, b: ``(n, d)`` activations with n >= 2 (or their :class:`GaussianStats`), the same d.
    """
    sa, sb = (x if isinstance(x, GaussianStats) else GaussianStats.of(x) for x in (a, b))
    if sa.mean.shape != sb.mean.shape:
        raise ValueError(f"activations must have the same d, got {sa.mean.shape[0]} and {sb.mean.shape[0]}")
    trace_sqrt = np.linalg.svd(sa.factor.T @ sb.factor, compute_uv=False).sum()
    mean_term = np.sum((sa.mean - sb.mean) ** 2)
    return float(mean_term + np.sum(sa.factor ** 2) + np.sum(sb.factor ** 2) - 2.0 * trace_sqrt)


def _chemnet_stats(smiles: List[str], device: str, batch_size: int) -> GaussianStats:
    model = _chemnet(device, batch_size)
    with warnings.catch_warnings():  # fcd_torch 1.0.7 calls numpy's deprecated row_stack
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="fcd_torch")
        return GaussianStats.of(model.get_predictions(smiles))


def _cached_chemnet_stats(smiles: List[str], device: str, batch_size: int, cache_dir: Path) -> GaussianStats:
    """ChemNet statistics of a set, stored in ``cache_dir`` under a hash of its sorted SMILES and the fcd_torch
    version (written atomically, read without pickle)."""
    try:
        version = importlib.metadata.version("fcd-torch")
    except importlib.metadata.PackageNotFoundError as e:
        raise ImportError(FCD_INSTALL_HINT) from e
    key = hashlib.sha256("\n".join([version, *sorted(smiles)]).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"chemnet_stats_{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            return GaussianStats(f["mean"], f["factor"])
    stats = _chemnet_stats(smiles, device, batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, mean=stats.mean, factor=stats.factor)
    os.replace(tmp.name, path)
    return stats


def fcd(molecules: Sequence[MoleculeLike], reference: Sequence[MoleculeLike], *, device: str = "cpu",
        batch_size: int = 512, cache_dir: Optional[Union[str, os.PathLike]] = None) -> float:
    r"""Fréchet ChemNet distance (Preuer et al., 2018) between two sets of molecules, as GDSS/MOSES report it.

    ChemNet's penultimate activations come from the optional ``fcd_torch`` package (its bundled weights and
    SMILES handling; works offline); the distance is :func:`frechet_distance` of the two activation sets.
    With ``cache_dir`` the reference set's statistics are kept there (keyed by its SMILES), so evaluating several
    samples against one test set runs ChemNet on the test set once.

    Every item of both sets must be valid (pass the valid molecules, as GDSS does); at least 2 in each set.
    Raises ImportError naming the ``metrics`` extra if ``fcd_torch`` is not installed.
    """
    sets = []
    for name, items in (("molecules", molecules), ("reference", reference)):
        smiles = _canonical(items)
        if None in smiles:
            raise ValueError(f"fcd: item {smiles.index(None)} of {name} is not a valid molecule; pass valid ones only")
        if len(smiles) < 2:
            raise ValueError(f"fcd needs at least 2 molecules per set, got {len(smiles)} in {name}")
        sets.append(smiles)
    generated, reference_smiles = sets
    ref = (_cached_chemnet_stats(reference_smiles, device, batch_size, cache_dir) if cache_dir is not None
           else _chemnet_stats(reference_smiles, device, batch_size))
    return frechet_distance(_chemnet_stats(generated, device, batch_size), ref)


def evaluate_generated_molecules(x: ArrayLike, adj: ArrayLike, vocab: AtomVocabulary, *,
                                 train: Iterable[MoleculeLike], test: Sequence[MoleculeLike],
                                 with_fcd: bool = True, device: str = "cpu") -> Dict[str, float]:
    """GDSS's evaluation of generated graphs: decode, measure validity as is, correct valencies, then score.

    Returns ``validity_without_correction`` (of the graphs as decoded), ``validity`` (after
    :func:`sheafgraph.chem.correct_valency`), and on the corrected valid molecules ``uniqueness``, ``novelty``
    (against ``train``), ``nspdk`` (:func:`nspdk_mmd` against the valid ``test`` molecules) and, if ``with_fcd``,
    ``fcd`` against ``test`` (needs ``fcd_torch``). NSPDK and FCD are NaN when fewer than 2 samples are valid.

    Shapes:
        x: ``(B, N, |V|)`` one-hot or ``(B, N)`` type indices (-1 = padding); adj: ``(B, N, N)`` bond orders.
    """
    decoded = decode_and_correct(x, adj, vocab)
    corrected = decoded.corrected
    valid = [m for m in corrected if m is not None]
    scores = {
        "validity_without_correction": decoded.validity_without_correction,
        "validity": len(valid) / len(corrected),
        "uniqueness": uniqueness(corrected),
        "novelty": novelty(corrected, train),
        "nspdk": float("nan"),
    }
    if with_fcd:
        scores["fcd"] = float("nan")
    if len(valid) >= 2:
        reference = [m for m in map(sanitized_mol, test) if m is not None]
        scores["nspdk"] = nspdk_mmd(reference, valid)
        if with_fcd:
            scores["fcd"] = fcd(valid, reference, device=device)
    return scores


__all__ = [
    "GaussianStats", "canonical_set", "canonical_smiles", "evaluate_generated_molecules", "fcd", "frechet_distance",
    "molecule_properties", "novelty", "nspdk_mmd", "sanitized_mol", "uniqueness", "validity",
    "validity_without_correction", "vun",
]
