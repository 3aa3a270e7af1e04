r"""Molecule datasets as train/test SMILES lists, in GDSS's splits (Jo et al., ICML 2022), and their dense graphs.

Layout under the data root (``root``, else ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``)::

    molecules/qm9/qm9.csv                 columns row,SMILES1 (row = index used by the split file)
    molecules/qm9/valid_idx_qm9.json      {"valid_idxs": ["000123", ...]}: the test rows (MoFlow/GDSS split)
    molecules/moses/{train,test,test_scaffolds}.csv.gz     one column SMILES (MOSES benchmark)
    molecules/zinc250k/zinc250k.csv       columns ,smiles,logP,qed,SAS (the unnamed column is the row index)
    molecules/zinc250k/valid_idx_zinc250k.json             list of test row indices (MoFlow/GDSS split)

Every SMILES is checked as the encoding reads it (:func:`sheafgraph.chem.parse_smiles`); rows that fail, or are
empty, are skipped with a ``warnings.warn`` giving their count. Turn a list into GDSS's dense tensors with
:func:`smiles_to_dense` (the node mask is ``x.sum(-1) > 0``), or :func:`cached_smiles_to_dense` to keep the
result in a cache folder (all of QM9 takes tens of seconds on a busy 2-core machine):

    >>> splits = load_qm9()
    >>> x, adj = smiles_to_dense(splits.train, QM9_ATOMS, QM9_MAX_ATOMS)   # (117917, 9, 4), (117917, 9, 9)
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from torch import Tensor

from sheafgraph.chem.encode import parse_smiles, smiles_to_dense
from sheafgraph.chem.vocabulary import QM9_ATOMS, ZINC250K_ATOMS, AtomVocabulary
from sheafgraph.data.paths import data_root, reading, require_file, verify_sha256
from sheafgraph.utils.checkpoint import load_checkpoint, save_checkpoint
from sheafgraph.utils.checks import check_choice, positive_int

QM9_MAX_ATOMS = 9
ZINC250K_MAX_ATOMS = 38
MOSES_MAX_ATOMS = 27

SHA256 = {
    "qm9/qm9.csv": "fb6717824a8e774f555c74c48dfbe9d193803c993d53e20ca67e3cd15191bf7c",
    "qm9/valid_idx_qm9.json": "889fd232a33d8a2c00f057c807b119e72abd5baa48f6fab93e8d8b7a79340f4d",
    "moses/train.csv.gz": "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c",
    "moses/test.csv.gz": "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2",
    "moses/test_scaffolds.csv.gz": "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde",
}
QM9_HINT = ("QM9 as used by MoFlow/GDSS: qm9.csv with columns row,SMILES1 (built from PyPI qm9pack 1.0.3, or "
            "MoFlow's qm9.csv with verify=False) and valid_idx_qm9.json from the MoFlow/GDSS repositories; put them "
            "in <root>/molecules/qm9/")
MOSES_HINT = ("the MOSES benchmark files (PyPI package molsets 0.3.1, moses/dataset/data/); put train.csv.gz, "
              "test.csv.gz and test_scaffolds.csv.gz in <root>/molecules/moses/")
ZINC_HINT = ("ZINC250k as used by GDSS (zinc250k.csv with columns ,smiles,logP,qed,SAS and "
             "valid_idx_zinc250k.json, from the GDSS/MoFlow repositories); put them in <root>/molecules/zinc250k/")
MOSES_TEST_SETS = ("test", "test_scaffolds")


class MoleculeSplits(NamedTuple):
    """Train and test SMILES, in file order."""

    train: List[str]
    test: List[str]


class DatasetSpec(NamedTuple):
    """The atom vocabulary and padded size GDSS uses for a dataset."""

    vocab: AtomVocabulary
    max_atoms: int


MOLECULE_DATASETS: Dict[str, DatasetSpec] = {
    "qm9": DatasetSpec(QM9_ATOMS, QM9_MAX_ATOMS),
    "zinc250k": DatasetSpec(ZINC250K_ATOMS, ZINC250K_MAX_ATOMS),
    "moses": DatasetSpec(ZINC250K_ATOMS, MOSES_MAX_ATOMS),
}


def molecule_dataset_spec(name: str) -> DatasetSpec:
    """Vocabulary and max atoms of ``"qm9"``, ``"zinc250k"`` or ``"moses"``."""
    if name not in MOLECULE_DATASETS:
        raise ValueError(f"unknown molecule dataset {name!r}; valid names: {', '.join(MOLECULE_DATASETS)}")
    return MOLECULE_DATASETS[name]


def load_qm9(root: Optional[os.PathLike] = None, *, verify: bool = True, check_smiles: bool = True
             ) -> MoleculeSplits:
    """QM9 (up to 9 heavy atoms C, N, O, F) in the MoFlow/GDSS split: test = the rows in ``valid_idx_qm9.json``.

    With the shipped file (130,831 molecules: QM9 without its 3,054 "uncharacterized" ones) the test set has
    12,914 molecules (the 168 other split rows are uncharacterized) and the training set 117,917. A csv without a
    ``row`` column (MoFlow's own qm9.csv, ``verify=False``) is indexed by position.

    Args:
        root: data directory (default ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        verify: check the files' sha256 against the released data.
        check_smiles: parse every SMILES and skip (with a warning) those the encoding cannot read; False trusts
            the file (faster: QM9 takes a few seconds to check).
    """
    base = data_root(root) / "molecules" / "qm9"
    table = require_file(base / "qm9.csv", QM9_HINT)
    split = require_file(base / "valid_idx_qm9.json", QM9_HINT)
    if verify:
        _verify(base.parent, ("qm9/qm9.csv", "qm9/valid_idx_qm9.json"))
    rows, smiles = _read_table(table, "SMILES1", index_column="row")
    return _split(rows, smiles, _test_rows(split), table, check_smiles)


def load_zinc250k(root: Optional[os.PathLike] = None, *, check_smiles: bool = True) -> MoleculeSplits:
    """ZINC250k in the MoFlow/GDSS layout: test = the row indices in ``valid_idx_zinc250k.json``.

    GDSS's file has 249,455 molecules of up to 38 heavy atoms (C, N, O, F, P, S, Cl, Br, I); the json lists
    positions (0-based rows) of the csv. SMILES are stripped of the newlines the original csv carries. No sha256
    is known for it here.

    Args:
        root: data directory (default ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        check_smiles: as in :func:`load_qm9`.
    """
    base = data_root(root) / "molecules" / "zinc250k"
    table = require_file(base / "zinc250k.csv", ZINC_HINT)
    split = require_file(base / "valid_idx_zinc250k.json", ZINC_HINT)
    rows, smiles = _read_table(table, "smiles", index_column="")
    return _split(rows, smiles, _test_rows(split), table, check_smiles)


def load_moses(root: Optional[os.PathLike] = None, *, limit: Optional[int] = None, test_set: str = "test",
               verify: bool = True, check_smiles: bool = True) -> MoleculeSplits:
    """MOSES (Polykovskiy et al., 2020): 1,584,663 training and 176,074 test SMILES (up to 27 heavy atoms).

    Args:
        root: data directory (default ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        limit: keep only the first ``limit`` rows of each file (the full files take a while to check).
        test_set: ``"test"`` or ``"test_scaffolds"`` (MOSES's scaffold test set).
        verify: check the files' sha256 against the released data (skipped when ``limit`` is given).
        check_smiles: as in :func:`load_qm9`.
    """
    check_choice(test_set, MOSES_TEST_SETS, "MOSES test set")
    if limit is not None:
        positive_int(limit, "limit")
    base = data_root(root) / "molecules" / "moses"
    files = [require_file(base / f"{name}.csv.gz", MOSES_HINT) for name in ("train", test_set)]
    if verify and limit is None:
        _verify(base.parent, [f"moses/{f.name}" for f in files])
    out = []
    for path in files:
        rows, smiles = _read_table(path, "SMILES", limit=limit)
        out.append(_checked(rows, smiles, path)[1] if check_smiles else smiles)
    return MoleculeSplits(*out)


def cached_smiles_to_dense(smiles: Sequence[str], vocab: AtomVocabulary, max_atoms: int,
                           cache_dir: Optional[os.PathLike] = None) -> Tuple[Tensor, Tensor]:
    """:func:`smiles_to_dense` with an opt-in cache: ``<cache_dir>/dense-<key>.pt``, keyed by the sha256 of the
    SMILES list, the vocabulary and ``max_atoms`` (so it is never stale). Without ``cache_dir`` nothing is cached.

    Shapes:
        returns x ``(M, max_atoms, |V|)`` and adj ``(M, max_atoms, max_atoms)``, float32.
    """
    if cache_dir is None:
        return smiles_to_dense(smiles, vocab, max_atoms)
    digest = hashlib.sha256("\n".join([",".join(vocab.symbols), str(max_atoms), *smiles]).encode()).hexdigest()
    path = Path(cache_dir) / f"dense-{digest[:24]}.pt"
    if path.is_file():
        state = load_checkpoint(path)
        return state["x"], state["adj"]
    x, adj = smiles_to_dense(smiles, vocab, max_atoms)
    save_checkpoint({"x": x, "adj": adj}, path)
    return x, adj


def _verify(base: Path, keys: Sequence[str]) -> None:
    for key in keys:
        verify_sha256(base / key, SHA256[key])


def _read_table(path: Path, column: str, index_column: Optional[str] = None, limit: Optional[int] = None
                ) -> Tuple[List[int], List[str]]:
    """Row indices (from ``index_column`` if the file has it, else positions) and stripped SMILES of a csv(.gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with reading(path, f"csv{'.gz' if path.suffix == '.gz' else ''} file with a {column!r} column"), \
            opener(path, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or column not in header:
            raise ValueError(f"no column {column!r} (header: {header})")
        c = header.index(column)
        i = header.index(index_column) if index_column is not None and index_column in header else None
        rows, smiles = [], []
        for k, record in enumerate(reader):
            if limit is not None and k >= limit:
                break
            rows.append(int(record[i]) if i is not None else k)
            smiles.append(record[c].strip() if c < len(record) else "")
    return rows, smiles


def _test_rows(path: Path) -> Set[int]:
    """Test row indices from MoFlow/GDSS's json: ``{"valid_idxs": ["000123", ...]}`` or a plain list."""
    with reading(path, "json list of test row indices"), open(path) as f:
        content = json.load(f)
    idx = content.get("valid_idxs") if isinstance(content, dict) else content
    if not isinstance(idx, list):
        raise ValueError(f"{path} must hold a list of row indices or {{'valid_idxs': [...]}}")
    return {int(i) for i in idx}


def _split(rows: List[int], smiles: List[str], test_rows: Set[int], path: Path, check: bool) -> MoleculeSplits:
    if check:
        rows, smiles = _checked(rows, smiles, path)
    train = [s for r, s in zip(rows, smiles) if r not in test_rows]
    test = [s for r, s in zip(rows, smiles) if r in test_rows]
    return MoleculeSplits(train, test)


def _checked(rows: List[int], smiles: List[str], path: Path) -> Tuple[List[int], List[str]]:
    """The rows whose SMILES the encoding can read; a warning with the count of the others."""
    kept_rows, kept, bad = [], [], []
    for r, s in zip(rows, smiles):
        try:
            parse_smiles(s)
        except ValueError:
            bad.append((r, s))
            continue
        kept_rows.append(r)
        kept.append(s)
    if bad and not kept:
        raise ValueError(f"{path}: none of its {len(rows)} SMILES can be read (RDKit parse, valence check and "
                         f"kekulisation; first: row {bad[0][0]} {bad[0][1]!r})")
    if bad:
        r, s = bad[0]
        warnings.warn(f"{path}: skipped {len(bad)} of {len(rows)} rows whose SMILES RDKit cannot parse, valence-check "
                      f"and kekulise (first: row {r} {s!r})", stacklevel=2)
    return kept_rows, kept


__all__ = [
    "DatasetSpec", "MOLECULE_DATASETS", "MOSES_MAX_ATOMS", "MoleculeSplits", "QM9_MAX_ATOMS", "ZINC250K_MAX_ATOMS",
    "cached_smiles_to_dense", "load_moses", "load_qm9", "load_zinc250k", "molecule_dataset_spec", "smiles_to_dense",
]
