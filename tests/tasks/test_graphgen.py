"""`sheafgraph graphgen`: a 2-epoch train -> sample -> evaluate round trip on a slice of ego_small, the shipped
checkpoints, and bad input named."""
import contextlib
import io
import json
import os

import networkx as nx
import pytest
import torch.distributed as dist

from sheafgraph.cli import main
from sheafgraph.generative.graph_generation import load_graph_generator, load_graphs
from sheafgraph.tasks.graphgen import PUBLISHED_MMD, pretrained_path
from sheafgraph.utils import load_checkpoint
from tests.conftest import spawn_ranks

SHIPPED = ("ego_small", "community_small")


@pytest.fixture
def generic_root(shared_data):
    if not (shared_data / "molecules" / "generic" / "ego_small.json").is_file():
        pytest.skip("the generic-graph data is not in the shared data folder")
    return shared_data


def test_train_sample_evaluate_round_trip(generic_root, tmp_path, capsys):
    ckpt, small = tmp_path / "last.pt", tmp_path / "small.pt"
    graphs, png, stats, scores = (tmp_path / name for name in ("g.json", "g.png", "stats.json", "scores.json"))
    root = ["--root", str(generic_root)]
    assert main(["graphgen", "train", "--dataset", "ego_small", *root, "--limit", "6", "--epochs", "2",
                 "--checkpoint", str(ckpt), "--export", str(small), "--seed", "1", "--device", "cpu"]) == 0
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2 and state["num_test"] == 40 and int(state["node_counts"].sum()) == 6
    assert state["train_config"]["lr"] == 0.01 and state["train_config"]["batch_size"] == 128
    assert main(["graphgen", "sample", "--checkpoint", str(small), "--num", "5", "--steps", "3", "--out", str(graphs),
                 "--png", str(png), "--json", str(stats), "--seed", "2"]) == 0
    content = load_graphs(graphs)
    assert content["name"] == "ego_small" and len(content["graphs"]) == 5
    # GDSS's ego_small sampler: Euler-Maruyama, no corrector, raw (not EMA) weights
    record = json.loads(stats.read_text())
    assert record["nfe"] == 3 and record["sampling"]["predictor"] == "euler_maruyama"
    assert record["sampling"]["corrector"] == "none" and record["sampling"]["weights"] == "model"
    counts = set(load_graph_generator(small).node_counts.nonzero().flatten().tolist())
    assert all(g.number_of_nodes() in counts and nx.number_of_selfloops(g) == 0 for g in content["graphs"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["graphgen", "evaluate", str(graphs), *root, "--json", str(scores)]) == 0
    out = capsys.readouterr().out
    assert "vs the test split" in out and "0.021" in out and "GDSS, test" in out    # GDSS's published degree MMD
    result = json.loads(scores.read_text())
    assert result["num"] == 5 and result["published"] == PUBLISHED_MMD["ego_small"]
    assert all(result[k] >= -1e-9 for k in ("degree", "clustering", "orbit"))
    # what the samples look like beside the reference: the file's own graphs, isolated nodes removed
    assert "nodes in no triangle" in out and set(result["statistics"]) == {"samples", "test"}
    kept = [g.subgraph([v for v in g if g.degree(v) > 0]) for g in content["graphs"]]
    expected = sum(max(g.number_of_nodes(), 1) for g in kept) / 5
    assert result["statistics"]["samples"]["nodes"] == pytest.approx(expected)
    # the same seed gives the same graphs; the train split is a reference choices can be made on
    again = tmp_path / "again.json"
    assert main(["graphgen", "sample", "--checkpoint", str(small), "--num", "5", "--steps", "3", "--out", str(again),
                 "--seed", "2"]) == 0
    assert [sorted(g.edges) for g in load_graphs(again)["graphs"]] == [sorted(g.edges) for g in content["graphs"]]
    assert main(["graphgen", "evaluate", str(graphs), *root, "--reference", "train"]) == 0
    assert "vs the train split" in capsys.readouterr().out


def _train_worker(rank, world, root, folder):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="localhost",
                      MASTER_PORT="0")                 # what torchrun sets: the CLI's init_distributed finds the group
    dist.init_process_group("gloo", init_method=f"file://{folder / 'store'}", rank=rank, world_size=world)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["graphgen", "train", "--dataset", "ego_small", "--root", str(root), "--limit", "8",
                         "--epochs", "2", "--batch-size", "4", "--checkpoint", str(folder / "last.pt"),
                         "--json", str(folder / "history.json"), "--threads", "1", "--device", "cpu"]) == 0
        (folder / f"out{rank}.txt").write_text(out.getvalue())
    finally:
        dist.destroy_process_group()


def test_train_under_torchrun_is_one_data_parallel_run(generic_root, tmp_path):
    """Two processes (as ``torchrun --nproc_per_node 2``) train one model: rank 0 alone logs and writes the
    checkpoint, which records both ranks' noise streams."""
    spawn_ranks(_train_worker, (2, generic_root, tmp_path))
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 2 and state["train_config"]["world_size"] == 2 and len(state["noise_generators"]) == 2
    out0, out1 = (tmp_path / "out0.txt").read_text(), (tmp_path / "out1.txt").read_text()
    assert "8 training graphs" in out0 and "2 processes" in out0 and "epoch 2:" in out0 and out1 == ""
    assert json.loads((tmp_path / "history.json").read_text())["epoch"] == 2


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_are_small_and_complete(name):
    path = pretrained_path(name)
    assert path.stat().st_size < 3e6
    gen = load_graph_generator(path)
    assert gen.dataset == name and gen.info["num_test"] == {"ego_small": 40, "community_small": 20}[name]
    assert int(gen.node_counts.sum()) == {"ego_small": 160, "community_small": 80}[name]   # the training split
    assert gen.info["epoch"] >= 1 and set(gen.sampling) >= {"sampler", "weights"}
    state = load_checkpoint(path)
    assert "ema" in state and "model" in state and "optimizer" not in state


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "cora"], "unknown dataset 'cora'; valid names: ego_small, community_small, ENZYMES, grid"),
    (["sample", "--dataset", "cora"], "unknown dataset 'cora'; valid names: ego_small"),
    (["sample", "--checkpoint", "missing.pt"], "checkpoint not found: missing.pt"),
    (["sample", "--sampler", "euler"], "unknown sampler 'euler'"),
    (["sample", "--num", "0"], "num must be a positive int"),
    (["sample", "--device", "tpu"], "device must be 'cpu', 'cuda' or 'auto', got 'tpu'"),
    (["train", "--limit", "0"], "--limit must be a positive int"),
    (["evaluate", "nowhere.json"], "graph file not found: nowhere.json"),
])
def test_bad_input_is_named(argv, message, tmp_path, capsys):
    out = ["--out", str(tmp_path / "g.json")] if argv[0] == "sample" else []
    assert main(["graphgen", *argv, *out]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_unknown_dataset_in_file(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"name": "qm9", "graphs": [{"num_nodes": 2, "edges": [[0, 1]]}]}))
    assert main(["graphgen", "evaluate", str(path)]) == 2
    assert "unknown dataset 'qm9'; valid names" in capsys.readouterr().err


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["graphgen", "sample", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: runs/graphs.json)" in text and "1 on a busy machine" in text and "(default: ego_small)" in text
