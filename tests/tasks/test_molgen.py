import json

import pytest
import torch

import sheafgraph.generative.molecules as molgen
from sheafgraph.cli import main
from sheafgraph.generative import GDSSNoiseModel
from sheafgraph.generative.molecules import PRETRAINED, load_generator, sample_molecules
from sheafgraph.utils import load_checkpoint

from tests.generative.qm9_slice import qm9_slice


def test_shipped_checkpoint_is_small_and_complete():
    assert PRETRAINED.stat().st_size < 5e6
    gen = load_generator()
    assert gen.vocab.symbols == ("C", "N", "O", "F") and gen.max_nodes == 9
    assert int(gen.node_counts.sum()) == 117917                    # the QM9 training split
    assert gen.info["dataset"] == "qm9" and gen.info["epoch"] >= 1


def test_sample_cli_writes_smiles_png_and_stats(tmp_path, capsys):
    out, png, stats = tmp_path / "mols.smi", tmp_path / "grid.png", tmp_path / "stats.json"
    code = main(["molgen", "sample", "--num", "12", "--steps", "4", "--out", str(out), "--png", str(png),
                 "--json", str(stats), "--seed", "1", "--scale-eps-early", "1.0", "--switch-time", "0.4"])
    assert code == 0
    lines = out.read_text().splitlines()
    record = json.loads(stats.read_text())
    # default sampler PC: one predictor and one corrector evaluation per step
    assert record["num"] == 12 and record["nfe"] == 8 and record["written"] == len(lines) > 0
    assert record["sampler"] == "pc" and record["snr"] == 0.2 and record["scale_eps"] == 0.5   # the chosen default
    assert record["scale_eps_early"] == 1.0 and record["switch_time"] == 0.4
    assert record["valence_guidance"] == molgen.DEFAULT_GUIDANCE["strength"]
    assert 0 <= record["valid_without_correction"] <= 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "validity w/o correction" in capsys.readouterr().out


def test_every_sampler_takes_the_same_default_steps_and_any_of_its_options(tmp_path):
    gen = load_generator()
    s4 = sample_molecules(gen, 2, sampler="s4")
    assert s4.nfe == 100 and s4.options["scale_eps"] == 0.7        # as the default pc: 100 steps; its own scale_eps
    assert sample_molecules(gen, 2, options={"steps": 2, "scale_eps": 0.9}).options["scale_eps"] == 0.9
    out = tmp_path / "m.smi"
    assert main(["molgen", "sample", "--num", "2", "--sampler", "dpm_solver", "--steps", "3", "--order", "1",
                 "--spacing", "uniform", "--out", str(out), "--json", str(tmp_path / "s.json")]) == 0
    record = json.loads((tmp_path / "s.json").read_text())
    assert (record["order"], record["spacing"], record["nfe"]) == (1, "uniform", 3)


def test_sampling_is_seeded_and_respects_num_atoms():
    gen = load_generator()
    a = sample_molecules(gen, 6, seed=3, num_atoms=5, options={"steps": 3})
    b = sample_molecules(gen, 6, seed=3, num_atoms=5, options={"steps": 3})
    assert a.smiles == b.smiles and a.nfe == 6
    assert all(m is None or m.GetNumAtoms() <= 5 for m in a.mols)


