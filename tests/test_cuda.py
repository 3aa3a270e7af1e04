"""Every task and the core on a CUDA device (skipped without one): no device mismatches, no size limit, and no host
synchronisation inside a layer or a sampler step."""
import json
import warnings

import pytest
import torch

from sheafgraph.cli import main
from sheafgraph.generative.noise import node_mask
from sheafgraph.generative.samplers import SAMPLERS
from sheafgraph.ops import GraphStructure, sheaf_laplacian
from sheafgraph.sheaf import SheafConv
from sheafgraph.generative.molecules import load_generator
from tests.conftest import random_undirected_graph

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_nodecls_cli_on_cuda(tmp_path):
    out = tmp_path / "texas.json"
    assert main(["nodecls", "--dataset", "texas", "--model", "general", "--folds", "1", "--epochs", "3",
                 "--no-progress", "--device", "cuda", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["folds"][0]["test"] >= 0


def test_nodecls_minibatch_with_checkpoint_on_cuda(tmp_path):
    pytest.importorskip("pymetis")
    ck = tmp_path / "ck.pt"
    assert main(["nodecls", "--dataset", "texas", "--model", "bundle", "--folds", "1", "--epochs", "3", "--batch-size",
                 "64", "--no-progress", "--device", "cuda", "--checkpoint", str(ck)]) == 0
    assert ck.is_file()


def test_air_cli_on_cuda(shared_data, tmp_path):
    if not all((shared_data / "air" / name).is_dir() for name in ("prsa_beijing", "kdd2018_beijing")):
        pytest.skip("PRSA Beijing data (with the KDD 2018 station list) not in the shared data folder")
    out = tmp_path / "air.json"
    assert main(["air", "--root", str(shared_data), "--model", "diff_adv", "--epochs", "1", "--steps", "600",
                 "--batch-size", "32", "--no-progress", "--device", "cuda", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["test"]["mae"] > 0


def test_molgen_sample_cli_on_cuda(tmp_path):
    out = tmp_path / "mols.smi"
    assert main(["molgen", "sample", "--num", "16", "--steps", "5", "--device", "cuda", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) > 0


def test_sym_sheaf_laplacian_beyond_one_cusolver_batch():
    # batched cuSOLVER eigh fails on >= 65,536 blocks; the chunked path takes any number
    n = 70_000
    ei = random_undirected_graph(n, 2 * n, isolated=5, seed=1).cuda()
    maps = torch.randn(ei.size(1), 3, 3, device="cuda", requires_grad=True)
    y = sheaf_laplacian(GraphStructure(ei, n), maps, normalization="sym") @ torch.randn(n, 3, 4, device="cuda")
    y.square().sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(maps.grad).all()


@pytest.mark.parametrize("maps", ["diag", "orthogonal"])
def test_sheaf_conv_forward_never_waits_for_the_host(maps):
    # (general maps need eigh, whose error check synchronises: not covered)
    n = 500
    structure = GraphStructure(random_undirected_graph(n, 2000, seed=2).cuda(), n)
    conv = SheafConv(12, 12, 3, maps).cuda()
    x = torch.randn(n, 3, 4, device="cuda")
    conv(x, structure)                                     # builds the structure's caches
    torch.cuda.set_sync_debug_mode("error")
    try:
        conv(x, structure)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _host_syncs(fn) -> list:
    """Where ``fn()`` made the host wait for the device (one entry per synchronising CUDA call)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [f"{w.filename}:{w.lineno}" for w in caught if "synchronizing" in str(w.message)]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_steps_never_wait_for_the_host(name):
    # a sampler may wait once when it starts (its time grid moves to the device); its steps never do
    gen = load_generator(device="cuda")
    mask = node_mask(torch.tensor([9, 4, 6], device="cuda"), gen.max_nodes)
    prior = gen.sde.prior_sampling(mask, len(gen.vocab), torch.Generator("cuda").manual_seed(0))

    def run(steps):
        return _host_syncs(lambda: SAMPLERS[name](gen.model.eval(), prior, gen.sde, steps=steps,
                                                  generator=torch.Generator("cuda").manual_seed(1)))
    few, many = run(2), run(6)
    assert len(many) == len(few) <= 2, f"{len(few)} syncs with 2 steps, {len(many)} with 6: {many}"
