import itertools
import json

import pytest
import torch

from sheafgraph.cli import main
from sheafgraph.data import load_node_dataset
from sheafgraph.metrics.classification import accuracy, roc_auc, score
from sheafgraph.sheaf.recipes import MODELS, OWN_PRESETS, PAPER_PRESETS, NodeClsConfig, build_model, resolve_config
from sheafgraph.sheaf.training import fold_masks, model_features, run_folds, train_fold
from sheafgraph.ops import GraphStructure
from sheafgraph.utils import seed_everything


@pytest.fixture(scope="module")
def texas():
    return load_node_dataset("texas")                     # shipped in datasets/


def test_short_real_training_run_on_texas_beats_majority_class(texas):
    fold = 1
    test_y = texas.y[texas.test_mask[:, fold]]
    majority = float(torch.bincount(test_y).max()) / test_y.numel()
    assert test_y.numel() == 37 and majority == pytest.approx(22 / 37)
    config = NodeClsConfig(model="diag", d=3, layers=2, hidden=20, dropout=0.5, lr=0.05, weight_decay=5e-3,
                           epochs=60, patience=60)
    seed_everything(0)
    model = build_model(config, texas.num_features, texas.num_classes)
    result = train_fold(model, texas, fold, config, graph=GraphStructure(texas.edge_index, texas.num_nodes),
                        x=model_features(texas.x, "diag"))
    assert result.test >= majority + 0.15, result
    assert result.epochs == 60 and 0 <= result.best_epoch < 60


def test_run_folds_is_deterministic_and_reports_per_fold(texas):
    config = NodeClsConfig(model="bundle", d=2, layers=1, hidden=8, epochs=4, patience=4)
    a = run_folds(texas, config, folds=2, seed=3, show_progress=False)
    b = run_folds(texas, config, folds=2, seed=3, show_progress=False)
    assert [f["test"] for f in a["folds"]] == [f["test"] for f in b["folds"]]
    assert [f["val_loss"] for f in a["folds"]] == [f["val_loss"] for f in b["folds"]]
    assert a["metric"] == "accuracy" and a["summary"]["folds"] == 2 and len(a["folds"]) == 2
    tests = torch.tensor([f["test"] for f in a["folds"]], dtype=torch.float64)
    assert a["summary"]["mean"] == pytest.approx(float(tests.mean()))
    assert a["summary"]["std"] == pytest.approx(float(tests.std(unbiased=False)))
    assert a["homophily"]["edge"] == pytest.approx(34 / 558)     # 34 same-label directed edges of 558


def test_folds_split_across_calls_match_one_call(texas):
    config = NodeClsConfig(model="diag", d=2, layers=1, hidden=4, epochs=3, patience=3)
    whole = run_folds(texas, config, folds=3, seed=1, show_progress=False)
    head = run_folds(texas, config, folds=1, seed=1, show_progress=False)
    tail = run_folds(texas, config, folds=2, first_fold=1, seed=1, show_progress=False)
    assert [f["fold"] for f in tail["folds"]] == [1, 2]
    assert [f["test"] for f in head["folds"] + tail["folds"]] == [f["test"] for f in whole["folds"]]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_one_epoch(texas, model):
    config = NodeClsConfig(model=model, d=2, layers=1, hidden=4, epochs=1, patience=1, method="euler")
    result = run_folds(texas, config, folds=1, show_progress=False)
    assert 0.0 <= result["folds"][0]["test"] <= 1.0


def test_sparse_features_give_the_same_model_output(texas):
    assert model_features(texas.x, "diag").layout == torch.sparse_csr      # 4.9 % non-zero
    assert model_features(texas.x, "mlp") is texas.x
    seed_everything(0)
    model = build_model(NodeClsConfig(model="diag", layers=1), texas.num_features, texas.num_classes).eval()
    torch.testing.assert_close(model(texas.x.to_sparse_csr(), texas.edge_index), model(texas.x, texas.edge_index),
                               rtol=1e-5, atol=1e-6)


