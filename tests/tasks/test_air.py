"""The air-quality task end to end on a slice of the real PRSA Beijing data: a short AirPhyNet run beats
persistence 72 h ahead, the CLI writes JSON and a PNG, baselines run, bad arguments fail cleanly."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sheafgraph.cli import main
import torch

from tests.data.test_air import write_airphynet_folder

import sheafgraph.tasks.air as air_cli
from sheafgraph.physics.checkpoints import load_forecaster
from sheafgraph.physics.experiment import load_air_data, prepare_experiment, run_air
from sheafgraph.physics.inference import forecast_from_csv, latest_window
from sheafgraph.physics.plots import forecast_figure
from sheafgraph.physics.recipes import MODELS, AirConfig, model_label
from sheafgraph.physics.seeds import parse_seeds
from sheafgraph.physics.training import evaluate, sample_generator, train_model
from sheafgraph.utils import load_checkpoint, save_checkpoint

#: end-to-end runs on real data, seconds each: the quick loop (-m 'not slow') leaves them out
pytestmark = pytest.mark.slow

SLICE = 1200                 # first 150 days (3-hour steps): 840 train / 120 val / 240 test steps
SMALL = ["--steps", str(SLICE), "--train-stride", "2", "--batch-size", "64", "--hidden-dim", "16", "--latent-dim",
         "8", "--ode-hidden-dim", "8", "--no-progress"]


@pytest.fixture
def root(shared_data):
    if not (shared_data / "air" / "prsa_beijing").is_dir():
        pytest.skip("PRSA Beijing data not in the shared data folder")
    return str(shared_data)


def test_short_training_beats_persistence_at_72h(root, tmp_path):
    out, png = tmp_path / "run.json", tmp_path / "plot.png"
    rc = main(["air", "--root", root, "--model", "diff_adv", "--epochs", "4", "--lr", "1e-2", "--seed", "0",
               "--json", str(out), "--plot", str(png), "--station", "Dongsi", *SMALL])
    assert rc == 0
    result = json.loads(out.read_text())
    test = result["test"]
    assert result["epochs_run"] == 4 and len(result["history"]) == 4
    assert list(test["headline"]) == ["24h", "48h", "72h"] and len(test["by_horizon"]) == 24
    assert len(test["by_station"]) == 12 and "Dongsi" in test["by_station"]
    assert test["count"] > 0.9 * 193 * 24 * 12                  # 193 test windows x 24 steps x 12 stations
    assert test["nfe"] == 96                                      # rk4, one 3-hour step per output step
    assert set(result["physics"]) == {"k", "diffusion_gate", "alpha", "advection_gate"}
    persistence_72h = result["reference"]["persistence"]["72h"]["mae"]
    assert test["headline"]["72h"]["mae"] < persistence_72h
    assert 10 < test["mae"] < 200                                 # ug/m3: a sane scale, not scaled units
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_baselines_in_the_same_runner(root):
    results = {m: run_air(AirConfig(root=root, model=m, steps=SLICE, epochs=1, hidden_dim=8, show_progress=False),
                          log=lambda s: None) for m in ("persistence", "historical_average", "gru")}
    p = results["persistence"]["test"]
    assert p["headline"] == results["persistence"]["reference"]["persistence"]
    assert p["nfe"] == 0 and results["persistence"]["epochs_run"] == 0
    # persistence error grows with the horizon on PM2.5
    assert p["headline"]["3h" if "3h" in p["headline"] else "24h"]["mae"] < p["headline"]["72h"]["mae"]
    assert p["by_horizon"]["3h"]["mae"] < p["by_horizon"]["72h"]["mae"]
    assert results["gru"]["epochs_run"] == 1
    for r in results.values():
        assert 5 < r["test"]["mae"] < 200


def test_clock_readout_and_dropout_options_run_end_to_end(root, tmp_path):
    out = tmp_path / "run.json"
    assert main(["air", "--root", root, "--model", "diff_adv", "--clock", "--readout", "--dropout", "0.1",
                 "--epochs", "1", "--steps", str(SLICE), "--hidden-dim", "8", "--no-progress", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["clock"] is True and result["config"]["readout"] is True
    assert result["config"]["dropout"] == 0.1
    assert 5 < result["test"]["mae"] < 200
    exp = prepare_experiment(AirConfig(root=root, model="diff_adv", steps=SLICE, clock=True, readout=True,
                                       dropout=0.2))
    assert exp.model.func.lin_clock is not None and exp.model.readout is not None
    assert exp.model.readout.out_features == 24 and exp.model.dropout.p == 0.2


def test_weight_average_is_what_is_validated_and_kept(root):
    def trained(ema):
        exp = prepare_experiment(AirConfig(root=root, model="gru", steps=SLICE, epochs=2, patience=2, hidden_dim=8,
                                           ema=ema, show_progress=False))
        history = train_model(exp.model, exp.loaders, exp.graph, exp.scaler, exp.config, exp.generator, lambda s: 0)
        return exp, history
    plain, plain_history = trained(0.0)
    averaged, history = trained(0.9)
    # the average does not change training (same train losses) but is what gets validated, kept and returned
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in plain_history]
    assert [h["val_mae"] for h in history] != [h["val_mae"] for h in plain_history]
    best = min(h["val_mae"] for h in history)
    val, _ = evaluate(averaged.model, averaged.loaders["val"], averaged.graph, averaged.scaler)
    assert val.mae == pytest.approx(best)
    assert not torch.equal(averaged.model.head.weight, plain.model.head.weight)
    with pytest.raises(ValueError, match=r"ema must be a finite number in \[0.0, 1.0\)"):
        AirConfig(ema=1.0)


def test_hour_of_day_and_slice(root):
    data = load_air_data("prsa", root, stations=["Dongsi", "Tiantan"], steps=16)
    assert data.values.shape == (16, 2, 13) and data.stations == ("Dongsi", "Tiantan")
    assert data.hour_of_day.tolist() == [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0] * 2


def test_bad_arguments_fail_cleanly(root, capsys):
    with pytest.raises(SystemExit):
        main(["air", "--model", "transformer"])
    assert "invalid choice: 'transformer'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown model 'transformer'; valid names: persistence, historical_average, "
                                         "gru, diff, adv, diff_adv, nophy"):
        AirConfig(model="transformer")
    assert tuple(MODELS) == ("persistence", "historical_average", "gru", "diff", "adv", "diff_adv", "nophy")
    assert main(["air", "--root", root, "--model", "persistence", "--steps", "600", "--station", "Atlantis",
                 "--no-progress"]) == 2
    assert "unknown station 'Atlantis'; stations: Aotizhongxin" in capsys.readouterr().err
    assert main(["air", "--root", root, "--model", "persistence", "--steps", "400", "--no-progress"]) == 2
    assert "a window of 24 + 24 steps does not fit" in capsys.readouterr().err
    assert main(["air", "--root", root, "--model", "persistence", "--stations", "Dongsi,Nowhere"]) == 2
    assert "Nowhere" in capsys.readouterr().err
    assert main(["air", "--root", str(root) + "/missing", "--model", "persistence"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["air", "--root", root, "--model", "persistence", "--device", "tpu"]) == 2
    assert "device must be 'cpu', 'cuda' or 'auto', got 'tpu'" in capsys.readouterr().err
    assert main(["air", "--root", root, "--model", "diff_adv", "--dropout", "1.5"]) == 2
    assert "dropout must be a finite number in [0.0, 1.0), got 1.5" in capsys.readouterr().err
    assert main(["air", "--root", root, "--model", "diff_adv", "--samples", "1"]) == 2
    assert "samples must be 0 (point forecasts only) or at least 2, got 1" in capsys.readouterr().err
    assert main(["air", "--root", root, "--model", "gru", "--samples", "8"]) == 2
    assert "samples need a model with a latent distribution (diff, adv, diff_adv, nophy); gru gives point " \
           "forecasts only" in capsys.readouterr().err


def test_sampled_forecasts_score_crps_and_coverage_and_keep_the_point_forecast(root, tmp_path):
    out, plain = tmp_path / "samples.json", tmp_path / "plain.json"
    args = ["air", "--root", root, "--model", "diff", "--epochs", "1", *SMALL]
    assert main([*args, "--samples", "6", "--json", str(out)]) == 0
    assert main([*args, "--json", str(plain)]) == 0
    sampled, point = json.loads(out.read_text()), json.loads(plain.read_text())
    for split in ("val", "test"):
        s, p = sampled[split], point[split]
        assert s["mae"] == p["mae"] and s["by_horizon"]["72h"]["rmse"] == p["by_horizon"]["72h"]["rmse"]
        assert s["samples"] == 6 and "crps" not in p and "samples" not in p
        for h in ("3h", "24h", "72h"):
            v = s["by_horizon"][h]
            assert 0 < v["crps"] < 200                                    # ug/m3, as the MAE
            assert set(v["coverage"]) == {"80%", "90%"}
            assert 0 <= v["coverage"]["80%"] <= v["coverage"]["90%"] <= 1
        assert set(s["headline"]["48h"]) == {"mae", "rmse", "crps", "coverage"}
    assert sampled["test"]["nfe"] == 2 * point["test"]["nfe"]
    # the same weights give the same samples, whatever ran before (a fresh generator per evaluation)
    exp = prepare_experiment(AirConfig(root=root, model="diff", steps=SLICE, epochs=1, hidden_dim=8, samples=4,
                                       show_progress=False))
    first, _ = evaluate(exp.model, exp.loaders["val"], exp.graph, exp.scaler, samples=4, generator=sample_generator(3))
    torch.randn(10)
    second, _ = evaluate(exp.model, exp.loaders["val"], exp.graph, exp.scaler, samples=4, generator=sample_generator(3))
    assert first.crps == second.crps and first.coverage == second.coverage


def test_forecast_figure_labels_dates_variant_and_origin(root):
    config = AirConfig(root=root, model="diff_adv", steps=SLICE, epochs=1, hidden_dim=8, clock=True, dropout=0.1,
                       show_progress=False)
    exp = prepare_experiment(config)
    label = model_label(config)
    assert label == "AirPhyNet diff_adv (wind last, clock, dropout 0.1)"
    fig = forecast_figure(exp.model, exp.data, exp.windows["test"], exp.graph, exp.scaler, "Dongsi", label=label,
                          window=3, samples=4, generator=sample_generator(0))
    top, bottom = fig.axes
    fig.canvas.draw()
    for ax in (top, bottom):
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_visible()]
        assert len(labels) >= 3 and all(labels), "every panel keeps its date labels"
    window = exp.windows["test"][3]
    origin = exp.data.timestamps[window.start + exp.windows["test"].input_steps]
    assert origin == exp.data.timestamps[window.start + 24]
    assert top.get_title() == f"Dongsi: {label}, forecast issued {str(origin)[:16]}"
    assert exp.data.hour_of_day[window.start + 24] == window.hour                # the origin of Window.hour
    assert {"80% interval", "90% interval"} <= {t.get_text() for t in top.get_legend().get_texts()}
    assert model_label(AirConfig(model="diff")) == "AirPhyNet diff"
    assert model_label(AirConfig(model="gru", wind_mode="future")) == "GRU (future wind)"
    assert model_label(AirConfig(model="historical_average")) == "historical average"


def test_threads_default_and_validation(root, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setattr("sheafgraph.utils.device._busy_cores", lambda cores, seconds: 5.0)   # busy: auto gives 1
    assert main(["air", "--root", root, "--model", "persistence", "--steps", "600", "--no-progress"]) == 0
    assert main(["air", "--root", root, "--model", "persistence", "--steps", "600", "--no-progress",
                 "--threads", "3"]) == 0
    assert calls == [1, 3]
    for argv in (["air", "--model", "persistence"], ["air", "evaluate", "--checkpoint", "x.pt"]):
        for bad in ("0", "-2", "1.5", "many"):
            with pytest.raises(SystemExit):
                main(argv + ["--threads", bad])
            assert f"--threads must be a positive int, got {bad if bad[0] in '-0' else repr(bad)} (or auto)" \
                in capsys.readouterr().err


def test_airphynet_layout_runs_end_to_end(tmp_path, capsys):
    folder = tmp_path / "airphynet"
    write_airphynet_folder(folder, sizes=(40, 8, 8), steps=(24, 24))
    out, png = tmp_path / "run.json", tmp_path / "plot.png"
    assert main(["air", "--data", "airphynet", "--root", str(folder), "--model", "diff_adv", "--epochs", "1",
                 "--samples", "3", "--hidden-dim", "8", "--latent-dim", "4", "--ode-hidden-dim", "8", "--no-progress",
                 "--json", str(out), "--plot", str(png), "--station", "s2_aq"]) == 0
    result = json.loads(out.read_text())
    assert result["data"] == "airphynet" and set(result["test"]["by_station"]) == {"s0_aq", "s1_aq", "s2_aq", "s3_aq"}
    assert result["test"]["count"] == 8 * 24 * 4 and result["test"]["samples"] == 3
    assert 0 < result["test"]["headline"]["72h"]["crps"] and png.read_bytes()[:4] == b"\x89PNG"
    assert "airphynet: 4 stations x 8 channels" in capsys.readouterr().out
    exp = prepare_experiment(AirConfig(data="airphynet", root=str(folder), model="gru", wind_mode="future",
                                       hidden_dim=8, show_progress=False))
    fig = forecast_figure(exp.model, exp.data, exp.windows["test"], exp.graph, exp.scaler, "s0_aq", label="GRU")
    assert fig.axes[0].get_title() == "s0_aq: GRU, forecast issued at the end of window 4's input"
    assert fig.axes[1].get_xlabel().startswith("hours after the first window's forecast origin")
    for bad, message in ((["--clock"], "the airphynet layout has no timestamps"),
                         (["--model", "historical_average"], "the airphynet layout has no timestamps"),
                         (["--steps", "100"], "--steps cuts a series"),
                         (["--root", str(tmp_path / "nowhere")], "nowhere/station.csv not found")):
        assert main(["air", "--data", "airphynet", "--root", str(folder), *bad]) == 2
        assert message in capsys.readouterr().err
    short = tmp_path / "short"
    write_airphynet_folder(short, steps=(12, 12))
    assert main(["air", "--data", "airphynet", "--root", str(short)]) == 2
    assert "the files hold windows of 12 -> 12 steps, the run expects input_steps -> output_steps = 24 -> 24" \
        in capsys.readouterr().err


def recent_csvs(root, folder, rows=slice(-100, -5)):
    """PRSA-layout CSVs of the last days of the release (ending 2017-02-28 18:00), named for another date range."""
    folder.mkdir()
    for path in sorted((root / "air" / "prsa_beijing").glob("PRSA_Data_*.csv")):
        station = path.name.split("_")[2]
        pd.read_csv(path, low_memory=False).iloc[rows].to_csv(folder / f"PRSA_Data_{station}_recent.csv", index=False)
    return folder


def test_a_calibrated_run_stores_its_residuals_and_the_forecast_intervals_use_them(root, tmp_path, capsys):
    ckpt = tmp_path / "model.pt"
    assert main(["air", "--root", root, "--model", "diff_adv", "--epochs", "1", "--checkpoint", str(ckpt),
                 "--samples", "4", "--calibrate", *SMALL]) == 0
    state = load_checkpoint(ckpt)
    assert set(state["residuals"]) == {"edges", "quantiles"} and state["residuals"]["quantiles"].shape[:2] == (24, 2)
    csvs = recent_csvs(Path(root), tmp_path / "recent")
    assert main(["air", "forecast", "--checkpoint", str(ckpt), "--csv-dir", str(csvs), "--samples", "8",
                 "--out", str(tmp_path / "f.csv")]) == 0
    assert "intervals calibrated with the checkpoint's validation residuals" in capsys.readouterr().out
    calibrated = forecast_from_csv(str(ckpt), str(csvs), samples=8)[0]
    save_checkpoint({k: v for k, v in state.items() if k != "residuals"}, tmp_path / "raw.pt")
    raw = forecast_from_csv(str(tmp_path / "raw.pt"), str(csvs), samples=8)[0]
    pd.testing.assert_series_equal(calibrated["pm25"], raw["pm25"])               # the point forecast is the same
    width = {name: (t["pm25_high_80"] - t["pm25_low_80"]).mean() for name, t in (("cal", calibrated), ("raw", raw))}
    assert width["cal"] > 2 * width["raw"]                              # residuals widen the latent spread
    assert main(["air", "forecast", "--checkpoint", str(tmp_path / "raw.pt"), "--csv-dir", str(csvs), "--samples",
                 "4", "--out", str(tmp_path / "g.csv")]) == 0
    assert "intervals NOT calibrated" in capsys.readouterr().out


def test_checkpoint_evaluates_again_and_forecasts_from_csvs(root, tmp_path, capsys):
    ckpt, trained, again = tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "again.json"
    assert main(["air", "--root", root, "--model", "diff_adv", "--epochs", "1", "--checkpoint", str(ckpt),
                 "--json", str(trained), *SMALL]) == 0
    state = load_checkpoint(ckpt)                                          # weights_only: tensors and plain data
    assert set(state) == {"model", "config", "epoch", "scaler", "network"} and state["epoch"] == 1
    assert state["network"]["stations"][0] == "Aotizhongxin" and state["network"]["step_hours"] == 3.0
    # evaluate: the same scores as at the end of training, from the checkpoint alone plus the data
    assert main(["air", "evaluate", "--checkpoint", str(ckpt), "--json", str(again), "--no-progress"]) == 0
    first, second = json.loads(trained.read_text()), json.loads(again.read_text())
    assert second["test"] == first["test"] and second["val"] == first["val"] and second["epoch"] == 1
    assert second["reference"] == first["reference"]
    # forecast: the next 24 steps at every station from recent CSVs, with the checkpoint's scaler and graph
    csvs = recent_csvs(Path(root), tmp_path / "recent")
    out, png = tmp_path / "forecast.csv", tmp_path / "forecast.png"
    assert main(["air", "forecast", "--checkpoint", str(ckpt), "--csv-dir", str(csvs), "--samples", "6",
                 "--out", str(out), "--plot", str(png)]) == 0
    assert "forecast issued 2017-02-28 21:00" in capsys.readouterr().out
    table = pd.read_csv(out, parse_dates=["time"])
    assert len(table) == 24 * 12 and set(table["station"]) == set(state["network"]["stations"])
    dongsi = table[table["station"] == "Dongsi"]
    assert dongsi["lead_hours"].tolist() == [3.0 * k for k in range(1, 25)]
    assert dongsi["time"].iloc[0] == pd.Timestamp("2017-02-28 21:00") and dongsi["time"].iloc[-1] == \
        pd.Timestamp("2017-03-03 18:00")
    assert (table["pm25_low_90"] <= table["pm25_low_80"] + 0.01).all()
    assert (table["pm25_low_80"] <= table["pm25_high_80"]).all() and (table["pm25"] > 0).all()
    assert png.read_bytes()[:4] == b"\x89PNG"
    # the table is the model's forecast of the latest window, and reproducible under the seed
    table2, data, fc = forecast_from_csv(str(ckpt), str(csvs), samples=6, seed=0)
    np.testing.assert_allclose(table2.set_index(["station", "lead_hours"]).loc[("Dongsi", 3.0), "pm25"],
                               dongsi["pm25"].iloc[0], atol=0.006)
    window = latest_window(data, fc.scaler)
    assert window.x_in.shape == (1, 24, 12, 13) and float(window.hour[0]) == 21.0
    torch.testing.assert_close(window.x_in[0], fc.scaler.transform(data.values[-24:]), equal_nan=True)
    pd.testing.assert_frame_equal(table2, forecast_from_csv(str(ckpt), str(csvs), samples=6, seed=0)[0])
    assert not table2.equals(forecast_from_csv(str(ckpt), str(csvs), samples=6, seed=1)[0])
    assert list(forecast_from_csv(str(ckpt), str(csvs))[0].columns) == ["time", "station", "lead_hours", "pm25"]
    # errors name what is wrong
    (csvs / "PRSA_Data_Dongsi_recent.csv").unlink()
    assert main(["air", "forecast", "--checkpoint", str(ckpt), "--csv-dir", str(csvs)]) == 2
    assert "has no file matching PRSA_Data_Dongsi_*.csv" in capsys.readouterr().err
    few = recent_csvs(Path(root), tmp_path / "few", slice(-30, None))
    with pytest.raises(ValueError, match="the series has 10 steps of 3 h; a forecast needs the latest 24"):
        forecast_from_csv(str(ckpt), str(few))
    with pytest.raises(ValueError, match="samples must be 0"):
        forecast_from_csv(str(ckpt), str(few), samples=1)
    future = dict(state, config={**state["config"], "wind_mode": "future"})
    save_checkpoint(future, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="observed future wind"):
        forecast_from_csv(str(tmp_path / "future.pt"), str(few))
    save_checkpoint({k: v for k, v in state.items() if k != "network"}, tmp_path / "old.pt")
    assert main(["air", "evaluate", "--checkpoint", str(tmp_path / "old.pt")]) == 2
    assert "has no network: it was not written by sheafgraph air" in capsys.readouterr().err
    assert main(["air", "evaluate", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert isinstance(load_forecaster(str(ckpt)).model, torch.nn.Module)


def test_every_option_is_a_flag_generated_from_the_config(capsys):
    with pytest.raises(SystemExit):
        main(["air", "--help"])
    text = capsys.readouterr().out
    for name in AirConfig.__dataclass_fields__:
        if name not in ("wind_mode", "show_progress"):
            assert f"--{name.replace('_', '-')}" in text, name
    assert "--wind {last,mean,future}" in text and "--wind-mode" not in text
    assert "model (default diff_adv)" in text and "--clock, --no-clock" in text


def test_outputs_are_checked_before_any_work(root, tmp_path, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the outputs were checked")

    for name in ("prepare_experiment", "compare_seeds", "evaluate_checkpoint", "forecast_from_csv"):
        monkeypatch.setattr(air_cli, name, no_work)
    for args, flag in (([], "--json"), ([], "--plot"), ([], "--checkpoint"), (["--seeds", "0-1"], "--json"),
                       (["evaluate", "--checkpoint", "x.pt"], "--json"),
                       (["forecast", "--checkpoint", "x.pt", "--csv-dir", "d"], "--out"),
                       (["forecast", "--checkpoint", "x.pt", "--csv-dir", "d"], "--plot")):
        assert main(["air", "--root", root, *args, flag, str(tmp_path)]) == 2
        assert f"{flag} {tmp_path} is a folder; give a file name" in capsys.readouterr().err


def test_parse_seeds():
    assert parse_seeds("0-9") == list(range(10)) and parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_seeds("0-2, 7") == [0, 1, 2, 7] and parse_seeds("4") == [4]
    for bad, message in (("a", "seeds must look like 0-9, 0,3,5 or 0-4,7, got 'a'"), ("3-1", "runs backwards"),
                         ("0-2,1", "name a seed twice"), ("-1", "seeds must look like")):
        with pytest.raises(ValueError, match=message):
            parse_seeds(bad)


def test_seeds_pair_the_model_with_a_baseline_per_horizon(root, tmp_path, capsys):
    out = tmp_path / "seeds.json"
    args = ["air", "--root", root, "--model", "diff_adv", "--epochs", "1", *SMALL]
    assert main([*args, "--seeds", "0-1", "--baseline", "gru", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "diff_adv - gru: paired MAE differences over 2 seed(s)" in printed and "choose on val" in printed
    result = json.loads(out.read_text())
    assert result["seeds"] == [0, 1] and result["baseline"] == "gru" and result["metric"] == "mae"
    runs = result["runs"]
    for split in ("val", "test"):
        assert list(result["paired"][split]) == ["24h", "48h", "72h", "overall"]
        for h, d in result["paired"][split].items():
            diffs = np.array([r["diff_adv"][split][h] - r["gru"][split][h] for r in runs])
            assert d["n"] == 2 and d["mean"] == pytest.approx(diffs.mean())
            assert d["se"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(2))
    assert runs[0]["diff_adv"]["val"] != runs[1]["diff_adv"]["val"]              # the seeds differ
    # each run is the one a single `sheafgraph air --seed s` makes
    single = run_air(AirConfig(root=root, model="diff_adv", epochs=1, steps=SLICE, train_stride=2, hidden_dim=16,
                               latent_dim=8, ode_hidden_dim=8, seed=1, show_progress=False), log=lambda s: None)
    assert runs[1]["diff_adv"]["val"]["overall"] == single["val"]["mae"]
    assert runs[1]["diff_adv"]["test"]["72h"] == single["test"]["headline"]["72h"]["mae"]
    for bad, message in ((["--seeds", "0-1", "--baseline", "diff_adv"], "--baseline diff_adv is the model itself"),
                         (["--seeds", "0-1", "--checkpoint", str(tmp_path / "c.pt")], "does not go with --seeds"),
                         (["--seeds", "0-1", "--seed", "3"], "does not go with --seed"),
                         (["--seeds", "2-1"], "runs backwards")):
        assert main([*args, *bad]) == 2
        assert message in capsys.readouterr().err


def test_calibration_widens_intervals_towards_their_level(root, tmp_path):
    coverage, ckpt = {}, str(tmp_path / "ck.pt")
    for flag in ("--no-calibrate", "--calibrate"):
        out = tmp_path / f"{flag}.json"
        assert main(["air", "--root", root, "--model", "diff_adv", "--epochs", "1", "--samples", "8", flag,
                     "--json", str(out), "--checkpoint", ckpt, *SMALL]) == 0
        result = json.loads(out.read_text())
        coverage[flag] = result["val"]["coverage"]["80%"]
        assert result["config"]["calibrate"] == (flag == "--calibrate")
        assert ("calibration_check" in result) == (flag == "--calibrate")
    assert coverage["--no-calibrate"] < 0.5 and 0.6 < coverage["--calibrate"] < 0.95
    # the check on validation alone: tables from the first half of its 73 windows, scores on the second half
    check = result["calibration_check"]
    assert (check["fit_windows"], check["check_windows"]) == (36, 37) and list(check["headline"]) == ["24h", "48h",
                                                                                                      "72h"]
    assert coverage["--no-calibrate"] < check["coverage"]["80%"] < check["coverage"]["90%"] and check["crps"] > 0
    # evaluate re-scores the checkpoint: the default bins give the training run's scores, other bins other intervals
    scores = {}
    for name, bins in (("default", []), ("pooled", ["--calibrate-bins", "1"])):
        again = tmp_path / f"{name}.json"
        assert main(["air", "evaluate", "--checkpoint", ckpt, "--samples", "8", "--calibrate", *bins,
                     "--json", str(again), "--no-progress"]) == 0
        scores[name] = json.loads(again.read_text())
    default, pooled = scores["default"], scores["pooled"]
    assert default["test"] == result["test"] and default["calibration_check"] == check
    assert pooled["config"]["calibrate_bins"] == 1 and pooled["test"]["mae"] == result["test"]["mae"]
    assert pooled["test"]["crps"] != result["test"]["crps"] and pooled["calibration_check"]["coverage"] != \
        check["coverage"]
