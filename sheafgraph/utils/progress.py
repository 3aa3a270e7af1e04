"""Progress bars for long work: tqdm on a terminal, silent when disabled or not interactive."""
from __future__ import annotations

import sys
from typing import Iterable, Optional, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str = "", total: Optional[int] = None,
             enabled: Optional[bool] = None, leave: bool = False) -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar; ``enabled=None`` shows it only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, leave=leave, dynamic_ncols=True)