def test_bad_inputs_give_clear_errors(texas):
    with pytest.raises(ValueError, match="unknown model 'sheaf'.*diag, bundle"):
        NodeClsConfig(model="sheaf")
    with pytest.raises(ValueError, match="unknown node dataset 'texass'"):
        load_node_dataset("texass")
    bad = texas.clone()
    bad.val_mask = bad.val_mask[:-1]
    with pytest.raises(ValueError, match=r"val_mask must be a bool tensor of shape \(183,\)"):
        fold_masks(bad, 0)
    with pytest.raises(ValueError, match="fold 10 out of range"):
        fold_masks(texas, 10)
    with pytest.raises(ValueError, match="folds must be an int in 1..10"):
        run_folds(texas, NodeClsConfig(), folds=11)
    with pytest.raises(ValueError, match="folds must be an int in 1..2 .*from split 8 on"):
        run_folds(texas, NodeClsConfig(), folds=3, first_fold=8)
    with pytest.raises(ValueError, match="first_fold must be an int in 0..9"):
        run_folds(texas, NodeClsConfig(), first_fold=10)
    with pytest.raises(ValueError, match="no paper preset for dataset 'pubmed'"):
        resolve_config("pubmed", "paper", {})
    with pytest.raises(ValueError, match="device 'cuda' requested") if not torch.cuda.is_available() else \
            pytest.raises(ValueError, match="device must be"):
        run_folds(texas, NodeClsConfig(), folds=1, device="cuda" if not torch.cuda.is_available() else "tpu")


def test_presets_build_and_flags_override(texas):
    for name, preset in {**PAPER_PRESETS, **OWN_PRESETS}.items():
        config, source = resolve_config(name, "paper", {})
        assert config.model == preset["model"]
        assert ("NSD paper" in source) == (name in PAPER_PRESETS) and ("our own" in source) == (name in OWN_PRESETS)
        build_model(config, 10, 3)
    config, _ = resolve_config("texas", "paper", {"lr": 0.5, "model": "diag", "epochs": None})
    assert (config.model, config.lr, config.d, config.epochs) == ("diag", 0.5, 3, 1500)
    config, source = resolve_config("texas", "paper", {"model": "gcn"})
    assert config.model == "gcn" and config.lr == NodeClsConfig().lr and "baseline" in source


def test_cli_end_to_end_writes_json(tmp_path, capsys):
    path = tmp_path / "out" / "texas.json"
    code = main(["nodecls", "--dataset", "texas", "--model", "mlp", "--folds", "2", "--epochs", "3",
                 "--no-progress", "--json", str(path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "texas mlp: test accuracy" in out and "fold 1:" in out
    result = json.loads(path.read_text())
    assert result["dataset"] == "texas" and len(result["folds"]) == 2 and result["config"]["epochs"] == 3
    assert main(["nodecls", "--dataset", "nowhere", "--folds", "1"]) == 2
    assert "unknown node dataset 'nowhere'" in capsys.readouterr().err
    for flag, value, message in (("--weight-decay", "-1", "weight_decay must be a finite number in [0.0, inf]"),
                                 ("--dropout", "1.5", "dropout must be a finite number in [0.0, 1.0)")):
        assert main(["nodecls", "--dataset", "texas", flag, value]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["nodecls", "--dataset", "texas", "--threads", "0"])
    assert "--threads must be a positive int, got 0 (or auto)" in capsys.readouterr().err


def test_metrics_against_pairwise_definitions():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (40,), generator=g)
    s = torch.randint(0, 5, (40,), generator=g).double()               # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = [(1.0 if p > q else 0.5 if p == q else 0.0) for p, q in itertools.product(pos.tolist(), neg.tolist())]
    assert roc_auc(s, y) == pytest.approx(sum(pairs) / len(pairs))
    logits = torch.stack([torch.zeros(40, dtype=torch.float64), s], 1)
    assert score("roc_auc", logits, y) == pytest.approx(roc_auc(s, y))
    assert accuracy(torch.tensor([[0.1, 0.9], [2.0, 1.0], [0.0, 1.0]]), torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one class only"):
        roc_auc(torch.randn(5), torch.ones(5, dtype=torch.long))
    with pytest.raises(ValueError, match="accuracy, roc_auc"):
        score("f1", logits, y)
    with pytest.raises(ValueError, match="3 labels for 2"):
        accuracy(torch.randn(2, 3), torch.tensor([0, 1, 2]))
