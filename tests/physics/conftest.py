"""Run the physics tests on one CPU thread: sparse products on tiny graphs are 100x slower with several OpenMP
threads on a busy machine (thread hand-off dominates), and one thread makes timings and results reproducible."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
