"""Air-quality data layer: PRSA Beijing loader, wind vectors, station graph, forecasting windows, KnowAir layout,
AirPhyNet layout."""
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from sheafgraph.data import (ChannelScaler, ForecastWindows, chronological_split, forecast_windows, gaussian_kernel,
                             load_knowair, load_prsa_beijing, station_graph, wind_vector)
from sheafgraph.data.airphynet import AIRPHYNET_CHANNELS, ArrayWindows, airphynet_windows, load_airphynet
from sheafgraph.data.prsa import wind_from_degrees
from sheafgraph.data.knowair import KNOWAIR_CHANNELS
from sheafgraph.data.prsa import PRSA_CHANNELS, PRSA_STATIONS
from tests.conftest import SHARED_DATA

SHARED = SHARED_DATA
AIR = SHARED / "air"
HOURS_PER_STATION = 35_064          # SOURCES.md: hourly rows per station, 2013-03-01 00:00 .. 2017-02-28 23:00
STEPS = HOURS_PER_STATION // 3      # 11,688 three-hour blocks

needs_prsa = pytest.mark.skipif(not (AIR / "prsa_beijing").is_dir(),
                                reason=f"shared PRSA data not found at {AIR / 'prsa_beijing'}")


@pytest.fixture(scope="module")
def prsa():
    if not (AIR / "prsa_beijing").is_dir():
        pytest.skip(f"shared PRSA data not found at {AIR / 'prsa_beijing'}")
    return load_prsa_beijing(SHARED)


def raw_station(name):
    """The station CSV read independently of the loader (any non-numeric field -> NaN)."""
    raw = pd.read_csv(AIR / "prsa_beijing" / f"PRSA_Data_{name}_20130301-20170228.csv", low_memory=False)
    raw.index = pd.to_datetime(raw[["year", "month", "day", "hour"]])
    return raw


# ---------------------------------------------------------------------------------------------------- wind vector

def test_wind_vector_points_downwind():
    uv = wind_vector(["N", "E", "S", "W", "SW", "NNE"], [2.0, 3.0, 1.0, 1.5, np.sqrt(2.0), 1.0])
    expected = [[0, -2], [-3, 0], [0, 1], [1.5, 0], [1, 1],
                [-np.sin(np.pi / 8), -np.cos(np.pi / 8)]]    # NNE = 22.5 deg: blows toward SSW
    np.testing.assert_allclose(uv, expected, atol=1e-12)


def test_wind_vector_missing_and_calm():
    uv = wind_vector(np.array([[None, "N"], [np.nan, "E"]], dtype=object), np.array([[0.0, np.nan], [1.2, 0.0]]))
    assert uv.shape == (2, 2, 2)
    np.testing.assert_array_equal(uv[0, 0], [0.0, 0.0])       # calm: zero speed, direction not reported
    assert np.isnan(uv[0, 1]).all() and np.isnan(uv[1, 0]).all()
    np.testing.assert_array_equal(uv[1, 1], [0.0, 0.0])


def test_wind_from_degrees_matches_compass_and_drops_codes():
    np.testing.assert_array_equal(wind_from_degrees([0.0, 90.0, 202.5], [2.0, 3.0, 1.0]),
                                  wind_vector(["N", "E", "SSW"], [2.0, 3.0, 1.0]))
    uv = wind_from_degrees([999017.0, 999017.0, np.nan, -5.0], [1.0, 0.0, 2.0, 1.0])
    assert np.isnan(uv[[0, 2, 3]]).all() and uv[1].tolist() == [0.0, 0.0]     # a code is missing; calm stays 0
    with pytest.raises(ValueError, match="same shape"):
        wind_from_degrees([0.0, 1.0], [1.0])


