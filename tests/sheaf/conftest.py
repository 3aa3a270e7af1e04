import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny graphs: one thread is faster, and immune to oversubscribed shared CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
