"""Shared test fixtures: paths to the shipped and shared data, small random graphs."""
import os
from pathlib import Path

import pytest
import torch

from sheafgraph.utils.distributed import exit_without_teardown

REPO = Path(__file__).resolve().parents[1]
#: the data root of the tests that need more than datasets/: $SHEAFGRAPH_DATA, else ../shared/data beside the checkout
SHARED_DATA = Path(os.environ.get("SHEAFGRAPH_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def one_thread():
    """Every test runs on one intra-op thread: tests use tiny tensors, for which one thread is faster, and several
    OpenMP threads on a busy machine are slowed badly by thread hand-off (oversubscription)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"data root {SHARED_DATA} not present (set SHEAFGRAPH_DATA or put shared/ beside the checkout)")
    return SHARED_DATA


def random_undirected_graph(n: int, num_pairs: int, isolated: int = 2, seed: int = 0) -> torch.Tensor:
    """Coalesced, self-loop-free undirected edge_index on n nodes whose last ``isolated`` nodes have no edges."""
    g = torch.Generator().manual_seed(seed)
    m = n - isolated
    r = torch.randint(0, m, (num_pairs,), generator=g)
    c = torch.randint(0, m, (num_pairs,), generator=g)
    keep = r != c
    ei = torch.stack([r[keep], c[keep]])
    ei = torch.cat([ei, ei.flip(0)], dim=1)
    return torch.unique(ei, dim=1)


def _run_then_exit(rank, worker, *args):
    """Run ``worker(rank, *args)`` in a spawned rank and, once it has returned, leave as the ``sheafgraph`` command
    leaves a torchrun rank: without the interpreter's teardown, where a finished Gloo rank has aborted
    (:func:`sheafgraph.utils.distributed.exit_without_teardown`). The worker has written all it reports by then."""
    worker(rank, *args)
    exit_without_teardown(0)


def spawn_ranks(worker, args, nprocs: int = 2) -> None:
    """``torch.multiprocessing.spawn(worker, args, nprocs)`` whose ranks exit as :func:`_run_then_exit` says."""
    import torch.multiprocessing as mp

    mp.spawn(_run_then_exit, args=(worker, *args), nprocs=nprocs, join=True)