def test_wind_vector_bad_input():
    with pytest.raises(ValueError, match="unknown wind directions.*'X'.*NNW"):
        wind_vector(["N", "X"], [1.0, 1.0])
    with pytest.raises(ValueError, match="same shape"):
        wind_vector(["N", "E"], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        wind_vector(["N"], [-1.0])


# ---------------------------------------------------------------------------------------------------- PRSA loader

def test_prsa_shapes_and_time_axis(prsa):
    assert prsa.values.shape == (STEPS, 12, 13) and prsa.values.dtype == torch.float32
    assert prsa.mask.dtype == torch.bool and prsa.wind.shape == (STEPS, 12, 2)
    assert prsa.channels == PRSA_CHANNELS and prsa.channels[0] == "PM2.5"
    assert prsa.stations == tuple(PRSA_STATIONS)
    assert prsa.timestamps[0] == np.datetime64("2013-03-01T00:00")
    assert prsa.timestamps[-1] == np.datetime64("2017-02-28T21:00")
    assert (np.diff(prsa.timestamps) == np.timedelta64(3, "h")).all()
    assert prsa.lon.dtype == torch.float64 and prsa.lat.shape == (12,)
    i = prsa.stations.index("Changping")                       # "pingchang_aq" in the KDD file
    assert (float(prsa.lon[i]), float(prsa.lat[i])) == (116.23, 40.217)


@needs_prsa
def test_prsa_hourly_rows_from_env_root(monkeypatch):
    monkeypatch.setenv("SHEAFGRAPH_DATA", str(SHARED))
    hourly = load_prsa_beijing(stations=["Dongsi"], step_hours=1)
    assert hourly.values.shape == (HOURS_PER_STATION, 1, 13)
    raw = raw_station("Dongsi")
    np.testing.assert_array_equal(hourly.values[:, 0, 0].numpy(), raw["PM2.5"].to_numpy(np.float32))


def test_prsa_block_means_match_pandas_resample(prsa):
    name = "Aotizhongxin"                                      # its SO2 column holds a blank " " field
    raw = raw_station(name)
    measured = raw[list(PRSA_CHANNELS[:11])].apply(pd.to_numeric, errors="coerce")
    ref = measured.resample("3h").mean().to_numpy()            # mean of the observed hours, NaN if none
    got = prsa.values[:, prsa.stations.index(name), :11].double().numpy()
    assert ref.shape == got.shape == (STEPS, 11)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9, equal_nan=True)
    assert np.isnan(ref[:, 0]).sum() == 208                    # missing 3-hour PM2.5 blocks at this station


