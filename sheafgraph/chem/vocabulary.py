"""Atom vocabularies: which heavy-atom elements a molecular graph may hold, and their one-hot order.

GDSS (Jo et al., ICML 2022) one-hot encodes atoms over C, N, O, F for QM9 and over C, N, O, F, P, S, Cl, Br, I for
ZINC250k; MOSES molecules (C, N, O, F, S, Cl, Br) fit the ZINC250k vocabulary. Hydrogens are always implicit.
"""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import numpy as np
from rdkit import Chem

_PERIODIC_TABLE = Chem.GetPeriodicTable()
ELEMENTS: Dict[str, int] = {_PERIODIC_TABLE.GetElementSymbol(z): z for z in range(1, 119)}


class AtomVocabulary:
    """An ordered tuple of element symbols; feature channel ``k`` of a node means element ``symbols[k]``.

    Args:
        symbols: distinct element symbols, e.g. ``("C", "N", "O", "F")``.

    Example:
        >>> vocab = AtomVocabulary(("C", "N", "O", "F"))
        >>> vocab.index("O"), len(vocab)
        (2, 4)
    """

    def __init__(self, symbols: Iterable[str]):
        symbols = tuple(symbols)
        if not symbols:
            raise ValueError("an atom vocabulary needs at least one element symbol")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"atom vocabulary has repeated symbols: {symbols}")
        unknown = [s for s in symbols if s not in ELEMENTS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an element symbol (write it as RDKit does, e.g. 'Cl', not 'CL')")
        numbers = [ELEMENTS[s] for s in symbols]
        self.symbols: Tuple[str, ...] = symbols
        self.atomic_numbers: Tuple[int, ...] = tuple(numbers)
        # atomic number -> channel, -1 where the element is not in the vocabulary
        self.lookup = np.full(119, -1, dtype=np.int64)
        self.lookup[list(numbers)] = np.arange(len(numbers))

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AtomVocabulary) and other.symbols == self.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __repr__(self) -> str:
        return f"AtomVocabulary({', '.join(self.symbols)})"

    @property
    def max_valences(self) -> Tuple[int, ...]:
        """The largest valence RDKit allows each element when neutral (C 4, N 3, O 2, F 1, P 5, S 6, ...)."""
        return tuple(max(_PERIODIC_TABLE.GetValenceList(s)) for s in self.symbols)

    def index(self, symbol: str) -> int:
        """Channel of ``symbol``; ValueError naming the vocabulary if it is not in it."""
        if symbol not in self.symbols:
            raise ValueError(f"element {symbol!r} is not in the atom vocabulary ({', '.join(self.symbols)})")
        return self.symbols.index(symbol)


QM9_ATOMS = AtomVocabulary(("C", "N", "O", "F"))
ZINC250K_ATOMS = AtomVocabulary(("C", "N", "O", "F", "P", "S", "Cl", "Br", "I"))

VOCABULARIES: Dict[str, AtomVocabulary] = {"qm9": QM9_ATOMS, "zinc250k": ZINC250K_ATOMS, "moses": ZINC250K_ATOMS}


def get_vocabulary(name: str) -> AtomVocabulary:
    """The vocabulary registered under ``name`` (``"qm9"``, ``"zinc250k"``, ``"moses"``)."""
    if name not in VOCABULARIES:
        raise ValueError(f"unknown atom vocabulary {name!r}; valid names: {', '.join(VOCABULARIES)}")
    return VOCABULARIES[name]
