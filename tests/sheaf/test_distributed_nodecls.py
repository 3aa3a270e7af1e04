"""Data-parallel, resumable node classification: two Gloo processes on CPU (as ``torchrun --nproc_per_node 2`` starts
them) against one, and runs interrupted after an epoch and resumed against uninterrupted ones."""
import contextlib
import dataclasses
import io
import json
import os
import shutil

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import sheafgraph.sheaf.training as training
from sheafgraph.cli import main
from sheafgraph.data import load_node_dataset
from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf.minibatch import SubgraphBatches
from sheafgraph.sheaf.recipes import NodeClsConfig, build_model
from sheafgraph.sheaf.training import fold_masks, full_batch_epoch, train_fold, train_share
from sheafgraph.utils import seed_everything
from sheafgraph.utils.checkpoint import check_same_run
from sheafgraph.utils.distributed import current_context
from tests.conftest import spawn_ranks

pytest.importorskip("pymetis")

CONFIG = NodeClsConfig(model="diag", d=2, layers=2, hidden=4, dropout=0.5, lr=0.05, epochs=20, patience=3)
CLI = ["nodecls", "--dataset", "texas", "--model", "diag", "--d", "2", "--layers", "2", "--hidden", "4",
       "--lr", "0.05", "--epochs", "20", "--patience", "3", "--folds", "2", "--seed", "1", "--no-progress"]
INTERRUPT = (0, 2)                                    # (split, epochs done) after which a run is cut off


def first_step_gradients(texas, world_size):
    """The gradients of the first full-batch step of this rank (model seeded alike on every rank)."""
    seed_everything(0)
    model = build_model(CONFIG, texas.num_features, texas.num_classes)
    net = model if world_size == 1 else DistributedDataParallel(model)
    train = fold_masks(texas, 0)[0]
    share = train_share(train, 0, 0, current_context(torch.device("cpu")))
    full_batch_epoch(net, torch.optim.SGD(model.parameters(), lr=0.0), texas.x, texas.edge_index, texas.y, share,
                     int(train.sum()), world_size)
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def interrupting_save(action):
    """``save_checkpoint`` that calls ``action(path)`` once the checkpoint of :data:`INTERRUPT` is written."""
    save = training.save_checkpoint

    def wrapped(state, path):
        save(state, path)
        if (state.get("fold"), state.get("result", {}).get("epochs")) == INTERRUPT:
            action(path)
    return wrapped


def folds_of(path):
    """Per-split results of a ``--json`` file, without the wall-clock seconds."""
    return [{k: v for k, v in fold.items() if k != "seconds"} for fold in json.loads(path.read_text())["folds"]]