def test_prsa_wind_is_block_mean_of_vectors(prsa):
    name = "Shunyi"
    raw = raw_station(name)
    angle = {d: 22.5 * i for i, d in enumerate("N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split())}
    theta = np.deg2rad(raw["wd"].map(angle).astype(float))
    toward = pd.DataFrame({"u": -raw["WSPM"] * np.sin(theta), "v": -raw["WSPM"] * np.cos(theta)})
    toward[raw["WSPM"] == 0] = 0.0
    ref = toward.resample("3h").mean().to_numpy()
    got = prsa.wind[:, prsa.stations.index(name)].double().numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, equal_nan=True)
    speed = prsa.values[:, prsa.stations.index(name), PRSA_CHANNELS.index("WSPM")].double().numpy()
    full = (raw["wd"].notna() & raw["WSPM"].notna()).resample("3h").sum().to_numpy() == 3
    assert full.sum() > 11_000                                 # blocks with a direction reported every hour
    assert (np.hypot(*got[full].T) <= speed[full] + 1e-5).all()   # there: |mean vector| <= mean speed


def test_prsa_mask_is_nan_pattern_and_nothing_zero_filled(prsa):
    assert torch.equal(prsa.mask, ~torch.isnan(prsa.values))
    missing = 1 - prsa.mask[..., 0].double().mean().item()
    assert 0.005 < missing < 0.02                              # measured 0.0113 (3-hour blocks, all stations)
    # Zeros only where the data has them: PM2.5 is never below 2 ug/m3, so no block mean can be 0.
    assert not bool((prsa.values[..., 0] == 0).any())
    raw = raw_station("Wanliu")
    zeros_ref = (raw[["RAIN"]].resample("3h").mean() == 0).to_numpy().sum()
    assert int((prsa.values[:, prsa.stations.index("Wanliu"), PRSA_CHANNELS.index("RAIN")] == 0).sum()) == zeros_ref


@needs_prsa
def test_prsa_bad_input(tmp_path):
    with pytest.raises(ValueError, match="Aotizhongxin.*Wanshouxigong"):
        load_prsa_beijing(SHARED, stations=["Dongsi", "Chaoyang"])
    with pytest.raises(FileNotFoundError, match="station.csv.*KDD Cup 2018"):
        load_prsa_beijing(tmp_path)
    (tmp_path / "air" / "kdd2018_beijing").mkdir(parents=True)
    shutil.copy(AIR / "kdd2018_beijing" / "station.csv", tmp_path / "air" / "kdd2018_beijing")
    with pytest.raises(FileNotFoundError, match="PRSA_Data_Dongsi_20130301-20170228.csv.*archive.ics.uci.edu"):
        load_prsa_beijing(tmp_path, stations=["Dongsi"])
    raw = pd.read_csv(AIR / "prsa_beijing" / "PRSA_Data_Dongsi_20130301-20170228.csv")
    raw["PM2.5"] = np.nan
    (tmp_path / "air" / "prsa_beijing").mkdir()
    raw.to_csv(tmp_path / "air" / "prsa_beijing" / "PRSA_Data_Dongsi_20130301-20170228.csv", index=False)
    with pytest.raises(ValueError, match="sha256"):
        load_prsa_beijing(tmp_path, stations=["Dongsi"])
    with pytest.raises(ValueError, match="Dongsi.*no observed PM2.5"):
        load_prsa_beijing(tmp_path, stations=["Dongsi"], verify=False)


# ---------------------------------------------------------------------------------------------------- station graph

def haversine_km(lon1, lat1, lon2, lat2):
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def test_station_graph_threshold(prsa):
    g = prsa.graph
    row, col = g.edge_index
    assert g.edge_index.shape == (2, 70) and not bool((row == col).any())    # 35 station pairs within 30 km
    pairs = set(zip(row.tolist(), col.tolist()))
    assert all((j, i) in pairs for i, j in pairs)
    lon, lat = prsa.lon.numpy(), prsa.lat.numpy()
    ref = haversine_km(lon[row], lat[row], lon[col], lat[col])
    np.testing.assert_allclose(g.distance_km.numpy(), ref, rtol=5e-3)
    assert float(g.distance_km.max()) <= 30.0
    all_pairs = haversine_km(lon[:, None], lat[:, None], lon[None], lat[None])
    assert ((all_pairs <= 29.5) & ~np.eye(12, dtype=bool)).sum() <= 70 <= ((all_pairs <= 30.5).sum() - 12)
    sigma = float(g.distance_km.mean())
    torch.testing.assert_close(g.edge_weight, torch.exp(-g.distance_km ** 2 / (2 * sigma ** 2)))
    # 30 km connects all 12 stations (Huairou-Shunyi 22.5 km, Shunyi-Aotizhongxin 27.2 km)
    reach = {0}
    for _ in range(12):
        reach |= {j for i, j in pairs if i in reach}
    assert reach == set(range(12))


def test_station_graph_knn(prsa):
    g = station_graph(prsa.lon, prsa.lat, method="knn", k=2)
    row, col = g.edge_index
    pairs = set(zip(row.tolist(), col.tolist()))
    assert all((j, i) in pairs for i, j in pairs) and not bool((row == col).any())
    deg = torch.bincount(row, minlength=12)
    assert int(deg.min()) >= 2
    # Dingling's 2 nearest: Changping (8.4 km) and Wanliu (34.4 km)
    s = prsa.stations
    assert {int(j) for i, j in pairs if i == s.index("Dingling")} >= {s.index("Changping"), s.index("Wanliu")}
    with pytest.raises(ValueError, match=r"k must be an int in 1..11 \(for 12 stations\), got 12"):
        station_graph(prsa.lon, prsa.lat, method="knn", k=12)
    with pytest.raises(ValueError, match=r"threshold_km must be a finite number in \(0.0, inf\], got -1"):
        station_graph(prsa.lon, prsa.lat, threshold_km=-1)
    with pytest.raises(ValueError, match="unknown graph method 'radius'; valid names: threshold, knn"):
        station_graph(prsa.lon, prsa.lat, method="radius")
    with pytest.raises(ValueError, match="no pair"):
        station_graph(prsa.lon, prsa.lat, threshold_km=1.0)


def test_gaussian_kernel():
    d = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(gaussian_kernel(d, sigma_km=2.0), torch.exp(-d ** 2 / 8))
    with pytest.raises(ValueError, match=r"sigma_km must be a finite number in \(0.0, inf\], got 0.0"):
        gaussian_kernel(d, sigma_km=0.0)


# ---------------------------------------------------------------------------------------------------- windows

def test_chronological_split_sizes():
    r = chronological_split(STEPS)
    assert [(s.start, s.stop) for s in r.values()] == [(0, 8181), (8181, 9350), (9350, STEPS)]
    sizes = np.array([s.stop - s.start for s in r.values()])
    np.testing.assert_allclose(sizes / STEPS, [0.7, 0.1, 0.2], atol=1e-3)


def test_scaler_is_fitted_on_training_steps_only(prsa):
    windows, scaler = forecast_windows(prsa)
    train = prsa.values[:8181].double().numpy().reshape(-1, 13)
    np.testing.assert_allclose(scaler.mean.numpy(), np.nanmean(train, axis=0), rtol=1e-9)
    np.testing.assert_allclose(scaler.std.numpy(), np.nanstd(train, axis=0), rtol=1e-9)
    full = ChannelScaler.fit(prsa.values, prsa.mask)
    assert float(scaler.mean[2] - full.mean[2]) > 1.5          # SO2 fell over 2013-2017: train mean 17.8, all 15.9
    assert not np.allclose(full.std.numpy(), scaler.std.numpy(), rtol=1e-2)
    x = prsa.values[:10]
    torch.testing.assert_close(scaler.inverse_transform(scaler.transform(x)), x, equal_nan=True)
    torch.testing.assert_close(scaler.inverse_transform_target(scaler.transform(x)[..., 0]), x[..., 0], equal_nan=True)
    with pytest.raises(ValueError, match="no observed value"):
        ChannelScaler.fit(prsa.values[:4], torch.zeros(4, 12, 13, dtype=torch.bool))


def test_windows_stay_inside_their_split(prsa):
    windows, scaler = forecast_windows(prsa)
    assert [len(windows[s]) for s in ("train", "val", "test")] == [8181 - 47, 1169 - 47, 2338 - 47]
    assert windows["train"][-1].start + 48 == 8181 and windows["val"][0].start == 8181
    assert windows["test"][-1].start + 48 == STEPS
    w = windows["val"][5]
    t0 = 8181 + 5
    assert w.start == t0 and w.x_in.shape == (24, 12, 13) and w.y_out.shape == (24, 12)
    assert w.hour == 6.0                              # origin = step t0 + 24 = 8210, 3-hour steps from 00:00
    torch.testing.assert_close(w.x_in, scaler.transform(prsa.values[t0:t0 + 24]), equal_nan=True)
    torch.testing.assert_close(scaler.inverse_transform_target(w.y_out), prsa.values[t0 + 24:t0 + 48, :, 0],
                               equal_nan=True)
    assert torch.equal(w.mask_out, prsa.mask[t0 + 24:t0 + 48, :, 0])
    assert torch.equal(torch.isnan(w.x_in), ~w.mask_in)
    torch.testing.assert_close(w.wind_out, prsa.wind[t0 + 24:t0 + 48], equal_nan=True)
    batch = next(iter(torch.utils.data.DataLoader(windows["test"], batch_size=4)))
    assert batch.x_in.shape == (4, 24, 12, 13) and batch.wind_in.shape == (4, 24, 12, 2)
    assert batch.start.tolist() == [9350, 9351, 9352, 9353]
    assert batch.hour.tolist() == [18.0, 21.0, 0.0, 3.0]


def test_window_longer_than_series(prsa):
    with pytest.raises(ValueError, match="longer than the series"):
        forecast_windows(prsa, input_steps=STEPS, output_steps=1)
    with pytest.raises(ValueError, match="does not fit in the range"):
        ForecastWindows(prsa, slice(0, 40))
    for name in ("input_steps", "output_steps", "stride"):
        with pytest.raises(ValueError, match=f"{name} must be a positive int, got 0"):
            ForecastWindows(prsa, slice(0, 400), **{name: 0})
    with pytest.raises(ValueError, match="step_hours must be a positive int, got 1.5"):
        load_prsa_beijing(SHARED, step_hours=1.5)


# ---------------------------------------------------------------------------------------------------- KnowAir layout

@pytest.fixture
def knowair_root(tmp_path):
    if not (AIR / "knowair_graph").is_dir():
        pytest.skip(f"shared KnowAir graph not found at {AIR / 'knowair_graph'}")
    shutil.copytree(AIR / "knowair_graph", tmp_path / "air" / "knowair_graph",
                    ignore=shutil.ignore_patterns("altitude.npy"))
    (tmp_path / "air" / "knowair").mkdir()
    return tmp_path


def test_knowair_layout_round_trip(knowair_root):
    # The 309 MB KnowAir series is not available here: a small array in its layout, PM2.5 last.
    array = np.random.default_rng(0).normal(size=(40, 184, 18)).astype(np.float32)
    array[3, 5, -1] = np.nan
    array[7, 2, 0] = np.inf
    np.save(knowair_root / "air" / "knowair" / "KnowAir.npy", array)
    data = load_knowair(knowair_root)
    assert data.values.shape == (40, 184, 18) and data.channels == KNOWAIR_CHANNELS
    np.testing.assert_array_equal(data.values[..., 0].numpy(), array[..., -1])
    expected = array[..., :-1].copy()
    expected[7, 2, 0] = np.nan
    np.testing.assert_array_equal(data.values[..., 1:].numpy(), expected)
    assert torch.equal(data.mask, ~torch.isnan(data.values)) and int((~data.mask).sum()) == 2
    np.testing.assert_array_equal(data.wind.numpy(), array[..., 13:15])    # u, v at 950 hPa
    assert data.stations[0] == "Beijing" and abs(float(data.lon[0]) - 116.39825) < 1e-9
    assert data.timestamps[1] - data.timestamps[0] == np.timedelta64(3, "h")
    assert data.timestamps[0] == np.datetime64("2015-01-01T00:00")
    with np.load(knowair_root / "air" / "knowair_graph" / "graph_data.npz") as z:
        edges, attr = z["edge_index"], z["edge_attr"]
    assert data.graph.edge_index.shape == (2, 3834)
    np.testing.assert_array_equal(data.graph.edge_index.numpy(), edges.T)
    np.testing.assert_array_equal(data.graph.distance_km.numpy(), attr[:, 1])
    windows, _ = forecast_windows(data, input_steps=2, output_steps=1)
    assert [len(w) for w in windows.values()] == [26, 2, 6]


def test_knowair_bad_input(knowair_root):
    with pytest.raises(FileNotFoundError, match="KnowAir.npy.*PM2.5-GNN"):
        load_knowair(knowair_root)
    np.save(knowair_root / "air" / "knowair" / "KnowAir.npy", np.zeros((5, 184, 17), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(T, 184, 18\)"):
        load_knowair(knowair_root)


# ---------------------------------------------------------------------------------------------------- AirPhyNet layout

STATION_LON = [116.40, 116.45, 116.30, 116.42]
STATION_LAT = [39.90, 39.95, 39.88, 40.02]


def write_airphynet_folder(folder, sizes=(12, 4, 5), steps=(4, 3), stations=4, seed=0):
    """Write a tiny folder in the AirPhyNet layout: {train,val,test}.npz with x (S, T_in, N, 6), y (S, T_out, N, 6)
    (PM2.5, temperature, pressure, humidity, wind speed m/s, wind direction degrees) and station.csv."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in zip(("train", "val", "test"), sizes):
        pair = {}
        for key, t in zip(("x", "y"), steps):
            a = np.stack([rng.uniform(5, 300, (count, t, stations)), rng.normal(10, 8, (count, t, stations)),
                          rng.normal(1010, 10, (count, t, stations)), rng.uniform(10, 90, (count, t, stations)),
                          rng.uniform(0, 6, (count, t, stations)), rng.uniform(0, 360, (count, t, stations))], -1)
            pair[key] = a.astype(np.float32)
        np.savez(folder / f"{split}.npz", **pair)
        arrays[split] = pair
    pd.DataFrame({"station": [f"s{i}_aq" for i in range(stations)], "longitude": STATION_LON[:stations],
                  "latitude": STATION_LAT[:stations]}).to_csv(folder / "station.csv", index=False)
    return arrays


def test_airphynet_layout_round_trip(tmp_path):
    folder = tmp_path / "beijing"
    arrays = write_airphynet_folder(folder)
    x = arrays["train"]["x"]
    x[0, 1, 2, 0] = 0.0                                    # zero-filled PM2.5 gap: missing
    x[0, 2, 1, 3] = np.nan                                 # missing humidity
    x[1, 0, 0, 4:] = [2.0, 0.0]                            # a 2 m/s north wind blows toward the south
    x[1, 0, 1, 4:] = [0.0, 999017.0]                       # calm with a 'variable' code: velocity 0
    x[1, 0, 2, 4:] = [3.0, 999017.0]                       # 'variable' direction at 3 m/s: velocity missing
    np.savez(folder / "train.npz", **arrays["train"])
    data = load_airphynet(folder)
    assert data.channels == AIRPHYNET_CHANNELS + ("wind_u", "wind_v") and data.wind_channels == (6, 7)
    assert data.stations == ("s0_aq", "s1_aq", "s2_aq", "s3_aq") and data.step_hours == 3.0
    assert data.x["train"].shape == (12, 4, 4, 8) and data.y["test"].shape == (5, 3, 4, 8)
    assert (data.input_steps, data.output_steps) == (4, 3)
    got = data.x["train"]
    assert torch.isnan(got[0, 1, 2, 0]) and torch.isnan(got[0, 2, 1, 3])
    assert int(torch.isnan(got[..., :6]).sum()) == 2                              # nothing else is missing
    expected = x.copy()
    expected[..., 0][expected[..., 0] < 1e-4] = np.nan
    np.testing.assert_array_equal(got[..., :6].numpy(), expected)                  # NaN where missing, else as read
    torch.testing.assert_close(got[1, 0, 0, 6:], torch.tensor([0.0, -2.0]), atol=1e-6, rtol=0)
    assert got[1, 0, 1, 6:].tolist() == [0.0, 0.0] and torch.isnan(got[1, 0, 2, 6:]).all()
    expected = wind_from_degrees(arrays["val"]["y"][..., 5], arrays["val"]["y"][..., 4])
    np.testing.assert_allclose(data.y["val"][..., 6:].numpy(), expected, rtol=1e-6, atol=1e-5)
    lon, lat = torch.tensor(STATION_LON, dtype=torch.float64), torch.tensor(STATION_LAT, dtype=torch.float64)
    assert torch.equal(data.graph.edge_index, station_graph(lon, lat).edge_index)
    # windows: one scaler fitted on the observed training inputs, target scaled, wind unscaled, no clock
    windows, scaler = airphynet_windows(data, train_stride=5)
    assert [len(windows[s]) for s in ("train", "val", "test")] == [3, 4, 5]
    full = got.reshape(-1, 8)
    np.testing.assert_allclose(scaler.mean.numpy(), np.nanmean(full.double().numpy(), 0), rtol=1e-9)
    w = windows["train"][1]                                 # file window 5
    assert w.start == 5 and np.isnan(w.hour)
    torch.testing.assert_close(w.x_in, scaler.transform(got[5]), equal_nan=True)
    torch.testing.assert_close(scaler.inverse_transform_target(windows["test"][2].y_out), data.y["test"][2, ..., 0])
    assert torch.equal(w.mask_in, ~torch.isnan(got[5])) and w.wind_out.shape == (3, 4, 2)
    torch.testing.assert_close(windows["val"][-1].wind_in, data.x["val"][3, ..., 6:], equal_nan=True)
    batch = next(iter(torch.utils.data.DataLoader(windows["val"], batch_size=4)))
    assert batch.x_in.shape == (4, 4, 4, 8) and batch.y_out.shape == (4, 3, 4) and batch.start.tolist() == [0, 1, 2, 3]
    with pytest.raises(IndexError, match="window 5 out of range for 5 windows"):
        windows["test"][5]
    with pytest.raises(ValueError, match="unknown split 'dev'; valid names: train, val, test"):
        ArrayWindows(data, "dev", scaler)
    with pytest.raises(ValueError, match="stride must be a positive int, got 0"):
        ArrayWindows(data, "val", scaler, stride=0)


def test_airphynet_default_folder_and_options(tmp_path, monkeypatch):
    write_airphynet_folder(tmp_path / "air" / "airphynet", stations=3)
    monkeypatch.setenv("SHEAFGRAPH_DATA", str(tmp_path))
    data = load_airphynet(missing_below=None, step_hours=1.0, graph_method="knn", k=1)
    assert data.num_stations == 3 and data.step_hours == 1.0 and data.pos_km.shape == (3, 2)
    renamed = load_airphynet(tmp_path / "air" / "airphynet", channels=("pm", "t", "p", "h", "ws", "wd"),
                             wind=("ws", "wd"))
    assert renamed.channels[:2] == ("pm", "t")


def test_airphynet_layout_errors_name_the_file(tmp_path):
    folder = tmp_path / "shenzhen"
    with pytest.raises(FileNotFoundError, match=r"shenzhen/station.csv not found; the AirPhyNet layout"):
        load_airphynet(folder)
    arrays = write_airphynet_folder(folder)
    (folder / "test.npz").unlink()
    with pytest.raises(FileNotFoundError, match="shenzhen/test.npz not found"):
        load_airphynet(folder)
    np.savez(folder / "test.npz", x=arrays["test"]["x"])
    with pytest.raises(ValueError, match=r"test.npz has no array 'y' \(it holds x\)"):
        load_airphynet(folder)
    np.savez(folder / "test.npz", x=arrays["test"]["x"], y=arrays["test"]["y"][:4])
    with pytest.raises(ValueError, match="test.npz: x has 5 windows but y has 4"):
        load_airphynet(folder)
    np.savez(folder / "test.npz", x=arrays["test"]["x"][:, :, :3], y=arrays["test"]["y"])
    with pytest.raises(ValueError, match=r"test.npz: x must have shape \(S, T, 4, 6\) for the 4 stations of "
                                         r"station.csv .* got \(5, 4, 3, 6\)"):
        load_airphynet(folder)
    np.savez(folder / "test.npz", x=arrays["test"]["x"][:, :2], y=arrays["test"]["y"])
    with pytest.raises(ValueError, match=r"the x windows differ in length between splits: \{'train': 4, 'val': 4, "
                                         r"'test': 2\}"):
        load_airphynet(folder)
    np.savez(folder / "test.npz", **arrays["test"])
    with pytest.raises(ValueError, match=r"wind channels \['wd'\] are not among channels"):
        load_airphynet(folder, wind=("wind_speed", "wd"))
    pd.DataFrame({"station": ["a", "b", "c", "d"], "lon": [116.0] * 4, "latitude": [40.0] * 4}).to_csv(
        folder / "station.csv", index=False)
    with pytest.raises(ValueError, match="station.csv has no column 'longitude'; expected columns station, "
                                         "longitude, latitude, got station, lon, latitude"):
        load_airphynet(folder)
    pd.DataFrame({"station": ["a", "a", "c", "d"], "longitude": [116.0] * 4, "latitude": [40.0] * 4}).to_csv(
        folder / "station.csv", index=False)
    with pytest.raises(ValueError, match="must list each station once"):
        load_airphynet(folder)
