"""Checks of user input shared by every module: one wording per kind of mistake (the error contract).

Every public function and command rejects bad input with a ``ValueError`` or ``TypeError`` that names the argument
and the expected form (and a ``FileNotFoundError`` naming a missing file). These helpers return the checked value, so
a constructor reads ``self.steps = positive_int(steps, "steps")``.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Dict, Generic, Iterable, Iterator, Mapping, TypeVar

T = TypeVar("T")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer ``>= minimum`` (bools and floats are refused)."""
    if not _is_int(value) or value < minimum:
        form = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{name} must be {form}, got {value!r}")
    return int(value)


def int_in_range(value: Any, name: str, low: int, high: int, why: str = "") -> int:
    """``value`` as an int if it is an integer in ``low..high`` (inclusive); ``why`` explains the range."""
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}{f' ({why})' if why else ''}, got {value!r}")
    return int(value)


def finite_float(value: Any, name: str, *, low: float = -math.inf, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite real in the interval (``*_open``: the bound itself excluded)."""
    bad = not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value)
    if not bad:
        bad = value < low or value > high or (low_open and value == low) or (high_open and value == high)
    if bad:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def positive_float(value: Any, name: str) -> float:
    """``value`` as a float if it is finite and ``> 0``."""
    return finite_float(value, name, low=0.0, low_open=True)


def nonnegative_float(value: Any, name: str) -> float:
    """``value`` as a float if it is finite and ``>= 0``."""
    return finite_float(value, name, low=0.0)


def probability(value: Any, name: str) -> float:
    """A dropout-like rate in ``[0, 1)``."""
    return finite_float(value, name, low=0.0, high=1.0, high_open=True)


def check_choice(value: Any, valid: Iterable, what: str) -> Any:
    """Return ``value`` if it is one of ``valid``, else raise a ValueError listing the valid names."""
    valid = list(valid)
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid names: {', '.join(str(v) for v in valid)}")
    return value


def writable_file(path: Any, name: str) -> Path:
    """``path`` as a Path after checking, before any work is done, that a file can be written there (its folder is
    created if missing)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{name} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"{name}: cannot create the folder {path.parent} ({err.strerror})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PermissionError(f"{name}: {path} is not writable")
    return path


class MissingExtraError(ImportError):
    """An optional extra is not installed; ``partial`` holds what could be computed without it."""

    def __init__(self, message: str, partial: Any = None):
        super().__init__(message)
        self.partial = partial


class Registry(Mapping[str, T], Generic[T]):
    """Named implementations of one kind (samplers, SDEs, models, datasets): ``registry["name"]`` raises a
    ``ValueError`` listing the valid names, and registering a name twice is an error.

    Use as a decorator (``@SAMPLERS.register("pc")``) or with :meth:`add`; iteration keeps registration order.
    """

    def __init__(self, what: str, items: Mapping[str, T] = ()):
        self.what = what
        self._items: Dict[str, T] = {}
        for name, item in dict(items).items():
            self.add(name, item)

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._items[name] = item
        return item

    def register(self, name: str):
        return lambda item: self.add(name, item)

    def __getitem__(self, name: str) -> T:
        if name not in self._items:
            check_choice(name, self._items, self.what)
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str, default=None):
        return self._items.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._items)})"
