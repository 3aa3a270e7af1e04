r"""Keep freed memory in the process instead of handing it back to the kernel after every step (Linux, glibc).

glibc's malloc serves blocks above 32 MiB with ``mmap`` and returns them with ``munmap`` when freed, so a training
step whose temporaries are large (sheaf Laplacians of 10^5-10^6 nodes, GDSS on graphs of 100+ nodes) makes the
kernel find and zero fresh pages for all of them again on the next step. Measured on one core
(``benchmarks/RESULTS.md``, stop 21): a GDSS ENZYMES training step 15.3 s -> 6.0 s, a general NSD epoch on a
200k-node graph 18.8 s -> 12.0 s (``nodecls``), for 0.5-0.8 GiB more resident memory. :func:`keep_freed_memory` sets
``mallopt(M_MMAP_MAX, 0)`` (large blocks from the heap) and ``mallopt(M_TRIM_THRESHOLD, 2 GiB - 1)`` (keep up to that
much freed memory at the top of the heap); the ``sheafgraph`` command calls it when it starts, library imports never
do. ``SHEAFGRAPH_KEEP_HEAP=0`` turns it off.

A heap that keeps its freed memory must also be able to reuse it. PyTorch allocates with ``posix_memalign``, and
glibc's memalign (2.36, measured) asks for the block plus 96 bytes, then frees the spare bytes in front of and behind
the block; glibc's per-thread cache keeps such small pieces as if they were in use, so they stay between the large
blocks: a freed block never merges with its neighbours, and the next block of the same size, needing 96 bytes more,
goes above them. A 1M-node history epoch peaked at 7.8-8.6 GiB around 4.2 GiB of live tensors this way; with the
cache off, at 6.4-6.8 GiB, its epoch 2.6% slower (``benchmarks/RESULTS.md``, stop 33). The cache can only be turned
off when a process starts (``GLIBC_TUNABLES``), so the command starts itself again with it off
(:func:`restart_without_thread_cache`).
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

#: glibc's ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
KEEP_HEAP_ENV = "SHEAFGRAPH_KEEP_HEAP"
#: the glibc tunable that turns the per-thread cache of freed blocks off (module docstring)
THREAD_CACHE_OFF = "glibc.malloc.tcache_count=0"


def _keeps_heap() -> bool:
    return os.environ.get(KEEP_HEAP_ENV, "1").strip() != "0" and sys.platform.startswith("linux")


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (module docstring); returns whether it took effect: False
    when ``SHEAFGRAPH_KEEP_HEAP=0``, off Linux, or with a C library other than glibc."""
    if not _keeps_heap():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def restart_without_thread_cache() -> None:
    """Execute this process again from its start, with the same arguments and glibc's per-thread cache off (module
    docstring), unless it already is, ``SHEAFGRAPH_KEEP_HEAP=0``, or the C library is not glibc on Linux. Call it first
    thing in a program's entry point: the process keeps its pid (torchrun keeps track of it); nothing before the call
    is kept."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if (not _keeps_heap() or THREAD_CACHE_OFF in tunables.split(":") or platform.libc_ver()[0] != "glibc"
            or not sys.executable):
        return
    os.environ["GLIBC_TUNABLES"] = f"{tunables}:{THREAD_CACHE_OFF}" if tunables else THREAD_CACHE_OFF
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    except OSError:                                 # the interpreter cannot be started again: go on with the cache
        if tunables:
            os.environ["GLIBC_TUNABLES"] = tunables
        else:
            del os.environ["GLIBC_TUNABLES"]
