"""Lazy package exports (PEP 562): a package lists which submodule defines each public name, and the submodule is
imported on first use. ``from sheafgraph.data import load_qm9`` then does not import PyG or pandas."""
from __future__ import annotations

import importlib
import sys
from typing import Callable, Dict, List, Tuple


def lazy_exports(package: str, exports: Dict[str, str]) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose name ``n`` lives in ``package.<exports[n]>``."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)               # later lookups skip __getattr__
        return value

    def __dir__() -> List[str]:
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