def _worker(rank, world, store, folder):
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="localhost",
                      MASTER_PORT="0")                 # what torchrun sets: the CLI's init_distributed finds the group
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        texas = load_node_dataset("texas")
        torch.save(first_step_gradients(texas, world), folder / f"grad{rank}.pt")
        graph = GraphStructure(texas.edge_index, texas.num_nodes)
        share = dict(rank=rank, world_size=world)
        refreshed = dataclasses.replace(CONFIG, sampler="history", history_refresh=1)
        for kind, batches, config in (("full", None, CONFIG),
                                      ("mini", SubgraphBatches(texas, "cluster", 64, **share), CONFIG),
                                      ("history", SubgraphBatches(texas, "history", 32, **share), CONFIG),
                                      ("refreshed", SubgraphBatches(texas, "history", 32, **share), refreshed)):
            seed_everything(0)
            model = build_model(config, texas.num_features, texas.num_classes)
            result = train_fold(model, texas, 0, config, graph=graph, batches=batches)
            torch.save({"model": model.state_dict(), "epochs": result.epochs}, folder / f"{kind}{rank}.pt")
        snapshot = folder / "snapshot.pt"
        training.save_checkpoint = interrupting_save(lambda path: shutil.copy(path, snapshot))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            args = CLI + ["--batch-size", "64"]
            assert main(args + ["--checkpoint", str(folder / "ck.pt"), "--json", str(folder / "straight.json")]) == 0
            dist.barrier()
            assert main(args + ["--resume", "--checkpoint", str(snapshot), "--json", str(folder / "resumed.json")]) == 0
        (folder / f"out{rank}.txt").write_text(out.getvalue())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_train_one_model_and_resume_exactly(tmp_path, capsys):
    spawn_ranks(_worker, (2, tmp_path / "store", tmp_path))
    for kind in ("full", "mini", "history", "refreshed"):      # DDP averaged the gradients: identical replicas
        rank0, rank1 = torch.load(tmp_path / f"{kind}0.pt"), torch.load(tmp_path / f"{kind}1.pt")
        assert rank0["epochs"] == rank1["epochs"]
        for name in rank0["model"]:
            torch.testing.assert_close(rank0["model"][name], rank1["model"][name], rtol=0, atol=0)
    single = first_step_gradients(load_node_dataset("texas"), 1)
    for rank in (0, 1):                                  # the DDP average of the shares' losses: the full gradient
        grads = torch.load(tmp_path / f"grad{rank}.pt")
        assert grads.keys() == single.keys()
        for name in single:
            torch.testing.assert_close(grads[name], single[name], rtol=1e-5, atol=1e-7)
    straight = folds_of(tmp_path / "straight.json")
    assert straight == folds_of(tmp_path / "resumed.json")
    assert all(INTERRUPT[1] < fold["best_epoch"] < fold["epochs"] < CONFIG.epochs for fold in straight)  # stopped
    out0, out1 = (tmp_path / "out0.txt").read_text(), (tmp_path / "out1.txt").read_text()
    assert "2 processes (DDP)" in out0 and "texas diag: test accuracy" in out0 and out1 == ""
    assert main(CLI + ["--batch-size", "64", "--resume", "--checkpoint", str(tmp_path / "snapshot.pt")]) == 2
    assert "processes: 2 there, 1 now" in capsys.readouterr().err


@pytest.mark.parametrize("batches", [[], ["--batch-size", "64"], ["--batch-size", "32", "--sampler", "history"]])
def test_interrupted_run_resumes_to_the_uninterrupted_results(tmp_path, monkeypatch, batches):
    args = CLI + batches
    assert main(args + ["--json", str(tmp_path / "straight.json")]) == 0

    def interrupt(path):
        raise KeyboardInterrupt
    monkeypatch.setattr(training, "save_checkpoint", interrupting_save(interrupt))
    ck = str(tmp_path / "ck.pt")
    assert main(args + ["--checkpoint", ck, "--json", str(tmp_path / "resumed.json")]) == 130
    assert not (tmp_path / "resumed.json").exists()
    assert main(args + ["--checkpoint", ck, "--json", str(tmp_path / "resumed.json"), "--resume"]) == 0
    assert folds_of(tmp_path / "straight.json") == folds_of(tmp_path / "resumed.json")


def test_a_checkpoint_of_another_run_is_refused(tmp_path, capsys):
    ck = str(tmp_path / "ck.pt")
    args = CLI + ["--epochs", "2", "--folds", "1", "--checkpoint", ck]          # the last of a flag counts
    assert main(args) == 0
    capsys.readouterr()
    for extra, message in (([], f"checkpoint {ck} exists: continue its run with resume"),
                           (["--resume", "--lr", "0.5"], "config.lr: 0.05 there, 0.5 now"),
                           (["--resume", "--dataset", "wisconsin"], "dataset: 'texas' there, 'wisconsin' now")):
        assert main(args + extra) == 2
        assert message in capsys.readouterr().err
    assert main(CLI + ["--resume"]) == 2
    assert "resume needs the checkpoint" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"belongs to another run \(seed: 0 there, 1 now\)"):
        check_same_run({"seed": 0, "config": {"lr": 1}}, {"seed": 1, "config": {"lr": 1}}, ck)