@pytest.mark.parametrize("argv,message", [
    (["--sampler", "euler"], "unknown sampler 'euler'"),
    (["--num-atoms", "12"], "num_atoms=12 is outside 1..9"),
    (["--checkpoint", "missing.pt"], "checkpoint not found: missing.pt"),
    (["--num", "0"], "num must be a positive int"),
    (["--device", "tpu"], "device must be 'cpu', 'cuda' or 'auto', got 'tpu'"),
    (["--sampler", "ode", "--snr", "0.3"], "sampler 'ode' does not take snr; its options: steps, eps, method"),
    (["--sampler", "pc", "--order", "2"], "sampler 'pc' does not take order"),
    (["--valence-guidance", "-1"], "valence guidance strength must be >= 0, got -1.0"),
    (["--guidance-start", "1.5"], "valence guidance start time must be in (0, 1], got 1.5"),
])
def test_sample_cli_bad_input(argv, message, tmp_path, capsys):
    assert main(["molgen", "sample", "--out", str(tmp_path / "m.smi"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_cli_missing_file(capsys):
    assert main(["molgen", "evaluate", "nowhere.smi"]) == 2
    assert "SMILES file not found: nowhere.smi" in capsys.readouterr().err


@pytest.mark.slow
def test_train_cli_checkpoints_resumes_and_exports(tmp_path, monkeypatch, shared_data):
    data = qm9_slice(shared_data, 16)
    from sheafgraph.chem import QM9_ATOMS
    monkeypatch.setattr(molgen, "_training_graphs", lambda dataset, root, aromatic: (data, QM9_ATOMS))
    def small_model(n, **kw):          # new runs only: resuming rebuilds the stored (small) configuration
        return GDSSNoiseModel(n, x_params={"hidden": 4},
                              adj_params={"hidden": 4, "num_layers": 2, "c_hid": 2, "attn_dim": 4}, **kw)

    small_model.from_config = GDSSNoiseModel.from_config
    monkeypatch.setattr(molgen, "GDSSNoiseModel", small_model)
    ckpt, small = tmp_path / "last.pt", tmp_path / "small.pt"
    args = ["molgen", "train", "--checkpoint", str(ckpt), "--batch-size", "8"]
    assert main([*args, "--sde-x", "vp", "--epochs", "1"]) == 0
    # resumed without --sde-x / --time-conditioning: the stored SDE and model configuration go on
    assert main([*args, "--epochs", "2", "--export", str(small), "--resume-lr", "1e-3",
                 "--json", str(tmp_path / "train.json")]) == 0
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["epoch"] == 2 and len(record["history"]) == 2 and record["checkpoint"] == str(ckpt)
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2 and len(state["history"]) == 2 and state["lr_resets"] == [[1, 1e-3]]
    assert state["sde_config"]["x"] == {"name": "vp", "beta_min": 0.1, "beta_max": 1.0}
    assert state["model_config"]["x_params"] == {"hidden": 4} and state["model_config"]["min_degree"] == 1.0
    exported = load_checkpoint(small)
    assert "optimizer" not in exported and exported["epoch"] == 2 and exported["lr_resets"] == [[1, 1e-3]]
    assert int(exported["node_counts"].sum()) == 16
    assert main([*args, "--epochs", "1", "--sde-adj", "ou"]) == 2


@pytest.mark.parametrize("bonds", ["aromatic", "categorical"])
def test_bond_encoding_is_recorded_and_sampling_decodes_aromatic_bonds(bonds, tmp_path, monkeypatch, shared_data):
    from sheafgraph.data.molecules import load_qm9
    smiles = load_qm9(shared_data, check_smiles=False).train[5000:5016]
    monkeypatch.setattr(molgen, "load_qm9", lambda root=None: type("Splits", (), {"train": smiles}))
    ckpt, small = tmp_path / "last.pt", tmp_path / "small.pt"
    args = ["molgen", "train", "--checkpoint", str(ckpt), "--batch-size", "8"]
    assert main([*args, "--bonds", bonds, "--epochs", "1"]) == 0
    assert main([*args, "--epochs", "2", "--export", str(small)]) == 0      # resuming keeps the stored encoding
    state = load_checkpoint(small)
    assert state["bonds"] == bonds and state["epoch"] == 2
    assert state["model_config"].get("bond_levels") == ([1.0, 1.5, 2.0, 3.0] if bonds == "categorical" else None)
    gen = load_generator(small)
    assert gen.aromatic and not load_generator().aromatic              # the shipped model is kekulised
    assert gen.bonds == bonds and load_generator().bonds == "kekule"
    out = sample_molecules(gen, 64, sampler="s4", options={"steps": 4})
    assert out.graphs.bond_orders.shape == (64, 9, 9)
    codes = set(out.graphs.bond_orders.unique().tolist())
    assert {0, 4} <= codes <= {0, 1, 2, 3, 4}                           # code 4: aromatic
    assert len(out.decoded.raw) == 64
    state["bonds"] = "smiles"
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="unknown bond encoding 'smiles'"):
        load_generator(tmp_path / "odd.pt")
    with pytest.raises(SystemExit, match="2"):
        main([*args, "--no-resume", "--bonds", "sdf", "--epochs", "1"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_train_and_sample_on_cuda(tmp_path, monkeypatch, shared_data):
    data = qm9_slice(shared_data, 16)
    from sheafgraph.chem import QM9_ATOMS
    monkeypatch.setattr(molgen, "_training_graphs", lambda dataset, root, aromatic: (data, QM9_ATOMS))
    ckpt = tmp_path / "last.pt"
    assert main(["molgen", "train", "--checkpoint", str(ckpt), "--batch-size", "8", "--epochs", "2",
                 "--device", "cuda"]) == 0
    assert load_checkpoint(ckpt)["epoch"] == 2
    for sampler in ("s4", "pc", "ode", "dpm_solver"):
        out = sample_molecules(load_generator(ckpt, "cuda"), 8, sampler=sampler, options={"steps": 4})
        assert len(out.smiles) == 8 and out.nfe > 0


def test_evaluate_without_the_metrics_extra_prints_what_it_could_compute(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    import sheafgraph.tasks.molgen as molgen_cli
    from sheafgraph.metrics.molecules import FCD_INSTALL_HINT

    def no_fcd(*args, **kwargs):
        raise ImportError(FCD_INSTALL_HINT)

    monkeypatch.setattr(molgen_cli, "fcd", no_fcd)
    monkeypatch.setattr(molgen_cli, "nspdk_mmd", lambda a, b: 0.01)
    monkeypatch.setattr(molgen_cli, "load_qm9", lambda root, check_smiles: SimpleNamespace(train=["CCO"],
                                                                                            test=["CC", "CCN"]))
    smi, out = tmp_path / "m.smi", tmp_path / "scores.json"
    smi.write_text("CCO\nCC(=O)O\nc1ccccc1\n")
    assert main(["molgen", "evaluate", str(smi), "--json", str(out)]) == 2
    captured = capsys.readouterr()
    assert "validity: 1.0000" in captured.out and "pip install -e .[metrics]" in captured.err
    scores = json.loads(out.read_text())
    assert scores["fcd"] is None and scores["nspdk"] == 0.01 and scores["uniqueness"] == 1.0
    assert scores["novelty"] == pytest.approx(2 / 3)


def test_cli_outputs_and_training_flags_are_checked_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert main(["molgen", "sample", "--out", str(tmp_path / "afile" / "m.smi")]) == 2
    assert "--out: cannot create the folder" in capsys.readouterr().err
    assert main(["molgen", "sample", "--out", str(tmp_path / "m.smi"), "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    for flag, value in (("--epochs", "0"), ("--lr", "-1")):
        assert main(["molgen", "train", "--checkpoint", str(tmp_path / "c.pt"), flag, value]) == 2
        assert flag in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["molgen", "train", "--checkpoint", str(tmp_path / "c.pt"), "--threads", "-1"])
    assert "--threads must be a positive int, got -1 (or auto)" in capsys.readouterr().err


def test_a_checkpoint_whose_weights_do_not_fit_its_config_is_named(tmp_path):
    from sheafgraph.utils import save_checkpoint
    state = load_checkpoint(PRETRAINED)
    state["model_config"] = {**state["model_config"], "num_features": 7}
    save_checkpoint(state, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"odd\.pt: its weights do not fit its model config \(Error"):
        load_generator(tmp_path / "odd.pt")
    state.pop("sde_config")
    save_checkpoint(state, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match=r"partial\.pt is not a GDSS checkpoint: missing \['sde_config'\]"):
        load_generator(tmp_path / "partial.pt")
