"""Data-parallel GDSS training: two Gloo processes on CPU, as ``torchrun --nproc_per_node 2`` would start them."""
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from sheafgraph.generative.score_networks import GDSSNoiseModel
from sheafgraph.generative.sde import GraphSDE, VESDE, VPSDE
from sheafgraph.generative.training import fit
from sheafgraph.utils import init_distributed, load_checkpoint
from sheafgraph.utils.distributed import exit_without_teardown

from tests.conftest import spawn_ranks
from tests.generative.qm9_slice import qm9_slice

SMALL = dict(x_params={"hidden": 8}, adj_params={"hidden": 8, "num_layers": 2, "c_hid": 4, "attn_dim": 8})
KWARGS = dict(batch_size=8, lr=1e-2, ema_decay=0.9, seed=3)


def _worker(rank, world, store, data, folder):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        sde = GraphSDE(VPSDE(0.1, 1.0), VESDE(0.1, 1.0))
        torch.manual_seed(0)
        straight = GDSSNoiseModel(4, **SMALL)
        init = {k: v.clone() for k, v in straight.state_dict().items()}
        fit(straight, sde, data, folder / "straight.pt", epochs=2, **KWARGS)
        torch.save(straight.state_dict(), folder / f"rank{rank}.pt")
        resumed = GDSSNoiseModel(4, **SMALL)
        resumed.load_state_dict(init)
        fit(resumed, sde, data, folder / "resumed.pt", epochs=1, **KWARGS)
        dist.barrier()                                   # rank 0 has written epoch 1 before anyone resumes
        fit(GDSSNoiseModel(4, **SMALL), sde, data, folder / "resumed.pt", epochs=2, **KWARGS)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_stay_in_sync_checkpoint_once_and_resume_exactly(tmp_path, shared_data):
    data = qm9_slice(shared_data, 40)
    spawn_ranks(_worker, (2, tmp_path / "store", data, tmp_path))
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for name in rank0:                                   # DDP averaged the gradients: identical replicas
        torch.testing.assert_close(rank0[name], rank1[name], rtol=0, atol=0)
    straight, resumed = load_checkpoint(tmp_path / "straight.pt"), load_checkpoint(tmp_path / "resumed.pt")
    assert straight["epoch"] == 2 and straight["train_config"]["world_size"] == 2
    assert len(straight["noise_generators"]) == 2
    assert not torch.equal(*straight["noise_generators"])        # each rank draws its own noise
    assert straight["history"] == resumed["history"]
    for key in ("model", "ema"):
        for name in straight[key]:
            torch.testing.assert_close(straight[key][name], resumed[key][name], rtol=0, atol=0)
    torch.testing.assert_close(straight["model"]["net_adj.head.linears.0.weight"],
                               rank0["net_adj.head.linears.0.weight"], rtol=0, atol=0)
    single = GDSSNoiseModel(4, **SMALL)                  # and training moved the weights
    assert not torch.equal(single.state_dict()["net_adj.head.linears.0.weight"],
                           rank0["net_adj.head.linears.0.weight"])


def test_init_distributed_outside_and_misconfigured_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = init_distributed(torch.device("cpu"))
    assert (context.rank, context.world_size, context.is_main) == (0, 1, True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="RANK is not set: launch with torchrun"):
        init_distributed(torch.device("cpu"))


def test_the_command_leaves_the_process_group_before_exiting(monkeypatch, tmp_path):
    import sheafgraph.cli as cli

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    monkeypatch.setattr(cli, "restart_without_thread_cache", lambda: None)     # it would execute pytest again
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: None)
    monkeypatch.setattr(cli, "main", lambda: 3)
    exits = []

    def exit_instead(code):                              # os._exit would end pytest itself
        exits.append(code)
        raise SystemExit(code)
    monkeypatch.setattr(os, "_exit", exit_instead)
    with pytest.raises(SystemExit) as exit_info:
        cli.entry()
    assert exit_info.value.code == 3 and exits == [3] and not dist.is_initialized()
    with pytest.raises(SystemExit) as exit_info:         # without a process group: the interpreter's usual exit
        cli.entry()
    assert exit_info.value.code == 3 and exits == [3]


def test_a_rank_exits_with_its_code_and_its_output_flushed(tmp_path):
    """The real exit of a torchrun rank: buffered output written, the code kept, atexit handlers skipped."""
    script = f"""
import atexit, torch.distributed as dist, sheafgraph.cli as cli
dist.init_process_group("gloo", init_method="file://{tmp_path / 'store'}", rank=0, world_size=1)
atexit.register(print, "teardown ran")
def finished():
    print("run finished", end="")                     # stays in the buffer of a pipe until flushed
    return 4
cli.main = finished
cli.restart_without_thread_cache = lambda: None     # a rank's process group starts after it; here, before
cli.entry()
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # output to a pipe: block-buffered
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 4 and done.stdout == "run finished", done.stderr


@pytest.mark.parametrize("code", [None, 256, -1, 1.0])
def test_exit_without_teardown_names_a_bad_code(code):
    with pytest.raises(ValueError, match=r"exit code must be an int in 0\.\.255 \(a process exit status\)"):
        exit_without_teardown(code)
