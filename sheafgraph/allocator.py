r"""Keep freed memory in the process instead of handing it back to the kernel after every step (Linux, glibc).

glibc's malloc serves blocks above 32 MiB with ``mmap`` and returns them with ``munmap`` when freed, so a training
step whose temporaries are large (sheaf Laplacians of 10^5-10^6 nodes, GDSS on graphs of 100+ nodes) makes the
kernel find and zero fresh pages for all of them again on the next step. Measured on one core
(``benchmarks/RESULTS.md``, stop 21): a GDSS ENZYMES training step 15.3 s -> 6.0 s, a general NSD epoch on a
200k-node graph 18.8 s -> 12.0 s (``nodecls``), for 0.5-0.8 GiB more resident memory. :func:`keep_freed_memory` sets
``mallopt(M_MMAP_MAX, 0)`` (large blocks from the heap) and ``mallopt(M_TRIM_THRESHOLD, 2 GiB - 1)`` (keep up to that
much freed memory at the top of the heap); the ``sheafgraph`` command calls it when it starts, library imports never
do. ``SHEAFGRAPH_KEEP_HEAP=0`` turns it off.
"""
from __future__ import annotations

import ctypes
import os
import sys

#: glibc's ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
KEEP_HEAP_ENV = "SHEAFGRAPH_KEEP_HEAP"


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (module docstring); returns whether it took effect: False
    when ``SHEAFGRAPH_KEEP_HEAP=0``, off Linux, or with a C library other than glibc."""
    if os.environ.get(KEEP_HEAP_ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
